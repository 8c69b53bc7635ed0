import { afterEach, describe, expect, it, vi } from "vitest";
import { decodeJwtPayload, isTokenExpired } from "./session";
import { parseApiError, signIn } from "./api";
import { wsBase } from "./config";

function jwt(payload: object): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64({ alg: "HS256", typ: "JWT" })}.${b64(payload)}.sig`;
}

describe("session tokens", () => {
  it("decodes the payload without verifying", () => {
    expect(decodeJwtPayload(jwt({ sub: "u1", exp: 10 }))).toEqual({ sub: "u1", exp: 10 });
    expect(decodeJwtPayload("garbage")).toBeNull();
  });

  it("treats a past exp as expired", () => {
    const t = jwt({ sub: "u1", exp: 1000 });
    expect(isTokenExpired(t, 999_000)).toBe(false);
    expect(isTokenExpired(t, 1_000_000)).toBe(true);
    expect(isTokenExpired("x.y", 0)).toBe(true);
  });
});

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
  afterEach(() => vi.unstubAllGlobals());

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

describe("WebSocket base", () => {
  it("derives ws(s) from the API base or the page", () => {
    expect(wsBase("https://api.example.test")).toBe("wss://api.example.test");
    expect(wsBase("http://127.0.0.1:8080")).toBe("ws://127.0.0.1:8080");
    expect(wsBase("", { protocol: "https:", host: "app.test" })).toBe("wss://app.test");
    expect(wsBase("", { protocol: "http:", host: "localhost:3000" })).toBe("ws://localhost:3000");
  });
});
