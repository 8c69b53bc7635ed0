import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createTask, deleteTask, setCompleted, updateTask } from "./api";
import { saveSession } from "./session";
import { isTask, type Task } from "./types";

/** localStorage in memory: the tests run in node. */
function memoryStorage(): Pick<Storage, "getItem" | "setItem" | "removeItem"> {
  const m = new Map<string, string>();
  return {
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, String(v)),
    removeItem: (k) => void m.delete(k),
  };
}

/** A JWT without `exp`: never expired as far as loadSession can tell. */
const TOKEN = `${Buffer.from('{"alg":"HS256"}').toString("base64url")}.${Buffer.from('{"sub":"u1"}').toString("base64url")}.sig`;

const TASK: Task = {
  id: 1,
  user_id: "u1",
  title: "t",
  description: "",
  completed: false,
  completed_at: null,
  priority: "medium",
  tags: ["home"],
  due_date: null,
  created_at: "2026-11-27T00:00:00.000Z",
  updated_at: "2026-11-27T00:00:00.000Z",
  version: 1,
};

beforeEach(() => {
  vi.stubGlobal("localStorage", memoryStorage());
  vi.stubGlobal("sessionStorage", memoryStorage());
  saveSession({ token: TOKEN, user: { id: "u1", email: "a@example.test", name: "A", created_at: "" } });
});
afterEach(() => vi.unstubAllGlobals());

describe("a 204 or empty success answer", () => {
  const writes: [string, () => Promise<unknown>][] = [
    ["createTask", () => createTask({ title: "t" }, "k1")],
    ["updateTask", () => updateTask(1, { title: "t", version: 1 })],
    ["setCompleted", () => setCompleted(1, true)],
  ];

  for (const [name, call] of writes) {
    it(`is an ApiError bad_response for ${name}, which must answer with the task`, async () => {
      vi.stubGlobal("fetch", async () => new Response(null, { status: 204 }));
      await expect(call()).rejects.toMatchObject({ name: "ApiError", code: "bad_response" });
      vi.stubGlobal("fetch", async () => new Response("", { status: 200 }));
      await expect(call()).rejects.toMatchObject({ name: "ApiError", code: "bad_response" });
      vi.stubGlobal("fetch", async () => new Response(JSON.stringify(TASK), { status: 200 }));
      await expect(call()).resolves.toEqual(TASK);
    });
  }

  it("is what deleteTask expects", async () => {
    vi.stubGlobal("fetch", async () => new Response(null, { status: 204 }));
    await expect(deleteTask(1)).resolves.toBeUndefined();
  });
});

describe("isTask", () => {
  it("accepts a task as the API sends it", () => {
    expect(isTask(TASK)).toBe(true);
    expect(isTask({ ...TASK, tags: [] })).toBe(true);
  });

  it("rejects a description that is not a string and tags that are not all strings", () => {
    expect(isTask({ ...TASK, description: 5 })).toBe(false);
    expect(isTask({ ...TASK, description: undefined })).toBe(false);
    expect(isTask({ ...TASK, tags: [{}] })).toBe(false);
    expect(isTask({ ...TASK, tags: ["home", 3] })).toBe(false);
  });
});
