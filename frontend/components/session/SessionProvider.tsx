"use client";

import { createContext, useCallback, useContext, useEffect, useMemo, useState } from "react";
import { useRouter } from "next/navigation";
import { setUnauthorizedHandler } from "@/lib/api";
import {
  clearSession,
  expireSession,
  loadSession,
  onSessionChange,
  saveSession,
  type Session,
} from "@/lib/session";

interface SessionContextValue {
  /** The signed-in session, or null. */
  session: Session | null;
  /** False until localStorage has been read (the first client render). */
  ready: boolean;
  signIn(s: Session): void;
  signOut(): void;
  /** Signs out because the server refused the token; the sign-in screen says so. */
  expire(): void;
}

const SessionContext = createContext<SessionContextValue | null>(null);

export function SessionProvider({ children }: { children: React.ReactNode }) {
  const router = useRouter();
  const [session, setSession] = useState<Session | null>(null);
  const [ready, setReady] = useState(false);

  useEffect(() => {
    setSession(loadSession());
    setReady(true);
    return onSessionChange(setSession);
  }, []);

  const signIn = useCallback((s: Session) => saveSession(s), []);
  const signOut = useCallback(() => {
    clearSession();
    router.push("/signin/");
  }, [router]);
  const expire = useCallback(() => {
    expireSession();
    router.push("/signin/");
  }, [router]);

  useEffect(() => {
    // A 401 from a task route: the token is no longer good.
    setUnauthorizedHandler(expire);
  }, [expire]);

  const value = useMemo(
    () => ({ session, ready, signIn, signOut, expire }),
    [session, ready, signIn, signOut, expire],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionContextValue {
  const ctx = useContext(SessionContext);
  if (!ctx) throw new Error("useSession needs <SessionProvider>");
  return ctx;
}
