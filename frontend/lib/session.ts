/** The signed-in session: token + user in localStorage under "taskflow.session". */
import type { User } from "./types";

export const SESSION_KEY = "taskflow.session";
/** Per tab, so only the tab that was signed out explains why. */
export const SIGNIN_NOTICE_KEY = "taskflow.signin-notice";
export const SESSION_EXPIRED_MESSAGE = "Your session has expired; sign in again.";

export interface Session {
  token: string;
  user: User;
}

type Listener = (s: Session | null) => void;
const listeners = new Set<Listener>();

function storage(kind: "local" | "session" = "local"): Storage | null {
  try {
    if (kind === "session") return typeof sessionStorage === "undefined" ? null : sessionStorage;
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null;
  }
}

/** Decodes a JWT's payload without verifying it; null when malformed. */
export function decodeJwtPayload(token: string): Record<string, unknown> | null {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    let b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    const json =
      typeof atob === "function"
        ? decodeURIComponent(
            Array.from(atob(b64), (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""),
          )
        : Buffer.from(b64, "base64").toString("utf8");
    const v: unknown = JSON.parse(json);
    return v && typeof v === "object" ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** True when the token has an `exp` in the past (or cannot be read). */
export function isTokenExpired(token: string, nowMs: number = Date.now()): boolean {
  const p = decodeJwtPayload(token);
  if (!p) return true;
  if (typeof p.exp !== "number") return false;
  return p.exp * 1000 <= nowMs;
}

/** The stored session, or null when none, malformed or expired (an expired one is cleared). */
export function loadSession(nowMs: number = Date.now()): Session | null {
  const st = storage();
  if (!st) return null;
  const raw = st.getItem(SESSION_KEY);
  if (!raw) return null;
  try {
    const s = JSON.parse(raw) as Partial<Session>;
    if (typeof s.token !== "string" || !s.user || typeof s.user.id !== "string") {
      st.removeItem(SESSION_KEY);
      return null;
    }
    if (isTokenExpired(s.token, nowMs)) {
      st.removeItem(SESSION_KEY);
      return null;
    }
    return { token: s.token, user: s.user as User };
  } catch {
    st.removeItem(SESSION_KEY);
    return null;
  }
}

export function saveSession(s: Session): void {
  storage()?.setItem(SESSION_KEY, JSON.stringify(s));
  listeners.forEach((l) => l(s));
}

export function clearSession(): void {
  storage()?.removeItem(SESSION_KEY);
  listeners.forEach((l) => l(null));
}

/**
 * Signs out because the server refused the token (a task route's 401 or the live socket's
 * close 4001), whatever its `exp` says here: the server's clock and keys decide, not ours.
 * The sign-in screen then tells the user why they are there.
 */
export function expireSession(): void {
  try {
    storage("session")?.setItem(SIGNIN_NOTICE_KEY, SESSION_EXPIRED_MESSAGE);
  } catch {
    /* storage full or blocked: sign out without the notice */
  }
  clearSession();
}

/** The notice left by expireSession, removed as it is read so that it shows once. */
export function takeSignInNotice(): string | null {
  const st = storage("session");
  if (!st) return null;
  try {
    const v = st.getItem(SIGNIN_NOTICE_KEY);
    if (v !== null) st.removeItem(SIGNIN_NOTICE_KEY);
    return v;
  } catch {
    return null;
  }
}

/** Called on sign-in/sign-out in this tab and, via the storage event, in other tabs. */
export function onSessionChange(l: Listener): () => void {
  listeners.add(l);
  const onStorage = (e: StorageEvent) => {
    if (e.key === SESSION_KEY || e.key === null) l(loadSession());
  };
  if (typeof window !== "undefined") window.addEventListener("storage", onStorage);
  return () => {
    listeners.delete(l);
    if (typeof window !== "undefined") window.removeEventListener("storage", onStorage);
  };
}
