// Starts the real taskflow binary for the browser tests: TASKFLOW_BIN,
// E2E_DATABASE_URL and FRONTEND_DIR come from scripts/test.sh.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { randomBytes } from "node:crypto";

const OUTPUT = path.join(__dirname, "..", "test-results");

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (scripts/test.sh sets it)`);
  return v;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export class TaskflowServer {
  private proc: ChildProcess | null = null;
  private constructor(
    readonly port: number,
    readonly name: string,
    readonly secret: string,
  ) {}

  // A second server given `peer` shares its JWT secret (and the database):
  // a token from one is good on the other.
  static async start(name: string, peer?: TaskflowServer): Promise<TaskflowServer> {
    const secret = peer?.secret ?? randomBytes(36).toString("base64url");
    const server = new TaskflowServer(await freePort(), name, secret);
    await server.start();
    return server;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  url(p: string): string {
    return this.origin + p;
  }

  async start(): Promise<void> {
    mkdirSync(OUTPUT, { recursive: true });
    const log = createWriteStream(path.join(OUTPUT, `server-${this.name}.log`), { flags: "a" });
    const proc = spawn(required("TASKFLOW_BIN"), ["serve"], {
      env: {
        ...process.env,
        HOST: "127.0.0.1",
        PORT: String(this.port),
        DATABASE_URL: required("E2E_DATABASE_URL"),
        FRONTEND_DIR: required("FRONTEND_DIR"),
        JWT_SECRET: this.secret,
        CORS_ORIGINS: this.origin,
        LOG_LEVEL: "warn",
        THREADS: "2",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    proc.stdout?.pipe(log);
    proc.stderr?.pipe(log);
    this.proc = proc;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`taskflow exited with ${proc.exitCode}`);
      try {
        const r = await fetch(this.url("/health"));
        if (r.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("taskflow did not answer /health within 30 s");
  }

  // SIGTERM and wait: the server must exit 0 (graceful shutdown).
  async stop(): Promise<number | null> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return proc?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
    proc.kill("SIGTERM");
    const code = await exited;
    this.proc = null;
    return code;
  }

  // The REST API from the test itself (to set up or to act "elsewhere").
  async api(method: string, p: string, token?: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(this.url(p), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  }
}
