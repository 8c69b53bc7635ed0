import { describe, expect, it } from "vitest";
import { changedFields, draftOf, formatDue, localInputToIso, parseTags, recreateInput } from "./task-form";
import type { Task } from "./types";

const base: Task = {
  id: 1,
  user_id: "u",
  title: "Buy milk",
  description: "",
  completed: true,
  completed_at: "2026-11-01T00:00:00.000Z",
  priority: "medium",
  tags: ["home"],
  due_date: null,
  created_at: "2026-11-01T00:00:00.000Z",
  updated_at: "2026-11-01T00:00:00.000Z",
  version: 4,
};

describe("task form helpers", () => {
  it("parses comma-separated tags", () => {
    expect(parseTags(" home, work ,, home ,")).toEqual(["home", "work"]);
    expect(parseTags("")).toEqual([]);
  });

  it("adds the offset to a datetime-local value", () => {
    expect(localInputToIso("2026-12-01T09:00", -60)).toBe("2026-12-01T09:00:00+01:00");
    expect(localInputToIso("2026-12-01T09:00", 0)).toBe("2026-12-01T09:00:00+00:00");
    expect(localInputToIso("2026-12-01T09:00", 330)).toBe("2026-12-01T09:00:00-05:30");
    expect(localInputToIso("2026-12-01T09:00", -345)).toBe("2026-12-01T09:00:00+05:45");
    expect(localInputToIso("", 0)).toBeNull();
  });

  it("lists only the changed fields", () => {
    const d = draftOf(base);
    expect(changedFields(base, d)).toEqual({});
    expect(changedFields(base, { ...d, title: " New " , tags: "home, x" })).toEqual({ title: "New", tags: ["home", "x"] });
    expect(changedFields(base, { ...d, priority: "high" })).toEqual({ priority: "high" });
  });

  it("formats a due date in the browser's locale, one copy for the list and the dialog", () => {
    const iso = "2026-12-01T09:00:00.000Z";
    const opts = { dateStyle: "medium", timeStyle: "short" } as const;
    expect(formatDue(iso)).toBe(new Date(iso).toLocaleString(undefined, opts));
    expect(formatDue("not a date")).toBe("not a date");
  });

  it("re-creates with the deleted task's fields", () => {
    expect(recreateInput(base)).toEqual({
      title: "Buy milk",
      description: "",
      priority: "medium",
      tags: ["home"],
      due_date: null,
      completed: true,
    });
  });
});
