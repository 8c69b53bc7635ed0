"use client";

import { useRouter } from "next/navigation";
import { useEffect } from "react";
import { useSession } from "@/components/session/SessionProvider";
import { Dashboard } from "@/components/tasks/Dashboard";

export default function DashboardPage() {
  const router = useRouter();
  const { session, ready, signOut } = useSession();

  useEffect(() => {
    if (ready && !session) router.replace("/signin/");
  }, [ready, session, router]);

  if (!ready || !session) {
    return (
      <main className="flex min-h-screen items-center justify-center">
        <p className="text-slate-500">Loading tasks…</p>
      </main>
    );
  }
  return <Dashboard key={session.user.id} session={session} onSignOut={signOut} />;
}
