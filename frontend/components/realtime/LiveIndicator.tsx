"use client";

import type { ConnectionState } from "@/lib/websocket-client";
import { useLive } from "./WebSocketProvider";

const LABEL: Record<ConnectionState, string> = {
  open: "Live",
  connecting: "Connecting",
  reconnecting: "Reconnecting",
  failed: "Offline",
  closed: "Offline",
  unauthorized: "Offline",
};

const DOT: Record<ConnectionState, string> = {
  open: "bg-green-500",
  connecting: "bg-amber-400 animate-pulse",
  reconnecting: "bg-amber-400 animate-pulse",
  failed: "bg-red-500",
  closed: "bg-slate-400",
  unauthorized: "bg-red-500",
};

export function LiveIndicator() {
  const { state } = useLive();
  return (
    <span
      data-testid="live-status"
      data-state={state}
      className="inline-flex items-center gap-1.5 rounded-full border border-slate-200 bg-white px-2 py-0.5 text-xs font-medium text-slate-700"
    >
      <span aria-hidden="true" className={`h-2 w-2 rounded-full ${DOT[state]}`} />
      {LABEL[state]}
    </span>
  );
}

/** "Reconnecting…" while retrying; "Connection lost" + Reconnect once it gave up. */
export function ConnectionBanner() {
  const { state, reconnect } = useLive();
  if (state === "reconnecting") {
    return (
      <div role="status" className="bg-amber-50 px-4 py-2 text-center text-sm text-amber-900">
        Reconnecting…
      </div>
    );
  }
  if (state === "failed") {
    return (
      <div
        role="status"
        className="flex flex-wrap items-center justify-center gap-3 bg-red-50 px-4 py-2 text-sm text-red-900"
      >
        <span>Connection lost</span>
        <button
          type="button"
          onClick={reconnect}
          className="rounded-md border border-red-300 bg-white px-3 py-1 font-medium text-red-800 hover:bg-red-100"
        >
          Reconnect
        </button>
      </div>
    );
  }
  return null;
}
