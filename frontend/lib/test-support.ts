// Helpers shared by the Vitest files (lib/*.test.ts). Not a test file itself: the include
// pattern in vitest.config.mts takes only names ending in .test.ts.
import { vi } from "vitest";
import { saveSession, type Session } from "./session";
import type { Task, User } from "./types";
import type { WebSocketLike } from "./websocket-client";

/** An unsigned JWT with the given payload (the dashboard never verifies signatures). */
export function jwt(payload: object): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64({ alg: "HS256", typ: "JWT" })}.${b64(payload)}.sig`;
}

export const USER: User = { id: "u1", email: "a@example.test", name: "A", created_at: "" };

/** A task of user u1; created_at/updated_at grow with the id (one second apart). */
export function task(id: number, over: Partial<Task> = {}): Task {
  const ts = new Date(Date.UTC(2026, 10, 1, 0, 0, id)).toISOString();
  return {
    id,
    user_id: "u1",
    title: `Task ${id}`,
    description: "",
    completed: false,
    completed_at: null,
    priority: "medium",
    tags: [],
    due_date: null,
    created_at: ts,
    updated_at: ts,
    version: 1,
    ...over,
  };
}

/** Storage in memory: the tests run in node, which has neither localStorage nor sessionStorage. */
export class MemoryStorage {
  private m = new Map<string, string>();
  get length() {
    return this.m.size;
  }
  key(i: number) {
    return [...this.m.keys()][i] ?? null;
  }
  getItem(k: string) {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.m.set(k, String(v));
  }
  removeItem(k: string) {
    this.m.delete(k);
  }
  clear() {
    this.m.clear();
  }
}

/** Fresh in-memory localStorage and sessionStorage (undone by vi.unstubAllGlobals), signed in as `session`. */
export function stubStorageSignedIn(session: Session): void {
  vi.stubGlobal("localStorage", new MemoryStorage());
  vi.stubGlobal("sessionStorage", new MemoryStorage());
  saveSession(session);
}

/** A WebSocket the test plays the server of. */
export class FakeSocket implements WebSocketLike {
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  sent: string[] = [];
  closedByClient = false;
  constructor(
    public url = "",
    public protocols: string[] = [],
  ) {}
  send(data: string) {
    this.sent.push(data);
  }
  close() {
    this.closedByClient = true;
  }
  // server side helpers
  open() {
    this.onopen?.({});
  }
  msg(obj: unknown) {
    this.onmessage?.({ data: typeof obj === "string" ? obj : JSON.stringify(obj) });
  }
  hello(seq: number) {
    this.open();
    this.msg({ type: "hello", seq });
  }
  event(seq: number, id = seq) {
    this.msg({
      type: "task.updated",
      seq,
      event_id: `e${seq}`,
      timestamp: "2026-11-27T00:00:00.000Z",
      data: { task: { id } },
    });
  }
  drop(code = 1006) {
    this.onclose?.({ code });
  }
}
