import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeSocket } from "./test-support";
import { backoffDelay, WebSocketClient } from "./websocket-client";

function setup(opts: { random?: () => number; maxAttempts?: number; maxDelayMs?: number; pingIntervalMs?: number } = {}) {
  const sockets: FakeSocket[] = [];
  const onResync = vi.fn();
  const client = new WebSocketClient({
    url: "ws://h/ws/user/u1/tasks",
    token: "tok",
    factory: (url, protocols) => {
      const s = new FakeSocket(url, protocols);
      sockets.push(s);
      return s;
    },
    random: opts.random ?? (() => 1),
    maxAttempts: opts.maxAttempts,
    maxDelayMs: opts.maxDelayMs,
    pingIntervalMs: opts.pingIntervalMs ?? 0,
  });
  client.onResync(onResync);
  const states: string[] = [];
  client.onState((s) => states.push(s));
  const seqs: number[] = [];
  client.onEvent((e) => seqs.push(e.seq));
  const last = () => sockets[sockets.length - 1];
  return { client, sockets, last, states, seqs, onResync };
}

/** Lets the pending retry timer fire; returns the delay it had. */
function fireRetry(): number {
  const before = Date.now();
  vi.advanceTimersToNextTimer();
  return Date.now() - before;
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(0);
});
afterEach(() => {
  vi.useRealTimers();
});

describe("backoffDelay", () => {
  it("grows by the factor and stops at the cap (random fixed at 1 = no jitter)", () => {
    const one = () => 1;
    expect([0, 1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, one))).toEqual([500, 1000, 2000, 4000, 8000, 8000, 8000]);
  });

  it("jitter keeps each delay within [delay/2, delay]", () => {
    expect(backoffDelay(2, () => 0)).toBe(1000);
    expect(backoffDelay(2, () => 0.5)).toBe(1500);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(3, Math.random);
      expect(d).toBeGreaterThanOrEqual(2000);
      expect(d).toBeLessThanOrEqual(4000);
    }
    expect(backoffDelay(9, () => 0)).toBe(4000);
  });
});

