"use client";

import { useId } from "react";
import type { TaskDraft } from "@/lib/task-form";
import { PRIORITIES, type Priority } from "@/lib/types";
import { fieldClass, labelClass } from "./styles";

/** Description, Priority, Tags and Due date inputs (shared by the create form and the edit dialog). */
export function TaskFields({
  draft,
  onChange,
  invalidField,
  describedBy,
}: {
  draft: Pick<TaskDraft, "description" | "priority" | "tags" | "due">;
  onChange: (patch: Partial<TaskDraft>) => void;
  invalidField?: string;
  describedBy?: string;
}) {
  const id = useId();
  const inv = (f: string) => (invalidField === f ? true : undefined);
  const desc = (f: string) => (invalidField === f ? describedBy : undefined);
  return (
    <div className="grid grid-cols-1 gap-3 sm:grid-cols-2">
      <div className="sm:col-span-2">
        <label htmlFor={`${id}-desc`} className={labelClass}>
          Description
        </label>
        <textarea
          id={`${id}-desc`}
          rows={3}
          maxLength={10000}
          value={draft.description}
          onChange={(e) => onChange({ description: e.target.value })}
          aria-invalid={inv("description")}
          aria-describedby={desc("description")}
          className={fieldClass}
        />
      </div>
      <div>
        <label htmlFor={`${id}-prio`} className={labelClass}>
          Priority
        </label>
        <select
          id={`${id}-prio`}
          value={draft.priority}
          onChange={(e) => onChange({ priority: e.target.value as Priority })}
          aria-invalid={inv("priority")}
          aria-describedby={desc("priority")}
          className={fieldClass}
        >
          {PRIORITIES.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </div>
      <div>
        <label htmlFor={`${id}-due`} className={labelClass}>
          Due date
        </label>
        <input
          id={`${id}-due`}
          type="datetime-local"
          value={draft.due}
          onChange={(e) => onChange({ due: e.target.value })}
          aria-invalid={inv("due_date")}
          aria-describedby={desc("due_date")}
          className={fieldClass}
        />
      </div>
      <div className="sm:col-span-2">
        <label htmlFor={`${id}-tags`} className={labelClass}>
          Tags
        </label>
        <input
          id={`${id}-tags`}
          value={draft.tags}
          placeholder="home, errands"
          onChange={(e) => onChange({ tags: e.target.value })}
          aria-invalid={inv("tags")}
          aria-describedby={[desc("tags"), `${id}-tags-hint`].filter(Boolean).join(" ")}
          className={fieldClass}
        />
        <p id={`${id}-tags-hint`} className="mt-1 text-xs text-slate-500">
          Separate tags with commas.
        </p>
      </div>
    </div>
  );
}
