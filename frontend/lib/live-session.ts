/**
 * How the live feed ends a session, free of any framework. The server refuses a token in two
 * ways: an open socket whose token expires is closed with 4001 (the same verdict as a task
 * route's 401), but a token it does not take at the handshake (invalid, revoked, signed with a
 * rotated key) gets HTTP 401 to the upgrade, which the browser reports only as a bare close
 * 1006, like a network fault. So when the client gives up ("failed") one REST call asks the
 * server, and its 401 ends the session. The token's own `exp` is not consulted: a clock that
 * runs behind, a rotated key or a revoked token all look valid here, and checking would leave
 * the user stuck on an "Offline" feed.
 */
import type { ConnectionState } from "./websocket-client";

/** The part of WebSocketClient this needs. */
export interface StateSource {
  onState(listener: (s: ConnectionState) => void): () => void;
}

/** Calls `expire` when the client reports "unauthorized"; returns the unsubscribe. */
export function expireOnRejectedToken(client: StateSource, expire: () => void): () => void {
  return client.onState((s) => {
    if (s === "unauthorized") expire();
  });
}

/**
 * Calls `check` once each time the client goes "failed"; returns the unsubscribe. `check` is an
 * authenticated REST call whose 401 ends the session through the API's handler; when it
 * succeeds (or fails otherwise, e.g. offline) the feed stays "failed" with its Reconnect button.
 */
export function checkTokenWhenFailed(client: StateSource, check: () => Promise<unknown>): () => void {
  return client.onState((s) => {
    if (s !== "failed") return;
    // The outcome needs no handling here: a 401 has already signed out, anything else changes nothing.
    check().catch(() => {});
  });
}

/**
 * Calls `resync` once, the first time the client reports "open"; returns the unsubscribe. For a
 * client that replaces another one of the same user (the token changed, e.g. a sign-in again in
 * another tab): it connects without `since`, so what happened while the old one was closing
 * would be missed; the subscribers reload instead.
 */
export function resyncOnceOpen(client: StateSource, resync: () => void): () => void {
  let done = false;
  const off = client.onState((s) => {
    if (s !== "open" || done) return;
    done = true;
    resync();
  });
  return off;
}
