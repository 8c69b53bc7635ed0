import { describe, expect, it } from "vitest";
import {
  applyEvent,
  applyPage,
  compareTasks,
  hasMore,
  initialTaskList,
  isFiltered,
  matchesFilters,
  taskListReducer,
  upsertTask,
  type TaskListState,
} from "./task-list";
import { task } from "./test-support";
import { DEFAULT_FILTERS, type EventMessage, type Task, type TaskFilters } from "./types";

function ev(type: string, t: Task, seq = 1): EventMessage {
  return { type, seq, event_id: `e${seq}`, timestamp: t.updated_at, data: { task: t, changed_fields: [] } };
}

const ids = (s: TaskListState) => s.items.map((t) => t.id);

function loaded(items: Task[], next: string | null, filters: TaskFilters = DEFAULT_FILTERS): TaskListState {
  return applyPage(initialTaskList(filters), { items, next_cursor: next }, true);
}

describe("pages", () => {
  it("appends the next page and drops ids already held", () => {
    let s = loaded([task(5), task(4), task(3)], "c1");
    expect(hasMore(s)).toBe(true);
    s = applyPage(s, { items: [task(3), task(2), task(1)], next_cursor: null }, false);
    expect(ids(s)).toEqual([5, 4, 3, 2, 1]);
    expect(hasMore(s)).toBe(false);
    expect(s.nextCursor).toBeNull();
  });

  it("a reset replaces the items", () => {
    let s = loaded([task(5), task(4)], "c1");
    s = applyPage(s, { items: [task(9)], next_cursor: null }, true);
    expect(ids(s)).toEqual([9]);
  });

  it("a page never brings back a deleted task or an older version", () => {
    let s = loaded([task(5), task(4)], "c1");
    s = applyEvent(s, ev("task.deleted", task(4), 1));
    s = applyEvent(s, ev("task.updated", task(6, { version: 3, completed: true }), 2));
    s = { ...s, filters: { ...s.filters, status: "pending" } };
    s = applyEvent(s, ev("task.updated", task(3, { version: 2, completed: true }), 3));
    s = applyPage(s, { items: [task(4), task(3)], next_cursor: null }, false);
    expect(ids(s)).toEqual([6, 5]);
  });

  it("a reload's page does not undo what changed while it was on its way", () => {
    let s = loaded([task(2), task(1)], null);
    s = taskListReducer(s, { type: "reload" });
    s = applyEvent(s, ev("task.updated", task(1, { version: 2, title: "renamed" }), 1));
    s = applyEvent(s, ev("task.created", task(3), 2));
    // The page was read before both changes.
    s = applyPage(s, { items: [task(2), task(1)], next_cursor: null }, true);
    expect(ids(s)).toEqual([3, 2, 1]);
    expect(s.items.find((t) => t.id === 1)?.title).toBe("renamed");
    // What was already there before the reload was sent is the page's to decide.
    s = taskListReducer(s, { type: "reload" });
    s = applyPage(s, { items: [task(2)], next_cursor: null }, true);
    expect(ids(s)).toEqual([2]);
  });

  it("a page item newer than the one held replaces it", () => {
    let s = loaded([task(5), task(4)], "c1");
    s = applyPage(s, { items: [task(4, { version: 2, title: "new" })], next_cursor: null }, false);
    expect(s.items.filter((t) => t.id === 4)).toHaveLength(1);
    expect(s.items.find((t) => t.id === 4)?.title).toBe("new");
  });
});

