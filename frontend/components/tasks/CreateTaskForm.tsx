"use client";

import { useId, useRef, useState } from "react";
import { createTask, isApiError, keepsIdempotencyKey, newIdempotencyKey } from "@/lib/api";
import { localInputToIso, parseTags, type TaskDraft } from "@/lib/task-form";
import type { Task, TaskInput } from "@/lib/types";
import { Field } from "../ui/Field";
import { FormError } from "../ui/FormError";
import { fieldClass, primaryButton } from "../ui/styles";
import { TaskFields } from "./TaskFields";

const EMPTY: TaskDraft = { title: "", description: "", priority: "medium", tags: "", due: "" };

export function CreateTaskForm({ onCreated }: { onCreated: (t: Task) => void }) {
  const id = useId();
  const [draft, setDraft] = useState<TaskDraft>(EMPTY);
  const [more, setMore] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ message: string; field?: string } | null>(null);
  const titleRef = useRef<HTMLInputElement>(null);
  // One key per intended task: a retry after a network failure (or while the first request is
  // still running) replays instead of duplicating.
  const keyRef = useRef<string | null>(null);
  const errorId = `${id}-error`;

  function update(p: Partial<TaskDraft>) {
    setDraft((d) => ({ ...d, ...p }));
    keyRef.current = null;
  }

  async function onSubmit(e: React.FormEvent) {
    e.preventDefault();
    if (busy) return;
    const title = draft.title.trim();
    if (!title) {
      setError({ message: "Enter a title for the task.", field: "title" });
      titleRef.current?.focus();
      return;
    }
    // Only what differs from the server's defaults.
    const input: TaskInput = { title };
    if (draft.description) input.description = draft.description;
    if (draft.priority !== "medium") input.priority = draft.priority;
    const tags = parseTags(draft.tags);
    if (tags.length) input.tags = tags;
    if (draft.due) input.due_date = localInputToIso(draft.due);
    keyRef.current ??= newIdempotencyKey();
    const sent = draft;
    setBusy(true);
    setError(null);
    try {
      const task = await createTask(input, keyRef.current);
      keyRef.current = null;
      onCreated(task);
      // Cleared only if untouched: what was typed while the request was out is kept.
      setDraft((d) => (d === sent ? EMPTY : d));
      titleRef.current?.focus();
    } catch (err) {
      if (!keepsIdempotencyKey(err)) keyRef.current = null;
      if (isApiError(err)) {
        setError({ message: err.message, field: err.field });
      } else {
        setError({ message: "Could not add the task." });
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={onSubmit} aria-label="New task" noValidate className="rounded-lg bg-white p-4 shadow-sm">
      <div className="flex flex-col gap-2 sm:flex-row sm:items-end">
        <Field id={`${id}-title`} label="New task title" className="min-w-0 flex-1">
          <input
            id={`${id}-title`}
            ref={titleRef}
            value={draft.title}
            maxLength={500}
            placeholder="What needs doing?"
            onChange={(e) => update({ title: e.target.value })}
            aria-invalid={error?.field === "title" ? true : undefined}
            aria-describedby={error ? errorId : undefined}
            className={fieldClass}
          />
        </Field>
        <button type="submit" disabled={busy} className={primaryButton}>
          Add task
        </button>
      </div>
      <button
        type="button"
        aria-expanded={more}
        aria-controls={`${id}-more`}
        onClick={() => setMore((m) => !m)}
        className="mt-2 text-sm font-medium text-blue-700 underline-offset-2 hover:underline"
      >
        More options
      </button>
      {more && (
        <div id={`${id}-more`} className="mt-3">
          <TaskFields draft={draft} onChange={update} invalidField={error?.field} describedBy={errorId} />
        </div>
      )}
      {error && (
        <FormError id={errorId} className="mt-3">
          {error.message}
        </FormError>
      )}
    </form>
  );
}
