"use client";

import Link from "next/link";
import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import {
  createTask,
  deleteTask,
  isApiError,
  keepsIdempotencyKey,
  listTasks,
  newIdempotencyKey,
  setCompleted,
} from "@/lib/api";
import { createInFlight } from "@/lib/in-flight";
import type { Session } from "@/lib/session";
import { recreateInput } from "@/lib/task-form";
import { hasMore, initialTaskList, isFiltered, taskListReducer } from "@/lib/task-list";
import type { Task, TaskFilters } from "@/lib/types";
import { ConnectionBanner, LiveIndicator } from "../realtime/LiveIndicator";
import { useLive } from "../realtime/WebSocketProvider";
import { secondaryButton } from "../ui/styles";
import { CreateTaskForm } from "./CreateTaskForm";
import { EditTaskDialog } from "./EditTaskDialog";
import { TaskItem } from "./TaskItem";
import { Toolbar } from "./Toolbar";
import { UndoToast } from "./UndoToast";

function messageOf(e: unknown, fallback: string): string {
  return isApiError(e) ? e.message : fallback;
}

/**
 * A deleted task while its Undo is offered. `idempotencyKey` is made once, at the delete, so an
 * Undo retried after a failure cannot create the task twice; `key` restarts the toast.
 */
interface Deleted {
  task: Task;
  key: number;
  idempotencyKey: string;
}