describe("events", () => {
  it("inserts a created task in sort order (created_at desc)", () => {
    let s = loaded([task(9), task(5), task(2)], null);
    s = applyEvent(s, ev("task.created", task(7)));
    expect(ids(s)).toEqual([9, 7, 5, 2]);
    s = applyEvent(s, ev("task.created", task(10)));
    expect(ids(s)).toEqual([10, 9, 7, 5, 2]);
  });

  it("inserts in ascending title order, case-insensitively", () => {
    const f: TaskFilters = { ...DEFAULT_FILTERS, sort: "title", order: "asc" };
    let s = loaded([task(1, { title: "apple" }), task(2, { title: "Cherry" })], null, f);
    s = applyEvent(s, ev("task.created", task(3, { title: "banana" })));
    expect(ids(s)).toEqual([1, 3, 2]);
  });

  it("moves an updated task to its new place", () => {
    const f: TaskFilters = { ...DEFAULT_FILTERS, sort: "priority", order: "desc" };
    let s = loaded([task(1, { priority: "high" }), task(2, { priority: "medium" }), task(3, { priority: "low" })], null, f);
    s = applyEvent(s, ev("task.updated", task(3, { priority: "high", version: 2 })));
    expect(ids(s)).toEqual([3, 1, 2]);
    expect(s.items[0].version).toBe(2);
  });

  it("ignores a stale or duplicate version", () => {
    let s = loaded([task(1, { version: 3, title: "v3" })], null);
    const before = s;
    s = applyEvent(s, ev("task.updated", task(1, { version: 2, title: "v2" })));
    s = applyEvent(s, ev("task.updated", task(1, { version: 3, title: "v3 again" })));
    expect(s).toBe(before);
    expect(s.items[0].title).toBe("v3");
    s = applyEvent(s, ev("task.updated", task(1, { version: 4, title: "v4" })));
    expect(s.items[0].title).toBe("v4");
  });

  it("the echo of an own write (same version) is not applied twice", () => {
    const created = task(2);
    const after = upsertTask(loaded([task(1)], null), created);
    const s = applyEvent(after, ev("task.created", created));
    expect(s).toBe(after); // left as it was: nothing re-placed, no new `recent` entry
    expect(ids(s)).toEqual([2, 1]);
  });

  it("removes a task that no longer matches the filters", () => {
    const f: TaskFilters = { ...DEFAULT_FILTERS, status: "pending" };
    let s = loaded([task(2), task(1)], null, f);
    s = applyEvent(s, ev("task.completed", task(2, { completed: true, version: 2 })));
    expect(ids(s)).toEqual([1]);
    s = applyEvent(s, ev("task.uncompleted", task(2, { completed: false, version: 3 })));
    expect(ids(s)).toEqual([2, 1]);
  });

  it("does not insert a non-matching new task", () => {
    const f: TaskFilters = { ...DEFAULT_FILTERS, priority: "high" };
    let s = loaded([task(1, { priority: "high" })], null, f);
    s = applyEvent(s, ev("task.created", task(2, { priority: "low" })));
    expect(ids(s)).toEqual([1]);
  });

  it("does not insert past the last loaded item while more pages exist", () => {
    let s = loaded([task(9), task(8)], "c1");
    s = applyEvent(s, ev("task.created", task(3)));
    expect(ids(s)).toEqual([9, 8]);
    // it comes with the later page
    s = applyPage(s, { items: [task(7), task(3)], next_cursor: null }, false);
    expect(ids(s)).toEqual([9, 8, 7, 3]);
  });

  it("an update moving a task past the loaded end removes it until its page comes", () => {
    const f: TaskFilters = { ...DEFAULT_FILTERS, sort: "title", order: "asc" };
    let s = loaded([task(1, { title: "a" }), task(2, { title: "b" })], "c1", f);
    s = applyEvent(s, ev("task.updated", task(1, { title: "zzz", version: 2 })));
    expect(ids(s)).toEqual([2]);
  });

  it("inserts at the end when everything is loaded", () => {
    let s = loaded([task(9), task(8)], null);
    s = applyEvent(s, ev("task.created", task(3)));
    expect(ids(s)).toEqual([9, 8, 3]);
  });

  it("removes a deleted task, and a late update cannot revive it", () => {
    let s = loaded([task(2), task(1)], null);
    s = applyEvent(s, ev("task.deleted", task(2)));
    expect(ids(s)).toEqual([1]);
    s = applyEvent(s, ev("task.updated", task(2, { version: 5 })));
    expect(ids(s)).toEqual([1]);
  });

  it("ignores other event types", () => {
    const s = loaded([task(1)], null);
    expect(applyEvent(s, ev("reminder.due", task(5)))).toBe(s);
  });

  it("reducer routes actions", () => {
    let s = taskListReducer(initialTaskList(), { type: "page", page: { items: [task(1)], next_cursor: null }, reset: true });
    s = taskListReducer(s, { type: "upsert", task: task(2) });
    s = taskListReducer(s, { type: "remove", id: 1 });
    expect(ids(s)).toEqual([2]);
    s = taskListReducer(s, { type: "filters", filters: { ...DEFAULT_FILTERS, q: "x" } });
    expect(ids(s)).toEqual([]);
    expect(s.loaded).toBe(false);
  });

  it("is loaded only once a first page for the current filters arrived, not by writes or events", () => {
    let s = taskListReducer(initialTaskList(), { type: "upsert", task: task(1) });
    s = taskListReducer(s, { type: "event", event: ev("task.created", task(2)) });
    expect(s.loaded).toBe(false);
    s = taskListReducer(s, { type: "page", page: { items: [], next_cursor: null }, reset: true });
    expect(s.loaded).toBe(true);
    s = taskListReducer(s, { type: "reload" });
    expect(s.loaded).toBe(true); // a background reload keeps the list shown
  });
});

