"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useId, useState } from "react";
import { isApiError, signIn as apiSignIn, signUp as apiSignUp } from "@/lib/api";
import { takeSignInNotice } from "@/lib/session";
import { useSession } from "../session/SessionProvider";

const input =
  "mt-1 block w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-base shadow-sm focus:border-blue-600 sm:text-sm";

/** A readable message for an auth failure. */
function authErrorMessage(e: unknown, mode: "signin" | "signup"): string {
  if (!isApiError(e)) return "Something went wrong. Please try again.";
  switch (e.code) {
    case "invalid_credentials":
      return "Wrong email or password.";
    case "email_taken":
      return "An account with this email already exists. Sign in instead?";
    case "too_many_requests": {
      const s = e.retryAfter;
      return s !== undefined
        ? `Too many failed sign-ins. Try again in ${s} second${s === 1 ? "" : "s"}.`
        : "Too many failed sign-ins. Try again later.";
    }
    default:
      return e.message || (mode === "signin" ? "Sign-in failed." : "Sign-up failed.");
  }
}

export function AuthForm({ mode }: { mode: "signin" | "signup" }) {
  const router = useRouter();
  const { session, ready, signIn } = useSession();
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<{ message: string; field?: string } | null>(null);
  const [busy, setBusy] = useState(false);
  // Why the user was sent here (e.g. the server refused the token), read once after mount:
  // sessionStorage does not exist during the static export's prerender.
  const [notice, setNotice] = useState<string | null>(null);
  const ids = useId();
  const errorId = `${ids}-error`;

  useEffect(() => {
    if (ready && session) router.replace("/dashboard/");
  }, [ready, session, router]);

  useEffect(() => {
    const n = takeSignInNotice();
    if (n) setNotice(n);
  }, []);

  async function onSubmit(e: React.FormEvent) {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      const res = mode === "signin" ? await apiSignIn(email, password) : await apiSignUp(name, email, password);
      signIn({ token: res.token, user: res.user });
      router.push("/dashboard/");
    } catch (err) {
      setError({ message: authErrorMessage(err, mode), field: isApiError(err) ? err.field : undefined });
      setBusy(false);
    }
  }

  const title = mode === "signin" ? "Sign in to TaskFlow" : "Create your TaskFlow account";
  const invalid = (f: string) => (error && (error.field === f || (!error.field && f !== "name")) ? true : undefined);

  return (
    <main className="mx-auto flex min-h-screen w-full max-w-sm flex-col justify-center px-4 py-10">
      <p className="mb-2 text-center text-2xl font-bold tracking-tight text-blue-700">TaskFlow</p>
      <h1 className="mb-6 text-center text-lg font-semibold">{title}</h1>
      {notice && (
        <p role="status" className="mb-4 rounded-md bg-amber-50 px-3 py-2 text-center text-sm text-amber-900">
          {notice}
        </p>
      )}
      <form onSubmit={onSubmit} noValidate className="space-y-4 rounded-lg bg-white p-6 shadow">
        {mode === "signup" && (
          <div>
            <label htmlFor={`${ids}-name`} className="block text-sm font-medium">
              Name
            </label>
            <input
              id={`${ids}-name`}
              name="name"
              autoComplete="name"
              required
              maxLength={100}
              value={name}
              onChange={(e) => setName(e.target.value)}
              aria-invalid={invalid("name")}
              aria-describedby={error ? errorId : undefined}
              className={input}
            />
          </div>
        )}
        <div>
          <label htmlFor={`${ids}-email`} className="block text-sm font-medium">
            Email
          </label>
          <input
            id={`${ids}-email`}
            name="email"
            type="email"
            autoComplete="email"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            aria-invalid={invalid("email")}
            aria-describedby={error ? errorId : undefined}
            className={input}
          />
        </div>
        <div>
          <label htmlFor={`${ids}-password`} className="block text-sm font-medium">
            Password
          </label>
          <input
            id={`${ids}-password`}
            name="password"
            type="password"
            autoComplete={mode === "signin" ? "current-password" : "new-password"}
            required
            minLength={mode === "signup" ? 8 : undefined}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            aria-invalid={invalid("password")}
            aria-describedby={error ? errorId : undefined}
            className={input}
          />
          {mode === "signup" && <p className="mt-1 text-xs text-slate-500">At least 8 characters.</p>}
        </div>
        {error && (
          <p id={errorId} role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-800">
            {error.message}
          </p>
        )}
        <button
          type="submit"
          disabled={busy}
          className="w-full rounded-md bg-blue-600 px-4 py-2 font-semibold text-white hover:bg-blue-700 disabled:opacity-60"
        >
          {mode === "signin" ? "Sign in" : "Create account"}
        </button>
      </form>
      <p className="mt-4 text-center text-sm text-slate-600">
        {mode === "signin" ? (
          <>
            No account yet?{" "}
            <Link href="/signup/" className="font-medium text-blue-700 underline">
              Create an account
            </Link>
          </>
        ) : (
          <>
            Already have an account?{" "}
            <Link href="/signin/" className="font-medium text-blue-700 underline">
              Sign in instead
            </Link>
          </>
        )}
      </p>
    </main>
  );
}
