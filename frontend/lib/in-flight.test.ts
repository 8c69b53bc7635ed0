import { describe, expect, it, vi } from "vitest";
import { createInFlight } from "./in-flight";

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("one completion request per task", () => {
  it("drops a second toggle while the first is pending and accepts one after it settles", async () => {
    const inFlight = createInFlight<number>();
    const first = deferred<string>();
    const send = vi.fn((want: boolean) => (want ? first.promise : Promise.resolve("second")));

    const a = inFlight.run(7, () => send(true));
    const b = inFlight.run(7, () => send(false));
    expect(a).not.toBeNull();
    expect(b).toBeNull();
    expect(send).toHaveBeenCalledTimes(1);

    first.resolve("first");
    await expect(a).resolves.toBe("first");

    const c = inFlight.run(7, () => send(false));
    expect(c).not.toBeNull(); // free again
    await expect(c).resolves.toBe("second");
    expect(send).toHaveBeenCalledTimes(2);
  });

  it("a failed request frees the task too, and its error reaches the caller", async () => {
    const inFlight = createInFlight<number>();
    const first = deferred<void>();
    const a = inFlight.run(7, () => first.promise);
    expect(inFlight.run(7, () => Promise.resolve())).toBeNull();
    first.reject(new Error("HTTP 500"));
    await expect(a).rejects.toThrow("HTTP 500");
    expect(inFlight.run(7, () => Promise.resolve())).not.toBeNull();
  });

  it("another task is not held up, and a synchronous throw is a rejection", async () => {
    const inFlight = createInFlight<number>();
    const pending = inFlight.run(1, () => new Promise<void>(() => {}));
    expect(pending).not.toBeNull();
    expect(inFlight.run(2, () => Promise.resolve())).not.toBeNull();
    const thrown = inFlight.run(3, () => {
      throw new Error("signed out");
    });
    await expect(thrown).rejects.toThrow("signed out");
    expect(inFlight.run(3, () => Promise.resolve())).not.toBeNull(); // freed
  });
});
