import { describe, expect, it } from "vitest";
import { wsBase } from "./config";

describe("WebSocket base", () => {
  it("derives ws(s) from the API base or the page", () => {
    expect(wsBase("https://api.example.test")).toBe("wss://api.example.test");
    expect(wsBase("http://127.0.0.1:8080")).toBe("ws://127.0.0.1:8080");
    expect(wsBase("", { protocol: "https:", host: "app.test" })).toBe("wss://app.test");
    expect(wsBase("", { protocol: "http:", host: "localhost:3000" })).toBe("ws://localhost:3000");
  });
});
