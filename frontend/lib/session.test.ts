import { describe, expect, it } from "vitest";
import { decodeJwtPayload, isTokenExpired } from "./session";
import { jwt } from "./test-support";

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
