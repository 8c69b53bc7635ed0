"use client";

import { useId } from "react";
import type { TaskDraft } from "@/lib/task-form";
import { PRIORITIES, type Priority } from "@/lib/types";
import { Field, SelectField, type Options } from "../ui/Field";
import { fieldClass } from "../ui/styles";

/** The priorities as select options, in PRIORITIES order (also used by the Toolbar's filter). */
export const PRIORITY_OPTIONS: Options<Priority> = PRIORITIES.map((p) => [p, p[0].toUpperCase() + p.slice(1)] as const);

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
      <Field id={`${id}-desc`} label="Description" className="sm:col-span-2">
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
      </Field>
      <SelectField
        id={`${id}-prio`}
        label="Priority"
        value={draft.priority}
        options={PRIORITY_OPTIONS}
        onChange={(priority) => onChange({ priority })}
        aria-invalid={inv("priority")}
        aria-describedby={desc("priority")}
      />
      <Field id={`${id}-due`} label="Due date">
        <input
          id={`${id}-due`}
          type="datetime-local"
          value={draft.due}
          onChange={(e) => onChange({ due: e.target.value })}
          aria-invalid={inv("due_date")}
          aria-describedby={desc("due_date")}
          className={fieldClass}
        />
      </Field>
      <Field id={`${id}-tags`} label="Tags" className="sm:col-span-2">
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
      </Field>
    </div>
  );
}
