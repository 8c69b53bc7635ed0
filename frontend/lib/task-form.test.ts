import { describe, expect, it } from "vitest";
import { changedFields, draftOf, formatDue, localInputToIso, parseTags, recreateInput } from "./task-form";
import { task } from "./test-support";

const base = task(1, {
  user_id: "u",
  title: "Buy milk",
  completed: true,
  completed_at: "2026-11-01T00:00:00.000Z",
  tags: ["home"],
  version: 4,
});

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

  it("formats a due date in the given (else the browser's) locale and zone, one copy for the list and the dialog", () => {
    const iso = "2026-12-01T09:00:00.000Z";
    expect(formatDue(iso, "en-GB", "UTC")).toBe("1 Dec 2026, 09:00");
    expect(formatDue(iso, "en-GB", "Asia/Kolkata")).toBe("1 Dec 2026, 14:30");
    expect(formatDue(iso, "de-DE", "UTC")).toBe("01.12.2026, 09:00");
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
