/**
 * The dashboard's task list as pure state: pages from the API, local write results and
 * live events, merged under the current filters and sort without duplicates.
 */
import type { EventMessage, Priority, Task, TaskFilters, TaskPage } from "./types";
import { DEFAULT_FILTERS, isTaskEvent, taskOfEvent } from "./types";

export interface TaskListState {
  filters: TaskFilters;
  /** Loaded items, in sort order, each id once. */
  items: Task[];
  /** Cursor of the next page; null when everything is loaded (or nothing yet). */
  nextCursor: string | null;
  /** True once the first page for the current filters arrived; until then the list is "Loading". */
  loaded: boolean;
  /** Highest version seen per task id (from pages, writes and events). */
  versions: Record<number, number>;
  /** Ids known to be deleted; they never come back. */
  deleted: Record<number, true>;
  /**
   * Tasks written or changed live since the pending first-page request was sent (see
   * "reload"): that page may have been read before them, so it must not undo them.
   */
  recent: Record<number, Task>;
}

export type TaskListAction =
  | { type: "filters"; filters: TaskFilters }
  /** A first-page request (reset) is about to be sent. */
  | { type: "reload" }
  | { type: "page"; page: TaskPage; reset: boolean }
  | { type: "upsert"; task: Task }
  | { type: "remove"; id: number }
  | { type: "event"; event: EventMessage };

export function initialTaskList(filters: TaskFilters = DEFAULT_FILTERS): TaskListState {
  return {
    filters,
    items: [],
    nextCursor: null,
    loaded: false,
    versions: {},
    deleted: {},
    recent: {},
  };
}

/** True when the server has more pages after the loaded items. */
export function hasMore(state: Pick<TaskListState, "nextCursor">): boolean {
  return state.nextCursor !== null;
}

const PRIORITY_RANK: Record<Priority, number> = { low: 0, medium: 1, high: 2 };

/** Does the task pass the filters (as the server's list query would decide)? */
export function matchesFilters(task: Task, f: TaskFilters): boolean {
  if (f.status === "pending" && task.completed) return false;
  if (f.status === "completed" && !task.completed) return false;
  if (f.priority && task.priority !== f.priority) return false;
  for (const t of f.tags) if (!task.tags.includes(t)) return false;
  const q = f.q.trim().toLowerCase();
  if (q && !task.title.toLowerCase().includes(q) && !(task.description ?? "").toLowerCase().includes(q)) {
    return false;
  }
  return true;
}

