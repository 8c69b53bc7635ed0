"use client";

import { useId, useState } from "react";
import { isApiError, updateTask } from "@/lib/api";
import { changedFields, draftOf, formatDue, formatTags, type TaskDraft } from "@/lib/task-form";
import { isTask, type Task, type TaskInput } from "@/lib/types";
import { Dialog } from "../ui/Dialog";
import { Field } from "../ui/Field";
import { FormError } from "../ui/FormError";
import { fieldClass, primaryButton, secondaryButton } from "../ui/styles";
import { TaskFields } from "./TaskFields";

function show(field: keyof TaskInput, v: TaskInput[keyof TaskInput]): string {
  if (v === null || v === undefined || v === "") return "—";
  if (field === "tags") return formatTags(v as string[]) || "—";
  if (field === "due_date") return formatDue(v as string);
  return String(v);
}

const FIELD_LABEL: Record<string, string> = {
  title: "Title",
  description: "Description",
  priority: "Priority",
  tags: "Tags",
  due_date: "Due date",
  completed: "Completed",
};

/**
 * Edit dialog. Save sends the changed fields with `version`; a 409 version_conflict shows
 * "This task changed" with the newer version next to the user's, to keep one or the other.
 */
export function EditTaskDialog({
  task,
  onSaved,
  onClose,
}: {
  task: Task;
  onSaved: (t: Task) => void;
  onClose: () => void;
}) {
  const id = useId();
  const [draft, setDraft] = useState<TaskDraft>(() => draftOf(task));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ message: string; field?: string } | null>(null);
  const [conflict, setConflict] = useState<{ current: Task; mine: TaskInput } | null>(null);
  const errorId = `${id}-error`;
  const headingId = `${id}-heading`;
  // While a save is out, Escape and the backdrop do nothing, so the user sees the save finish,
  // and its onClose cannot land on whatever dialog would be open by then. (Dialog reads onClose
  // through a ref, so a new function each render costs nothing.)
  const dialogClose = busy ? () => {} : onClose;

  async function send(patch: TaskInput, version: number) {
    setBusy(true);
    setError(null);
    try {
      const saved = await updateTask(task.id, { ...patch, version });
      onSaved(saved);
      onClose();
    } catch (err) {
      if (isApiError(err) && err.code === "version_conflict" && isTask(err.current)) {
        onSaved(err.current);
        setConflict({ current: err.current, mine: patch });
      } else if (isApiError(err)) {
        setError({ message: err.message, field: err.field });
      } else {
        setError({ message: "Could not save the task." });
      }
      setBusy(false);
    }
  }

  function onSubmit(e: React.FormEvent) {
    e.preventDefault();
    if (busy) return;
    if (!draft.title.trim()) {
      setError({ message: "Enter a title for the task.", field: "title" });
      return;
    }
    const patch = changedFields(task, draft);
    if (Object.keys(patch).length === 0) {
      onClose();
      return;
    }
    void send(patch, task.version);
  }

  if (conflict) {
    const fields = Object.keys(conflict.mine) as (keyof TaskInput)[];
    return (
      <Dialog key="conflict" labelledBy={headingId} onClose={dialogClose}>
        <h2 id={headingId} className="text-lg font-semibold">
          This task changed
        </h2>
        <p className="mt-1 text-sm text-slate-600">
          Someone saved a newer version while you were editing. Keep your changes or take theirs.
        </p>
        <table className="mt-4 w-full table-fixed border-collapse text-sm">
          <thead>
            <tr className="text-left text-slate-500">
              <th scope="col" className="w-1/4 pb-1 font-medium">
                Field
              </th>
              <th scope="col" className="pb-1 font-medium">
                Theirs (newer)
              </th>
              <th scope="col" className="pb-1 font-medium">
                Yours
              </th>
            </tr>
          </thead>
          <tbody>
            {fields.map((f) => (
              <tr key={f} className="border-t border-slate-100 align-top">
                <th scope="row" className="py-1.5 pr-2 text-left font-medium">
                  {FIELD_LABEL[f] ?? f}
                </th>
                <td className="break-words py-1.5 pr-2" data-testid={`theirs-${f}`}>
                  {show(f, conflict.current[f as keyof Task] as TaskInput[keyof TaskInput])}
                </td>
                <td className="break-words py-1.5" data-testid={`mine-${f}`}>
                  {show(f, conflict.mine[f])}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {error && <FormError className="mt-3">{error.message}</FormError>}
        <div className="mt-5 flex flex-wrap justify-end gap-2">
          <button
            type="button"
            className={secondaryButton}
            disabled={busy}
            onClick={onClose}
          >
            Take theirs
          </button>
          <button
            type="button"
            className={primaryButton}
            disabled={busy}
            data-autofocus
            onClick={() => {
              const { current, mine } = conflict;
              setConflict(null);
              void send(mine, current.version);
            }}
          >
            Keep mine
          </button>
        </div>
      </Dialog>
    );
  }

  return (
    <Dialog key="edit" labelledBy={headingId} onClose={dialogClose}>
      <form onSubmit={onSubmit} noValidate>
        <h2 id={headingId} className="text-lg font-semibold">
          Edit task
        </h2>
        <div className="mt-4 space-y-3">
          <Field id={`${id}-title`} label="Title">
            <input
              id={`${id}-title`}
              data-autofocus
              value={draft.title}
              maxLength={500}
              onChange={(e) => setDraft((d) => ({ ...d, title: e.target.value }))}
              aria-invalid={error?.field === "title" ? true : undefined}
              aria-describedby={error?.field === "title" ? errorId : undefined}
              className={fieldClass}
            />
          </Field>
          <TaskFields
            draft={draft}
            onChange={(p) => setDraft((d) => ({ ...d, ...p }))}
            invalidField={error?.field}
            describedBy={errorId}
          />
        </div>
        {error && (
          <FormError id={errorId} className="mt-3">
            {error.message}
          </FormError>
        )}
        <div className="mt-5 flex justify-end gap-2">
          <button type="button" className={secondaryButton} disabled={busy} onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className={primaryButton} disabled={busy}>
            Save
          </button>
        </div>
      </form>
    </Dialog>
  );
}