describe("WebSocketClient", () => {
  it("connects with the token and without since when it has no seq yet", () => {
    const { client, last, states } = setup();
    client.connect();
    expect(last().url).toBe("ws://h/ws/user/u1/tasks");
    expect(last().protocols).toEqual(["bearer", "tok"]);
    expect(states).toEqual(["connecting"]);
    last().hello(7);
    expect(client.state).toBe("open");
    expect(client.lastSeq).toBe(7);
    client.close();
  });

  it("reconnect delays grow and are capped", () => {
    const { client, last, states } = setup({ maxAttempts: 7 });
    client.connect();
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      last().drop();
      expect(client.state).toBe("reconnecting");
      delays.push(fireRetry());
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 8000, 8000]);
    expect(states[0]).toBe("connecting");
    client.close();
  });

  it("applies jitter from the injected random", () => {
    const { client, last } = setup({ random: () => 0 });
    client.connect();
    last().drop();
    expect(fireRetry()).toBe(250);
    last().drop();
    expect(fireRetry()).toBe(500);
    client.close();
  });

  it("gives up after 5 attempts: state failed and no pending timer", () => {
    const { client, sockets, last } = setup();
    client.connect();
    for (let i = 0; i < 5; i++) {
      last().drop();
      expect(client.state).toBe("reconnecting");
      fireRetry();
    }
    expect(sockets).toHaveLength(6);
    last().drop();
    expect(client.state).toBe("failed");
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(6);
  });

  it("reconnect() starts over at once with the attempts reset", () => {
    const { client, sockets, last } = setup();
    client.connect();
    for (let i = 0; i < 5; i++) {
      last().drop();
      fireRetry();
    }
    last().drop();
    expect(client.state).toBe("failed");
    client.reconnect();
    expect(sockets).toHaveLength(7);
    expect(client.state).toBe("connecting");
    last().drop();
    expect(client.state).toBe("reconnecting");
    expect(fireRetry()).toBe(500);
    client.close();
  });

  it("reconnect() while waiting cancels the pending retry", () => {
    const { client, sockets, last } = setup();
    client.connect();
    last().drop();
    expect(vi.getTimerCount()).toBe(1);
    client.reconnect();
    expect(vi.getTimerCount()).toBe(0);
    expect(sockets).toHaveLength(2);
    client.close();
  });

  it("attempts reset after a successful open (hello)", () => {
    const { client, last } = setup();
    client.connect();
    last().drop();
    expect(fireRetry()).toBe(500);
    last().drop();
    expect(fireRetry()).toBe(1000);
    last().hello(0);
    expect(client.attemptCount).toBe(0);
    last().drop();
    expect(fireRetry()).toBe(500);
    client.close();
  });

  it("a socket that opens but sends no hello does not reset the attempts", () => {
    const { client, last } = setup();
    client.connect();
    last().drop();
    fireRetry();
    last().open();
    last().drop();
    expect(fireRetry()).toBe(1000);
    client.close();
  });

  it("resumes with since=<last seq> after events", () => {
    const { client, last, seqs } = setup();
    client.connect();
    last().hello(3);
    last().event(4);
    last().event(5);
    expect(seqs).toEqual([4, 5]);
    last().drop();
    fireRetry();
    expect(last().url).toBe("ws://h/ws/user/u1/tasks?since=5");
    expect(last().protocols).toEqual(["bearer", "tok"]);
    // resumed socket: hello carries the latest seq, the replay follows; lastSeq must not jump.
    last().hello(7);
    expect(client.lastSeq).toBe(5);
    last().event(6);
    last().event(7);
    expect(seqs).toEqual([4, 5, 6, 7]);
    client.close();
  });

  it("skips duplicate and old events", () => {
    const { client, last, seqs } = setup();
    client.connect();
    last().hello(10);
    last().event(9);
    last().event(10);
    last().event(11);
    last().event(11);
    last().event(10);
    last().event(12);
    expect(seqs).toEqual([11, 12]);
    expect(client.lastSeq).toBe(12);
    client.close();
  });

  it("resync calls onResync and carries on from hello's seq", () => {
    const { client, last, seqs, onResync } = setup();
    const listener = vi.fn();
    client.onResync(listener);
    client.connect();
    last().hello(2);
    last().event(3);
    last().drop();
    fireRetry();
    expect(last().url).toContain("since=3");
    last().hello(5000);
    last().msg({ type: "resync" });
    expect(onResync).toHaveBeenCalledTimes(1);
    expect(listener).toHaveBeenCalledTimes(1);
    expect(client.lastSeq).toBe(5000);
    last().event(4999);
    last().event(5001);
    expect(seqs).toEqual([3, 5001]);
    client.close();
  });

  it("close code 4001 → unauthorized, no retry", () => {
    const { client, sockets, last } = setup();
    client.connect();
    last().hello(1);
    last().drop(4001);
    expect(client.state).toBe("unauthorized");
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
  });

  it("an error event also leads to a retry, once", () => {
    const { client, sockets, last } = setup();
    client.connect();
    last().onerror?.({});
    last().drop();
    expect(vi.getTimerCount()).toBe(1);
    fireRetry();
    expect(sockets).toHaveLength(2);
    client.close();
  });

  it("ignores frames that are not JSON and pongs", () => {
    const { client, last, seqs } = setup();
    client.connect();
    last().hello(0);
    last().msg("not json");
    last().msg({ type: "pong" });
    last().event(1);
    expect(seqs).toEqual([1]);
    client.close();
  });

  it("pings while open", () => {
    const { client, last } = setup({ pingIntervalMs: 25_000 });
    client.connect();
    last().hello(0);
    vi.advanceTimersByTime(50_000);
    expect(last().sent).toEqual(['{"type":"ping"}', '{"type":"ping"}']);
    client.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("close() leaves no timer, while open or while waiting to retry", () => {
    const a = setup({ pingIntervalMs: 25_000 });
    a.client.connect();
    a.last().hello(0);
    a.client.close();
    expect(a.client.state).toBe("closed");
    expect(a.last().closedByClient).toBe(true);
    expect(vi.getTimerCount()).toBe(0);

    const b = setup();
    b.client.connect();
    b.last().drop();
    expect(vi.getTimerCount()).toBe(1);
    b.client.close();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(60_000);
    expect(b.sockets).toHaveLength(1);
    expect(b.client.state).toBe("closed");
  });
});
