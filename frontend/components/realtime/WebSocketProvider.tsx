"use client";

import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from "react";
import { checkToken } from "@/lib/api";
import { tasksSocketUrl } from "@/lib/config";
import { checkTokenWhenFailed, expireOnRejectedToken, resyncOnceOpen } from "@/lib/live-session";
import type { EventMessage } from "@/lib/types";
import { WebSocketClient, type ConnectionState } from "@/lib/websocket-client";
import { useSession } from "../session/SessionProvider";

/** What a subscriber receives: an event (once, in seq order) or a resync request. */
export type LiveMessage = { kind: "event"; event: EventMessage } | { kind: "resync" };
export type LiveHandler = (m: LiveMessage) => void;

interface WebSocketContextValue {
  state: ConnectionState;
  subscribe(handler: LiveHandler): () => void;
  reconnect(): void;
}

const WebSocketContext = createContext<WebSocketContextValue | null>(null);

/** One live connection per signed-in user, shared by every screen. */
export function WebSocketProvider({ children }: { children: React.ReactNode }) {
  const { session, expire } = useSession();
  const [state, setState] = useState<ConnectionState>("closed");
  const clientRef = useRef<WebSocketClient | null>(null);
  // Whose feed the last client was (null after a sign-out), to tell a new token from a new user.
  const lastUserRef = useRef<string | null>(null);
  const handlers = useRef(new Set<LiveHandler>());

  const userId = session?.user.id ?? null;
  const token = session?.token ?? null;

  useEffect(() => {
    if (!userId || !token) {
      lastUserRef.current = null;
      setState("closed");
      return;
    }
    const replacesSameUser = lastUserRef.current === userId;
    lastUserRef.current = userId;
    const client = new WebSocketClient({ url: tasksSocketUrl(userId), token });
    clientRef.current = client;
    const resync = () => handlers.current.forEach((h) => h({ kind: "resync" }));
    const offState = client.onState(setState);
    // A 4001 close ends the session like a 401 does, so the user is never left on a dead feed.
    const offExpired = expireOnRejectedToken(client, expire);
    // A token refused at the handshake looks like a network fault (1006): when the retries give
    // up, one REST call asks the server, and its 401 ends the session the same way.
    const offFailed = checkTokenWhenFailed(client, checkToken);
    const offEvent = client.onEvent((event) => handlers.current.forEach((h) => h({ kind: "event", event })));
    const offResync = client.onResync(resync);
    // The same user with a new token (e.g. signed in again in another tab): this client starts
    // without `since`, so what happened while the old one closed would be missed; the screens
    // reload once it is open. (A screen mounted with the first client reloads on its own.)
    const offReplaced = replacesSameUser ? resyncOnceOpen(client, resync) : () => {};
    client.connect(); // reports "connecting" through onState
    return () => {
      offState();
      offExpired();
      offFailed();
      offEvent();
      offResync();
      offReplaced();
      client.close();
      if (clientRef.current === client) clientRef.current = null;
    };
  }, [userId, token, expire]);

  const subscribe = useCallback((handler: LiveHandler) => {
    handlers.current.add(handler);
    return () => {
      handlers.current.delete(handler);
    };
  }, []);

  const reconnect = useCallback(() => clientRef.current?.reconnect(), []);

  const value = useMemo(() => ({ state, subscribe, reconnect }), [state, subscribe, reconnect]);
  return <WebSocketContext.Provider value={value}>{children}</WebSocketContext.Provider>;
}

export function useLive(): WebSocketContextValue {
  const ctx = useContext(WebSocketContext);
  if (!ctx) throw new Error("useLive needs <WebSocketProvider>");
  return ctx;
}
