"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useId, useState } from "react";
import { isApiError, signIn as apiSignIn, signUp as apiSignUp } from "@/lib/api";
import { takeSignInNotice } from "@/lib/session";
import { useSession } from "../session/SessionProvider";
import { Field } from "../ui/Field";
import { FormError } from "../ui/FormError";
import { fieldClass, primaryButton } from "../ui/styles";

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

  // Signed in, already or by this form (either mode ends in signIn): on to the dashboard.
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
      signIn({ token: res.token, user: res.user }); // the effect above moves on
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
          <Field id={`${ids}-name`} label="Name">
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
              className={fieldClass}
            />
          </Field>
        )}
        <Field id={`${ids}-email`} label="Email">
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
            className={fieldClass}
          />
        </Field>
        <Field id={`${ids}-password`} label="Password">
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
            className={fieldClass}
          />
          {mode === "signup" && <p className="mt-1 text-xs text-slate-500">At least 8 characters.</p>}
        </Field>
        {error && <FormError id={errorId}>{error.message}</FormError>}
        <button type="submit" disabled={busy} className={`${primaryButton} w-full`}>
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