describe("matching and order", () => {
  it("q matches title or description, case-insensitively", () => {
    const f = { ...DEFAULT_FILTERS, q: "MiLk" };
    expect(matchesFilters(task(1, { title: "Buy MILK" }), f)).toBe(true);
    expect(matchesFilters(task(1, { description: "Oat Milk" }), f)).toBe(true);
    expect(matchesFilters(task(1, { title: "Bread" }), f)).toBe(false);
  });

  it("every tag must be present", () => {
    const f = { ...DEFAULT_FILTERS, tags: ["home", "urgent"] };
    expect(matchesFilters(task(1, { tags: ["home", "urgent", "x"] }), f)).toBe(true);
    expect(matchesFilters(task(1, { tags: ["home"] }), f)).toBe(false);
  });

  it("status and priority", () => {
    expect(matchesFilters(task(1, { completed: true }), { ...DEFAULT_FILTERS, status: "completed" })).toBe(true);
    expect(matchesFilters(task(1), { ...DEFAULT_FILTERS, status: "completed" })).toBe(false);
    expect(matchesFilters(task(1, { completed: true }), { ...DEFAULT_FILTERS, status: "pending" })).toBe(false);
    expect(matchesFilters(task(1, { priority: "low" }), { ...DEFAULT_FILTERS, priority: "high" })).toBe(false);
  });

  it("undated tasks sort after dated ones ascending, before them descending; ties by id", () => {
    const a = task(1, { due_date: "2026-12-01T00:00:00.000Z" });
    const b = task(2, { due_date: null });
    const c = task(3, { due_date: "2026-12-01T00:00:00.000Z" });
    const asc = { sort: "due_date" as const, order: "asc" as const };
    expect([b, c, a].sort((x, y) => compareTasks(x, y, asc)).map((t) => t.id)).toEqual([1, 3, 2]);
    const desc = { sort: "due_date" as const, order: "desc" as const };
    expect([a, c, b].sort((x, y) => compareTasks(x, y, desc)).map((t) => t.id)).toEqual([2, 3, 1]);
  });

  it("isFiltered ignores sort", () => {
    expect(isFiltered({ ...DEFAULT_FILTERS, sort: "title" })).toBe(false);
    expect(isFiltered({ ...DEFAULT_FILTERS, tags: ["a"] })).toBe(true);
  });
});