function cmpNum(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function timeOf(s: string | null): number {
  if (s === null) return Number.POSITIVE_INFINITY; // undated sorts after dated ascending
  const t = Date.parse(s);
  return Number.isNaN(t) ? Number.POSITIVE_INFINITY : t;
}

/** Compares two tasks as the API orders them: by the sort field, ties by id, both in `order`. */
export function compareTasks(a: Task, b: Task, f: Pick<TaskFilters, "sort" | "order">): number {
  let c = 0;
  switch (f.sort) {
    case "created_at":
      c = cmpNum(timeOf(a.created_at), timeOf(b.created_at));
      break;
    case "updated_at":
      c = cmpNum(timeOf(a.updated_at), timeOf(b.updated_at));
      break;
    case "due_date":
      c = cmpNum(timeOf(a.due_date), timeOf(b.due_date));
      break;
    case "priority":
      c = cmpNum(PRIORITY_RANK[a.priority] ?? 1, PRIORITY_RANK[b.priority] ?? 1);
      break;
    case "title": {
      const ta = a.title.toLowerCase();
      const tb = b.title.toLowerCase();
      c = ta < tb ? -1 : ta > tb ? 1 : 0;
      break;
    }
  }
  if (c === 0) c = cmpNum(a.id, b.id);
  return f.order === "desc" ? -c : c;
}

function withoutId(items: Task[], id: number): Task[] {
  const i = items.findIndex((t) => t.id === id);
  return i < 0 ? items : [...items.slice(0, i), ...items.slice(i + 1)];
}

/**
 * `items` with `task` at its place under the filters and sort (or left out when it does not
 * match, or when its place is past the last loaded item while more pages exist: it will come
 * with a later page).
 */
function placed(items: Task[], task: Task, filters: TaskFilters, more: boolean): Task[] {
  const rest = withoutId(items, task.id);
  if (!matchesFilters(task, filters)) return rest;
  const pos = rest.findIndex((t) => compareTasks(task, t, filters) < 0);
  if (pos < 0) return more ? rest : [...rest, task];
  return [...rest.slice(0, pos), task, ...rest.slice(pos)];
}

/** Merges one page from the API. `reset` replaces the items (first page, reload). */
export function applyPage(state: TaskListState, page: TaskPage, reset: boolean): TaskListState {
  const versions = { ...state.versions };
  let items = reset ? [] : [...state.items];
  const present = new Set(items.map((t) => t.id));
  for (const task of page.items) {
    if (state.deleted[task.id]) continue;
    const known = versions[task.id];
    if (known !== undefined && task.version < known) continue; // we have seen a newer one
    if (present.has(task.id)) {
      const i = items.findIndex((t) => t.id === task.id);
      if (items[i].version >= task.version) continue;
      items.splice(i, 1);
    }
    items.push(task);
    present.add(task.id);
    versions[task.id] = Math.max(known ?? 0, task.version);
  }
  const more = page.next_cursor !== null;
  if (reset) {
    // What changed while this page was on its way is newer than the page: keep it.
    for (const task of Object.values(state.recent)) {
      if (state.deleted[task.id] || task.version < versions[task.id]) continue;
      if (items.some((t) => t.id === task.id && t.version >= task.version)) continue;
      items = placed(items, task, state.filters, more);
    }
  }
  return {
    ...state,
    items,
    versions,
    nextCursor: page.next_cursor,
    loaded: true,
    recent: reset ? {} : state.recent,
  };
}

/** Applies a task as it is now (from a write's response or a live event). */
export function upsertTask(state: TaskListState, task: Task): TaskListState {
  if (state.deleted[task.id]) return state;
  const known = state.versions[task.id];
  if (known !== undefined && task.version <= known) return state; // stale or duplicate
  return {
    ...state,
    items: placed(state.items, task, state.filters, hasMore(state)),
    versions: { ...state.versions, [task.id]: task.version },
    recent: { ...state.recent, [task.id]: task },
  };
}

/** Removes a deleted task for good. */
function removeTask(state: TaskListState, id: number): TaskListState {
  return { ...state, items: withoutId(state.items, id), deleted: { ...state.deleted, [id]: true } };
}

/** Applies a live event; non-task events leave the list as it is. */
export function applyEvent(state: TaskListState, event: EventMessage): TaskListState {
  if (!isTaskEvent(event)) return state;
  const task = taskOfEvent(event);
  if (!task) return state;
  if (event.type === "task.deleted") return removeTask(state, task.id);
  return upsertTask(state, task);
}

/** New filters: the list starts empty until the first page for them arrives. */
function setFilters(state: TaskListState, filters: TaskFilters): TaskListState {
  return { ...state, filters, items: [], nextCursor: null, loaded: false };
}

export function taskListReducer(state: TaskListState, action: TaskListAction): TaskListState {
  switch (action.type) {
    case "filters":
      return setFilters(state, action.filters);
    case "reload":
      return { ...state, recent: {} };
    case "page":
      return applyPage(state, action.page, action.reset);
    case "upsert":
      return upsertTask(state, action.task);
    case "remove":
      return removeTask(state, action.id);
    case "event":
      return applyEvent(state, action.event);
  }
}

/** True when any filter narrows the list (sort does not count). */
export function isFiltered(f: TaskFilters): boolean {
  return f.status !== "all" || f.priority !== null || f.tags.length > 0 || f.q.trim() !== "";
}