export function Dashboard({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const [list, dispatch] = useReducer(taskListReducer, undefined, () => initialTaskList());
  // Why the first page could not be loaded. "Loading" itself is read from the list (`loaded`),
  // which the filters action clears in the same render: no "No tasks match" before it.
  const [loadError, setLoadError] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  // Tasks whose DELETE is in flight.
  const [busyIds, setBusyIds] = useState<ReadonlySet<number>>(new Set());
  // Checkbox state shown while its PATCH is in flight (optimistic); such a task is busy too.
  const [pendingDone, setPendingDone] = useState<ReadonlyMap<number, boolean>>(new Map());
  const [completing] = useState(() => createInFlight<number>());
  const [editing, setEditing] = useState<Task | null>(null);
  const [deleted, setDeleted] = useState<Deleted | null>(null);
  const { state: liveState, subscribe } = useLive();

  const loading = !list.loaded && loadError === null;
  const ready = list.loaded && loadError === null;

  const listRef = useRef(list);
  listRef.current = list;
  const gen = useRef(0);
  const abortRef = useRef<AbortController | null>(null);
  const moreBusy = useRef(false);
  const sentinelRef = useRef<HTMLDivElement>(null);

  /**
   * Loads the first page for the current filters; `quiet` (a background reload) leaves what is
   * shown, an error included, until the answer. A quiet one that fails while the list is shown
   * leaves it shown and says so above it.
   */
  const loadFirst = useCallback(async (quiet = false) => {
    const my = ++gen.current;
    abortRef.current?.abort();
    const ctrl = new AbortController();
    abortRef.current = ctrl;
    moreBusy.current = false;
    setLoadingMore(false);
    if (!quiet) setLoadError(null);
    dispatch({ type: "reload" }); // changes from now on are newer than the page
    try {
      const page = await listTasks(listRef.current.filters, null, ctrl.signal);
      if (gen.current !== my) return;
      dispatch({ type: "page", page, reset: true });
      setLoadError(null);
    } catch (e) {
      if (gen.current !== my || (e as Error)?.name === "AbortError") return;
      if (isApiError(e) && e.status === 401) return; // signed out already
      const message = messageOf(e, "Could not load your tasks.");
      if (quiet && listRef.current.loaded) setActionError(message);
      else setLoadError(message);
    }
  }, []);

  const loadMore = useCallback(async () => {
    const cur = listRef.current;
    if (!cur.nextCursor || moreBusy.current) return;
    moreBusy.current = true;
    setLoadingMore(true);
    const my = gen.current;
    try {
      const page = await listTasks(cur.filters, cur.nextCursor, abortRef.current?.signal);
      if (gen.current !== my) return;
      dispatch({ type: "page", page, reset: false });
    } catch (e) {
      if (gen.current !== my || (e as Error)?.name === "AbortError") return;
      setActionError(messageOf(e, "Could not load more tasks."));
    } finally {
      if (gen.current === my) {
        moreBusy.current = false;
        setLoadingMore(false);
      }
    }
  }, []);

  const filtersKey = JSON.stringify(list.filters);
  useEffect(() => {
    void loadFirst();
  }, [filtersKey, loadFirst]);

  useEffect(() => () => abortRef.current?.abort(), []);

  // Live events; a resync reloads the first page.
  useEffect(
    () =>
      subscribe((m) => {
        if (m.kind === "event") dispatch({ type: "event", event: m.event });
        else void loadFirst(true);
      }),
    [subscribe, loadFirst],
  );

  // Changes between our first load and the socket's first hello would be missed: reload once.
  const wasOpen = useRef(liveState === "open");
  useEffect(() => {
    if (liveState === "open" && !wasOpen.current) {
      wasOpen.current = true;
      void loadFirst(true);
    }
  }, [liveState, loadFirst]);

  const more = hasMore(list);

  // Infinite scroll.
  useEffect(() => {
    const el = sentinelRef.current;
    if (!el || !more || !ready || typeof IntersectionObserver === "undefined") return;
    const io = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) void loadMore();
      },
      { rootMargin: "300px 0px" },
    );
    io.observe(el);
    return () => io.disconnect();
  }, [more, list.items.length, ready, loadMore]);

  const setFilters = useCallback((f: TaskFilters) => {
    if (JSON.stringify(f) === JSON.stringify(listRef.current.filters)) return;
    // A page still on its way was asked for under the old filters: it must not fill (and mark
    // loaded) the new list before the filters effect above sends the new request.
    gen.current++;
    abortRef.current?.abort();
    setLoadError(null); // in the same render as the list's reset, so "Loading" shows at once
    dispatch({ type: "filters", filters: f });
  }, []);

  function markBusy(id: number, on: boolean) {
    setBusyIds((s) => {
      const n = new Set(s);
      if (on) n.add(id);
      else n.delete(id);
      return n;
    });
  }

  function setPending(id: number, value: boolean | null) {
    setPendingDone((m) => {
      const n = new Map(m);
      if (value === null) n.delete(id);
      else n.set(id, value);
      return n;
    });
  }

  async function onToggle(t: Task) {
    const want = !(pendingDone.get(t.id) ?? t.completed);
    const saving = completing.run(t.id, () => setCompleted(t.id, want));
    // A toggle while this task's PATCH is on its way is dropped: the checkbox keeps showing
    // the value being saved, and the answer (or its failure) decides what it shows next.
    if (!saving) return;
    setPending(t.id, want);
    setActionError(null);
    try {
      dispatch({ type: "upsert", task: await saving });
    } catch (e) {
      if (isApiError(e) && e.status === 404) dispatch({ type: "remove", id: t.id });
      setActionError(messageOf(e, "Could not update the task."));
    } finally {
      setPending(t.id, null);
    }
  }

  async function onDelete(t: Task) {
    markBusy(t.id, true);
    setActionError(null);
    try {
      await deleteTask(t.id);
      dispatch({ type: "remove", id: t.id });
      setDeleted({ task: t, key: Date.now(), idempotencyKey: newIdempotencyKey() });
    } catch (e) {
      if (isApiError(e) && e.status === 404) dispatch({ type: "remove", id: t.id });
      else setActionError(messageOf(e, "Could not delete the task."));
    } finally {
      markBusy(t.id, false);
    }
  }

  const dismissToast = useCallback(() => setDeleted(null), []);

  async function onUndo() {
    const d = deleted;
    if (!d) return;
    setDeleted(null);
    try {
      dispatch({ type: "upsert", task: await createTask(recreateInput(d.task), d.idempotencyKey) });
    } catch (e) {
      setActionError(messageOf(e, "Could not restore the task."));
      // Offer Undo again (unless another delete's toast is up by now): with the same key when
      // the first try may have created the task, so that the retry replays it.
      const idempotencyKey = keepsIdempotencyKey(e) ? d.idempotencyKey : newIdempotencyKey();
      setDeleted((cur) => cur ?? { ...d, key: Date.now(), idempotencyKey });
    }
  }

  const filtered = isFiltered(list.filters);

  return (
    <div className="min-h-screen">
      <header className="border-b border-slate-200 bg-white">
        <div className="mx-auto flex max-w-4xl flex-wrap items-center gap-x-4 gap-y-2 px-4 py-3">
          <h1 className="text-xl font-bold tracking-tight text-blue-700">TaskFlow</h1>
          <nav aria-label="Main" className="text-sm">
            <ul className="flex gap-3">
              <li>
                <Link href="/dashboard/" aria-current="page" className="font-medium text-slate-900 underline underline-offset-4">
                  Tasks
                </Link>
              </li>
            </ul>
          </nav>
          <div className="ml-auto flex min-w-0 flex-wrap items-center gap-3">
            <LiveIndicator />
            <span className="max-w-[12rem] truncate text-sm text-slate-700" title={session.user.email}>
              {session.user.name}
            </span>
            <button type="button" onClick={onSignOut} className={`${secondaryButton} px-3 py-1.5`}>
              Sign out
            </button>
          </div>
        </div>
        <ConnectionBanner />
      </header>

      <main className="mx-auto max-w-4xl space-y-4 px-4 py-4">
        <h2 className="sr-only">Your tasks</h2>
        <CreateTaskForm onCreated={(t) => dispatch({ type: "upsert", task: t })} />
        <Toolbar filters={list.filters} onChange={setFilters} />

        {actionError && (
          <div role="alert" className="flex items-start justify-between gap-3 rounded-md bg-red-50 px-3 py-2 text-sm text-red-800">
            <span>{actionError}</span>
            <button type="button" onClick={() => setActionError(null)} className="font-medium underline">
              Dismiss
            </button>
          </div>
        )}

        <section aria-label="Task list" className="rounded-lg bg-white shadow-sm">
          {loading && <p className="px-4 py-6 text-center text-slate-500">Loading tasks…</p>}
          {loadError !== null && (
            <div role="alert" className="flex flex-col items-center gap-3 px-4 py-6 text-center text-red-800">
              <p>{loadError}</p>
              <button type="button" onClick={() => void loadFirst()} className={secondaryButton}>
                Retry
              </button>
            </div>
          )}
          {ready && list.items.length === 0 && !more && (
            <p className="px-4 py-6 text-center text-slate-500">{filtered ? "No tasks match" : "No tasks yet"}</p>
          )}
          {ready && (
            <ul aria-label="Tasks">
              {list.items.map((t) => (
                <TaskItem
                  key={t.id}
                  task={t}
                  checked={pendingDone.get(t.id) ?? t.completed}
                  busy={busyIds.has(t.id) || pendingDone.has(t.id)}
                  onToggle={onToggle}
                  onEdit={setEditing}
                  onDelete={onDelete}
                />
              ))}
            </ul>
          )}
          {ready && more && (
            <div className="border-t border-slate-100 p-3 text-center">
              <div ref={sentinelRef} aria-hidden="true" className="h-px" />
              <button type="button" onClick={() => void loadMore()} disabled={loadingMore} className={secondaryButton}>
                {loadingMore ? "Loading…" : "Load more"}
              </button>
            </div>
          )}
        </section>
      </main>

      {editing && (
        <EditTaskDialog
          task={editing}
          onSaved={(t) => dispatch({ type: "upsert", task: t })}
          onClose={() => setEditing(null)}
        />
      )}
      {deleted && <UndoToast key={deleted.key} onUndo={onUndo} onDismiss={dismissToast} />}
    </div>
  );
}
