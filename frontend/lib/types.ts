/** Shapes of the TaskFlow REST API (docs/api.md) and live sync (docs/realtime.md). */

export type Priority = "low" | "medium" | "high";
export const PRIORITIES: readonly Priority[] = ["low", "medium", "high"];

export interface User {
  id: string;
  email: string;
  name: string;
  created_at: string;
}

export interface Task {
  id: number;
  user_id: string;
  title: string;
  description: string;
  completed: boolean;
  completed_at: string | null;
  priority: Priority;
  tags: string[];
  due_date: string | null;
  created_at: string;
  updated_at: string;
  version: number;
}

/** Fields a client may write (POST / PATCH). */
export interface TaskInput {
  title?: string;
  description?: string;
  priority?: Priority;
  tags?: string[];
  due_date?: string | null;
  completed?: boolean;
}

export interface TaskPatch extends TaskInput {
  version?: number;
}

export interface TaskPage {
  items: Task[];
  next_cursor: string | null;
}

export interface AuthResponse {
  user: User;
  token: string;
}

/** The error body every endpoint answers with. */
export interface ApiErrorBody {
  error: { code: string; message: string; field?: string };
  current?: Task;
}

export type StatusFilter = "all" | "pending" | "completed";
export type SortField = "created_at" | "updated_at" | "due_date" | "priority" | "title";
export type SortOrder = "asc" | "desc";

export interface TaskFilters {
  status: StatusFilter;
  priority: Priority | null;
  tags: string[];
  q: string;
  sort: SortField;
  order: SortOrder;
}

export const DEFAULT_FILTERS: TaskFilters = {
  status: "all",
  priority: null,
  tags: [],
  q: "",
  sort: "created_at",
  order: "desc",
};

/* ---- live sync messages ---- */

export type TaskEventType =
  | "task.created"
  | "task.updated"
  | "task.completed"
  | "task.uncompleted"
  | "task.deleted";

export const TASK_EVENT_TYPES: readonly TaskEventType[] = [
  "task.created",
  "task.updated",
  "task.completed",
  "task.uncompleted",
  "task.deleted",
];

export interface TaskEventData {
  task: Task;
  changed_fields?: string[];
}

/** Any event frame (`type` is an event type, including ones added later). */
export interface EventMessage<D = unknown> {
  type: string;
  seq: number;
  event_id: string;
  timestamp: string;
  data: D;
}

export type TaskEventMessage = EventMessage<TaskEventData> & { type: TaskEventType };

/** True for a task as the API sends it (the fields the dashboard reads). */
export function isTask(v: unknown): v is Task {
  if (!v || typeof v !== "object") return false;
  const t = v as Partial<Task>;
  return (
    typeof t.id === "number" &&
    typeof t.version === "number" &&
    typeof t.title === "string" &&
    typeof t.description === "string" &&
    typeof t.completed === "boolean" &&
    typeof t.priority === "string" &&
    Array.isArray(t.tags) &&
    t.tags.every((tag) => typeof tag === "string") &&
    (t.due_date === null || typeof t.due_date === "string")
  );
}

export function isTaskEvent(msg: EventMessage): msg is TaskEventMessage {
  return (TASK_EVENT_TYPES as readonly string[]).includes(msg.type);
}

/**
 * The task carried by a task event, or null when it carries none the dashboard can show.
 * docs/events.md puts it at `data.task`; a bare task as `data` is accepted too.
 */
export function taskOfEvent(msg: EventMessage): Task | null {
  const d = msg.data as { task?: unknown } | null | undefined;
  if (!d || typeof d !== "object") return null;
  if (isTask(d.task)) return d.task;
  return isTask(d) ? d : null;
}
