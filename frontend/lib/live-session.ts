/**
 * How the live feed ends a session, free of any framework: the server closes the socket with
 * 4001 when it refuses the token, and that is the same verdict as a task route's 401. The
 * token's own `exp` is not consulted: a clock that runs behind, a rotated key or a revoked
 * token all look valid here, and checking would leave the user stuck on an "Offline" feed.
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
