"use client";

import { useRouter } from "next/navigation";
import { useEffect } from "react";
import { useSession } from "@/components/session/SessionProvider";

/** Sends the visitor to the dashboard when signed in, else to sign-in. */
export default function Home() {
  const router = useRouter();
  const { session, ready } = useSession();
  useEffect(() => {
    if (ready) router.replace(session ? "/dashboard/" : "/signin/");
  }, [ready, session, router]);
  return (
    <main className="flex min-h-screen items-center justify-center">
      <p className="text-slate-500">Loading TaskFlow…</p>
    </main>
  );
}
