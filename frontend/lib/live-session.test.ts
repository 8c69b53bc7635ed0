import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { checkToken, listTasks } from "./api";
import { checkTokenWhenFailed, expireOnRejectedToken, resyncOnceOpen } from "./live-session";
import {
  SESSION_EXPIRED_MESSAGE,
  expireSession,
  loadSession,
  onSessionChange,
  takeSignInNotice,
  type Session,
} from "./session";
import { FakeSocket, jwt, stubStorageSignedIn, USER } from "./test-support";
import { DEFAULT_FILTERS } from "./types";
import { WebSocketClient } from "./websocket-client";

// Valid for another hour as far as this browser can tell.
const NOW = Date.UTC(2026, 10, 27);
const session: Session = {
  token: jwt({ sub: "u1", exp: NOW / 1000 + 3600 }),
  user: USER,
};

function liveClient(maxAttempts?: number) {
  let socket: FakeSocket | null = null;
  const client = new WebSocketClient({
    url: "ws://h/ws/user/u1/tasks",
    token: session.token,
    pingIntervalMs: 0,
    maxAttempts,
    factory: (url, protocols) => (socket = new FakeSocket(url, protocols)),
  });
  return { client, socket: () => socket! };
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(NOW);
  stubStorageSignedIn(session);
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe("a token the server refuses ends the session", () => {
  it("socket close 4001 signs out with the expiry notice although the token's exp is ahead", () => {
    const { client, socket } = liveClient();
    const seen: (Session | null)[] = [];
    const off = onSessionChange((s) => seen.push(s));
    expireOnRejectedToken(client, expireSession);
    client.connect();
    socket().hello(1);
    expect(loadSession()).not.toBeNull();

    socket().drop(4001);

    expect(client.state).toBe("unauthorized");
    expect(loadSession()).toBeNull();
    expect(seen).toEqual([null]);
    expect(takeSignInNotice()).toBe(SESSION_EXPIRED_MESSAGE);
    expect(takeSignInNotice()).toBeNull(); // shown once
    off();
  });

  it("other closes keep the session and reconnect", () => {
    const { client, socket } = liveClient();
    const expire = vi.fn();
    expireOnRejectedToken(client, expire);
    client.connect();
    socket().hello(1);
    socket().drop(1006);
    expect(client.state).toBe("reconnecting");
    client.reconnect();
    socket().drop(1011);
    expect(expire).not.toHaveBeenCalled();
    expect(loadSession()).toEqual(session);
    expect(takeSignInNotice()).toBeNull();
    client.close();
  });

  it("a task route's 401 leaves the same notice", async () => {
    vi.stubGlobal("fetch", async () => new Response('{"error":{"code":"unauthorized","message":"m"}}', { status: 401 }));
    await expect(listTasks(DEFAULT_FILTERS)).rejects.toMatchObject({ status: 401 });
    expect(loadSession()).toBeNull();
    expect(takeSignInNotice()).toBe(SESSION_EXPIRED_MESSAGE);
  });
});

describe("a token refused at the handshake ends the session once the feed gives up", () => {
  /**
   * The browser's view of an upgrade answered with HTTP 401: a bare 1006, never 4001. `start`
   * opens the first socket (connect, or reconnect after "failed"); `betweenDrops` runs while the
   * client still retries.
   */
  function failHandshakes(
    client: WebSocketClient,
    socket: () => FakeSocket,
    {
      start = () => client.connect(),
      betweenDrops = () => {},
    }: { start?: () => void; betweenDrops?: () => void } = {},
  ) {
    start();
    socket().drop(1006);
    expect(client.state).toBe("reconnecting");
    betweenDrops();
    vi.runOnlyPendingTimers(); // the one retry
    socket().drop(1006);
    expect(client.state).toBe("failed");
  }

  /** Lets the REST call's promises finish (fake timers hold no macrotask it needs). */
  async function settle() {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  }

  it("the check after 'failed' answers 401: signed out with the expiry notice", async () => {
    const calls: { url: string; auth: string | null }[] = [];
    vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
      calls.push({ url, auth: new Headers(init.headers).get("Authorization") });
      return new Response('{"error":{"code":"unauthorized","message":"m"}}', { status: 401 });
    });
    const { client, socket } = liveClient(1);
    checkTokenWhenFailed(client, checkToken);
    failHandshakes(client, socket, {
      betweenDrops: () => expect(calls).toEqual([]), // not while it still retries
    });
    await settle();

    expect(calls).toEqual([{ url: "/api/u1/tasks?limit=1", auth: `Bearer ${session.token}` }]);
    expect(loadSession()).toBeNull();
    expect(takeSignInNotice()).toBe(SESSION_EXPIRED_MESSAGE);
  });

  it("a server that still takes the token keeps the session and the Reconnect; each 'failed' checks once", async () => {
    const fetch = vi.fn(async () => new Response('{"items":[],"next_cursor":null}', { status: 200 }));
    vi.stubGlobal("fetch", fetch);
    const { client, socket } = liveClient(1);
    checkTokenWhenFailed(client, checkToken);
    failHandshakes(client, socket);
    await settle();
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(client.state).toBe("failed");
    expect(loadSession()).toEqual(session);
    expect(takeSignInNotice()).toBeNull();

    failHandshakes(client, socket, { start: () => client.reconnect() });
    await settle();
    expect(fetch).toHaveBeenCalledTimes(2);
    expect(loadSession()).toEqual(session);
  });

  it("a check that cannot reach the server changes nothing", async () => {
    vi.stubGlobal("fetch", async () => {
      throw new TypeError("Failed to fetch");
    });
    const { client, socket } = liveClient(1);
    const check = vi.fn(checkToken);
    checkTokenWhenFailed(client, check);
    failHandshakes(client, socket);
    await settle();
    expect(check).toHaveBeenCalledTimes(1);
    expect(client.state).toBe("failed");
    expect(loadSession()).toEqual(session);
  });
});

describe("a client that replaces one of the same user (new token) makes the screens reload", () => {
  it("resyncs once, when the new client is open, not before and not after a reconnect", () => {
    const { client, socket } = liveClient();
    const resync = vi.fn();
    resyncOnceOpen(client, resync);
    client.connect();
    expect(socket().url).toBe("ws://h/ws/user/u1/tasks"); // a new client has no since
    expect(resync).not.toHaveBeenCalled(); // "connecting"
    socket().hello(7);
    expect(resync).toHaveBeenCalledTimes(1);
    socket().drop(1006);
    vi.runOnlyPendingTimers();
    socket().hello(8); // a resumed socket (with since) misses nothing
    expect(resync).toHaveBeenCalledTimes(1);
    client.close();
  });

  it("its unsubscribe stops it", () => {
    const { client, socket } = liveClient();
    const resync = vi.fn();
    const off = resyncOnceOpen(client, resync);
    client.connect();
    off();
    socket().hello(1);
    expect(resync).not.toHaveBeenCalled();
    client.close();
  });
});
