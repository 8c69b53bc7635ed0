"use client";

import { useEffect } from "react";

const UNDO_MS = 6000;

/** "Task deleted" with Undo, for about 6 s. */
export function UndoToast({ onUndo, onDismiss }: { onUndo: () => void; onDismiss: () => void }) {
  useEffect(() => {
    const t = setTimeout(onDismiss, UNDO_MS);
    return () => clearTimeout(t);
  }, [onDismiss]);
  return (
    <div
      role="status"
      className="fixed inset-x-3 bottom-3 z-50 mx-auto flex max-w-sm items-center justify-between gap-3 rounded-lg bg-slate-900 px-4 py-3 text-sm text-white shadow-lg"
    >
      <span>Task deleted</span>
      <button
        type="button"
        onClick={onUndo}
        className="rounded-md px-2 py-1 font-semibold text-blue-300 hover:bg-slate-800"
      >
        Undo
      </button>
    </div>
  );
}
