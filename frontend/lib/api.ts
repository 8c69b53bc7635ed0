/** fetch wrapper for the TaskFlow REST API (docs/api.md). */
import { apiBase } from "./config";
import { expireSession, loadSession } from "./session";
import {
  isTask,
  type ApiErrorBody,
  type AuthResponse,
  type Task,
  type TaskFilters,
  type TaskInput,
  type TaskPage,
  type TaskPatch,
} from "./types";

/**
 * An error answer of the API, or status 0 when there is no usable answer: a network failure
 * (code "network_error") or a success answer that is not what the route sends ("bad_response").
 */
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
  expireSession();
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
  /** True for routes that answer 204 (delete): only they may answer with no body. */
  noContent?: boolean;
  signal?: AbortSignal;
}

/**
 * One API call. `valid` checks a success answer's body (null when it is not JSON or empty, as
 * for a 204 to a route that sends a body); one that fails is an ApiError "bad_response" rather
 * than a value the screens would trip over.
 */
async function request<T>(path: string, opts: RequestOpts, valid?: (body: unknown) => boolean): Promise<T> {
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
  if (res.status === 204 && opts.noContent) return undefined as T;
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
  if (valid && !valid(body)) {
    throw new ApiError(0, "bad_response", "The server sent an answer the dashboard cannot read. Try again later.");
  }
  return body as T;
}

const isAuthResponse = (b: unknown): boolean => {
  const r = b as Partial<AuthResponse> | null;
  return !!r && typeof r.token === "string" && !!r.user && typeof r.user.id === "string";
};

const isTaskPage = (b: unknown): boolean => {
  const p = b as Partial<TaskPage> | null;
  return (
    !!p &&
    Array.isArray(p.items) &&
    p.items.every(isTask) &&
    (p.next_cursor === null || typeof p.next_cursor === "string")
  );
};

/* ---- accounts ---- */

export function signIn(email: string, password: string): Promise<AuthResponse> {
  const body = { email, password };
  return request<AuthResponse>("/api/auth/sign-in", { method: "POST", body }, isAuthResponse);
}

export function signUp(name: string, email: string, password: string): Promise<AuthResponse> {
  const body = { email, password, name };
  return request<AuthResponse>("/api/auth/sign-up", { method: "POST", body }, isAuthResponse);
}

/* ---- tasks ---- */

/** The query string of a list request (without leading "?"). */
function taskQuery(f: TaskFilters, cursor?: string | null, limit = 50): string {
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
  const path = `${tasksPath(userId)}?${taskQuery(f, cursor)}`;
  return request<TaskPage>(path, { token, authRoute: true, signal }, isTaskPage);
}

/** A fresh Idempotency-Key (crypto.randomUUID is missing outside secure contexts, e.g. plain http). */
export function newIdempotencyKey(): string {
  if (typeof crypto !== "undefined" && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/**
 * Whether a create that failed with `err` should be retried with the same Idempotency-Key: yes
 * when it may have been carried out (no answer, an unreadable one, a server error) or is still
 * running (409 idempotency_key_in_use), so that the retry replays it instead of creating a
 * second task; no after any other refusal, which created nothing.
 */
export function keepsIdempotencyKey(err: unknown): boolean {
  if (!isApiError(err)) return true;
  if (err.status === 0 || err.status >= 500) return true;
  return err.status === 409 && err.code === "idempotency_key_in_use";
}

export function createTask(input: TaskInput, idempotencyKey: string = newIdempotencyKey()): Promise<Task> {
  const { token, userId } = auth();
  return request<Task>(
    tasksPath(userId),
    { method: "POST", body: input, token, authRoute: true, headers: { "Idempotency-Key": idempotencyKey } },
    isTask,
  );
}

export function updateTask(id: number, patch: TaskPatch): Promise<Task> {
  const { token, userId } = auth();
  const opts = { method: "PATCH", body: patch, token, authRoute: true };
  return request<Task>(tasksPath(userId, `/${id}`), opts, isTask);
}

export function setCompleted(id: number, completed: boolean): Promise<Task> {
  const { token, userId } = auth();
  const opts = { method: "PATCH", body: { completed }, token, authRoute: true };
  return request<Task>(tasksPath(userId, `/${id}/complete`), opts, isTask);
}

export function deleteTask(id: number): Promise<void> {
  const { token, userId } = auth();
  return request<void>(tasksPath(userId, `/${id}`), { method: "DELETE", token, authRoute: true, noContent: true });
}

/**
 * A cheap authenticated call (one task of the list) to learn whether the server still takes the
 * token: its 401 signs out like any task route's. Async so that a missing session rejects too.
 */
export async function checkToken(): Promise<void> {
  const { token, userId } = auth();
  await request<TaskPage>(`${tasksPath(userId)}?limit=1`, { token, authRoute: true }, isTaskPage);
}
