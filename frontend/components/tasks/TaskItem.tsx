"use client";

import { formatDue } from "@/lib/task-form";
import type { Task } from "@/lib/types";

const PRIORITY_BADGE: Record<Task["priority"], string> = {
  high: "bg-red-100 text-red-800",
  medium: "bg-amber-100 text-amber-900",
  low: "bg-slate-100 text-slate-700",
};

export function TaskItem({
  task,
  checked,
  busy,
  onToggle,
  onEdit,
  onDelete,
}: {
  task: Task;
  /** Shown state of the checkbox (the task's, or the one being saved). */
  checked: boolean;
  busy: boolean;
  onToggle: (t: Task) => void;
  onEdit: (t: Task) => void;
  onDelete: (t: Task) => void;
}) {
  const overdue = !task.completed && task.due_date !== null && Date.parse(task.due_date) < Date.now();
  return (
    <li
      data-task-id={task.id}
      className="flex items-start gap-3 border-b border-slate-100 px-3 py-3 last:border-b-0 sm:px-4"
    >
      <input
        type="checkbox"
        checked={checked}
        aria-busy={busy || undefined}
        onChange={() => onToggle(task)}
        aria-label={`Complete "${task.title}"`}
        className="mt-1 h-5 w-5 shrink-0 cursor-pointer accent-blue-600"
      />
      <div className="min-w-0 flex-1">
        <p
          className={`break-words font-medium ${checked ? "text-slate-500 line-through" : "text-slate-900"}`}
        >
          {task.title}
        </p>
        {task.description && (
          <p className="mt-0.5 line-clamp-2 break-words text-sm text-slate-600">{task.description}</p>
        )}
        <div className="mt-1 flex flex-wrap items-center gap-1.5 text-xs">
          <span className={`rounded px-1.5 py-0.5 font-medium ${PRIORITY_BADGE[task.priority]}`}>
            <span className="sr-only">Priority: </span>
            {task.priority}
          </span>
          {task.tags.map((t) => (
            <span key={t} className="max-w-full truncate rounded bg-blue-50 px-1.5 py-0.5 text-blue-800">
              #{t}
            </span>
          ))}
          {task.due_date && (
            <span className={overdue ? "font-medium text-red-700" : "text-slate-600"}>
              Due <time dateTime={task.due_date}>{formatDue(task.due_date)}</time>
              {overdue && " (overdue)"}
            </span>
          )}
        </div>
      </div>
      <div className="flex shrink-0 flex-col gap-1 sm:flex-row">
        <button
          type="button"
          onClick={() => onEdit(task)}
          aria-label={`Edit "${task.title}"`}
          className="rounded-md px-2 py-1 text-sm text-slate-700 hover:bg-slate-100"
        >
          Edit
        </button>
        <button
          type="button"
          onClick={() => onDelete(task)}
          disabled={busy}
          aria-label={`Delete "${task.title}"`}
          className="rounded-md px-2 py-1 text-sm text-red-700 hover:bg-red-50 disabled:opacity-50"
        >
          Delete
        </button>
      </div>
    </li>
  );
}
