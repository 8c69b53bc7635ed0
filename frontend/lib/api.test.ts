import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  ApiError,
  createTask,
  deleteTask,
  keepsIdempotencyKey,
  parseApiError,
  setCompleted,
  signIn,
  updateTask,
} from "./api";
import { jwt, stubStorageSignedIn, task, USER } from "./test-support";
import { isTask } from "./types";

const TASK = task(1, { title: "t", tags: ["home"] });

beforeEach(() => {
  // A JWT without `exp`: never expired as far as loadSession can tell.
  stubStorageSignedIn({ token: jwt({ sub: "u1" }), user: USER });
});
afterEach(() => vi.unstubAllGlobals());

describe("API errors", () => {
  it("parses the error shape", () => {
    const e = parseApiError(422, { error: { code: "validation_failed", message: "title must be…", field: "title" } });
    expect(e.status).toBe(422);
    expect(e.code).toBe("validation_failed");
    expect(e.field).toBe("title");
    expect(e.message).toBe("title must be…");
  });

  it("keeps current on a version conflict and Retry-After on 429", () => {
    const current = { id: 1, version: 3 };
    expect(parseApiError(409, { error: { code: "version_conflict", message: "m" }, current }).current).toEqual(current);
    expect(parseApiError(429, { error: { code: "too_many_requests", message: "m" } }, "30").retryAfter).toBe(30);
  });

  it("falls back for a body that is not the error shape", () => {
    const e = parseApiError(502, null);
    expect(e.code).toBe("http_error");
    expect(e.status).toBe(502);
  });
});

describe("success answers the dashboard cannot use", () => {
  it("are an ApiError bad_response, not a value to trip over", async () => {
    for (const body of ["<!doctype html><html></html>", "{}", '{"token":"t"}']) {
      vi.stubGlobal("fetch", async () => new Response(body, { status: 200 }));
      await expect(signIn("a@example.test", "pw")).rejects.toMatchObject({ name: "ApiError", code: "bad_response" });
    }
    const ok = { token: "t", user: { id: "u1", email: "a@example.test", name: "A", created_at: "" } };
    vi.stubGlobal("fetch", async () => new Response(JSON.stringify(ok), { status: 200 }));
    await expect(signIn("a@example.test", "pw")).resolves.toEqual(ok);
  });
});

describe("a 204 or empty success answer", () => {
  const writes: [string, () => Promise<unknown>][] = [
    ["createTask", () => createTask({ title: "t" }, "k1")],
    ["updateTask", () => updateTask(1, { title: "t", version: 1 })],
    ["setCompleted", () => setCompleted(1, true)],
  ];

  it.each(writes)("is an ApiError bad_response for %s, which must answer with the task", async (_name, call) => {
    vi.stubGlobal("fetch", async () => new Response(null, { status: 204 }));
    await expect(call()).rejects.toMatchObject({ name: "ApiError", code: "bad_response" });
    vi.stubGlobal("fetch", async () => new Response("", { status: 200 }));
    await expect(call()).rejects.toMatchObject({ name: "ApiError", code: "bad_response" });
    vi.stubGlobal("fetch", async () => new Response(JSON.stringify(TASK), { status: 200 }));
    await expect(call()).resolves.toEqual(TASK);
  });

  it("is what deleteTask expects", async () => {
    vi.stubGlobal("fetch", async () => new Response(null, { status: 204 }));
    await expect(deleteTask(1)).resolves.toBeUndefined();
  });
});

describe("isTask", () => {
  it("accepts a task as the API sends it", () => {
    expect(isTask(TASK)).toBe(true);
    expect(isTask({ ...TASK, tags: [] })).toBe(true);
    expect(isTask({ ...TASK, due_date: "2026-12-01T09:00:00+01:00" })).toBe(true);
  });

  it("rejects a description that is not a string and tags that are not all strings", () => {
    expect(isTask({ ...TASK, description: 5 })).toBe(false);
    expect(isTask({ ...TASK, description: undefined })).toBe(false);
    expect(isTask({ ...TASK, tags: [{}] })).toBe(false);
    expect(isTask({ ...TASK, tags: ["home", 3] })).toBe(false);
  });

  it("rejects a due_date that is neither a string nor null (the list would render it)", () => {
    expect(isTask({ ...TASK, due_date: { at: "2026-12-01" } })).toBe(false);
    expect(isTask({ ...TASK, due_date: 1764579600000 })).toBe(false);
    expect(isTask({ ...TASK, due_date: undefined })).toBe(false);
  });
});

describe("when a failed create keeps its Idempotency-Key for the retry", () => {
  const err = (status: number, code: string) => new ApiError(status, code, "m");

  // Kept (true) when the create may have happened or is still running; dropped (false) after
  // any other refusal, which created nothing.
  it.each<[string, boolean, unknown]>([
    ["0 network_error", true, err(0, "network_error")],
    ["0 bad_response", true, err(0, "bad_response")],
    ["500 internal_error", true, err(500, "internal_error")],
    ["503 unavailable", true, err(503, "unavailable")],
    ["409 idempotency_key_in_use", true, err(409, "idempotency_key_in_use")],
    ["TypeError: Failed to fetch", true, new TypeError("Failed to fetch")],
    ["422 validation_failed", false, err(422, "validation_failed")],
    ["422 idempotency_key_reused", false, err(422, "idempotency_key_reused")],
    ["409 version_conflict", false, err(409, "version_conflict")],
    ["429 too_many_requests", false, err(429, "too_many_requests")],
    ["401 unauthorized", false, err(401, "unauthorized")],
  ])("%s: keeps it = %s", (_what, keeps, e) => {
    expect(keepsIdempotencyKey(e)).toBe(keeps);
  });
});
