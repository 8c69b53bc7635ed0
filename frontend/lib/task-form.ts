/** Pure helpers for the task forms: tags text, datetime-local ↔ ISO with offset. */
import type { Task, TaskInput } from "./types";

/** "home, work ,, home" → ["home", "work"] (trimmed, empty and repeated ones dropped). */
export function parseTags(text: string): string[] {
  const out: string[] = [];
  for (const part of text.split(",")) {
    const t = part.trim();
    if (t && !out.includes(t)) out.push(t);
  }
  return out;
}

export function formatTags(tags: string[]): string {
  return tags.join(", ");
}

function pad(n: number, w = 2): string {
  return String(Math.abs(n)).padStart(w, "0");
}

/**
 * A datetime-local value ("2026-12-01T09:00") → ISO 8601 with the local offset
 * ("2026-12-01T09:00:00+01:00"); "" → null. `offsetMinutes` is Date#getTimezoneOffset()
 * for that moment (minutes *behind* UTC), taken from the browser unless given.
 */
export function localInputToIso(value: string, offsetMinutes?: number): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, s] = m;
  const off =
    offsetMinutes ?? new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s ?? 0)).getTimezoneOffset();
  const east = -off; // minutes ahead of UTC
  const sign = east >= 0 ? "+" : "-";
  return `${y}-${mo}-${d}T${h}:${mi}:${s ?? "00"}${sign}${pad(Math.trunc(east / 60))}:${pad(east % 60)}`;
}

/** An ISO timestamp → the datetime-local value in the browser's zone (or the given date's fields). */
export function isoToLocalInput(iso: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/**
 * A due date as the screens show it, in the browser's zone and locale (the screens pass neither;
 * tests fix both); unreadable → as given.
 */
export function formatDue(iso: string, locale?: string, timeZone?: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(locale, { dateStyle: "medium", timeStyle: "short", timeZone });
}

/** The editable fields of a task, as the forms hold them. */
export interface TaskDraft {
  title: string;
  description: string;
  priority: Task["priority"];
  tags: string;
  due: string;
}

export function draftOf(t: Task): TaskDraft {
  return {
    title: t.title,
    description: t.description ?? "",
    priority: t.priority,
    tags: formatTags(t.tags),
    due: isoToLocalInput(t.due_date),
  };
}

/** The fields of `draft` that differ from `task` (as a PATCH body without version). */
export function changedFields(task: Task, draft: TaskDraft): TaskInput {
  const out: TaskInput = {};
  const before = draftOf(task);
  if (draft.title.trim() !== task.title) out.title = draft.title.trim();
  if (draft.description !== before.description) out.description = draft.description;
  if (draft.priority !== task.priority) out.priority = draft.priority;
  const tags = parseTags(draft.tags);
  if (tags.join("\u0000") !== task.tags.join("\u0000")) out.tags = tags;
  if (draft.due !== before.due) out.due_date = draft.due ? localInputToIso(draft.due) : null;
  return out;
}

/** What re-creates a deleted task (Undo). */
export function recreateInput(t: Task): TaskInput {
  return {
    title: t.title,
    description: t.description,
    priority: t.priority,
    tags: [...t.tags],
    due_date: t.due_date,
    completed: t.completed,
  };
}
