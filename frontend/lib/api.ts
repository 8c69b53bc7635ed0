/** fetch wrapper for the TaskFlow REST API (docs/api.md). */
import { apiBase } from "./config";
import { clearSession, loadSession } from "./session";
import type {
  ApiErrorBody,
  AuthResponse,
  Task,
  TaskFilters,
  TaskInput,
  TaskPage,
  TaskPatch,
  User,
} from "./types";

/** An error answer of the API (or a network failure: status 0, code "network_error"). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field?: string;
  /** For 409 version_conflict: the task as it is now. */
  readonly current?: Task;
  /** For 429: seconds from Retry-After. */
  readonly retryAfter?: number;

  constructor(
    status: number,
    code: string,
    message: string,
    opts: { field?: string; current?: Task; retryAfter?: number } = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = opts.field;
    this.current = opts.current;
    this.retryAfter = opts.retryAfter;
  }
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

/** Turns a non-2xx response body into an ApiError. */
export function parseApiError(status: number, body: unknown, retryAfterHeader?: string | null): ApiError {
  const b = body as Partial<ApiErrorBody> | null;
  const retry = retryAfterHeader != null && retryAfterHeader !== "" ? Number(retryAfterHeader) : undefined;
  const retryAfter = retry !== undefined && Number.isFinite(retry) ? retry : undefined;
  if (b && typeof b === "object" && b.error && typeof b.error === "object") {
    return new ApiError(status, String(b.error.code ?? "error"), String(b.error.message ?? `HTTP ${status}`), {
      field: typeof b.error.field === "string" ? b.error.field : undefined,
      current: b.current,
      retryAfter,
    });
  }
  return new ApiError(status, "http_error", `The server answered HTTP ${status}.`, { retryAfter });
}

/** What to do when a task route answers 401 (set by the app: sign out and go to /signin/). */
let onUnauthorized: () => void = () => {
  clearSession();
  if (typeof window !== "undefined") window.location.assign("/signin/");
};
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

interface RequestOpts {
  method?: string;
  body?: unknown;
  token?: string | null;
  headers?: Record<string, string>;
  /** True for task routes: a 401 signs out. */
  authRoute?: boolean;
  signal?: AbortSignal;
}

export async function request<T>(path: string, opts: RequestOpts = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...opts.headers };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  let res: Response;
  try {
    res = await fetch(`${apiBase()}${path}`, {
      method: opts.method ?? "GET",
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: opts.signal,
    });
  } catch (e) {
    if ((e as Error)?.name === "AbortError") throw e;
    throw new ApiError(0, "network_error", "Cannot reach the server. Check your connection and try again.");
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let body: unknown = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (!res.ok) {
    const err = parseApiError(res.status, body, res.headers.get("Retry-After"));
    if (res.status === 401 && opts.authRoute) onUnauthorized();
    throw err;
  }
  return body as T;
}

/* ---- accounts ---- */

export function signIn(email: string, password: string): Promise<AuthResponse> {
  return request<AuthResponse>("/api/auth/sign-in", { method: "POST", body: { email, password } });
}

export function signUp(name: string, email: string, password: string): Promise<AuthResponse> {
  return request<AuthResponse>("/api/auth/sign-up", { method: "POST", body: { email, password, name } });
}

export function me(token: string): Promise<{ user: User }> {
  return request<{ user: User }>("/api/auth/me", { token, authRoute: true });
}

/* ---- tasks ---- */

/** The query string of a list request (without leading "?"). */
export function taskQuery(f: TaskFilters, cursor?: string | null, limit = 50): string {
  const p = new URLSearchParams();
  if (f.status !== "all") p.set("status", f.status);
  if (f.priority) p.set("priority", f.priority);
  for (const t of f.tags) p.append("tag", t);
  if (f.q.trim()) p.set("q", f.q.trim());
  p.set("sort", f.sort);
  p.set("order", f.order);
  p.set("limit", String(limit));
  if (cursor) p.set("cursor", cursor);
  return p.toString();
}

function auth(): { token: string; userId: string } {
  const s = loadSession();
  if (!s) {
    onUnauthorized();
    throw new ApiError(401, "unauthorized", "You are signed out.");
  }
  return { token: s.token, userId: s.user.id };
}

function tasksPath(userId: string, rest = ""): string {
  return `/api/${encodeURIComponent(userId)}/tasks${rest}`;
}

export function listTasks(f: TaskFilters, cursor?: string | null, signal?: AbortSignal): Promise<TaskPage> {
  const { token, userId } = auth();
  return request<TaskPage>(`${tasksPath(userId)}?${taskQuery(f, cursor)}`, { token, authRoute: true, signal });
}

function newKey(): string {
  if (typeof crypto !== "undefined" && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

export function createTask(input: TaskInput, idempotencyKey: string = newKey()): Promise<Task> {
  const { token, userId } = auth();
  return request<Task>(tasksPath(userId), {
    method: "POST",
    body: input,
    token,
    authRoute: true,
    headers: { "Idempotency-Key": idempotencyKey },
  });
}

export function updateTask(id: number, patch: TaskPatch): Promise<Task> {
  const { token, userId } = auth();
  return request<Task>(tasksPath(userId, `/${id}`), { method: "PATCH", body: patch, token, authRoute: true });
}

export function setCompleted(id: number, completed: boolean): Promise<Task> {
  const { token, userId } = auth();
  return request<Task>(tasksPath(userId, `/${id}/complete`), {
    method: "PATCH",
    body: { completed },
    token,
    authRoute: true,
  });
}

export function deleteTask(id: number): Promise<void> {
  const { token, userId } = auth();
  return request<void>(tasksPath(userId, `/${id}`), { method: "DELETE", token, authRoute: true });
}
