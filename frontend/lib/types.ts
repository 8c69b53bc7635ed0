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

export interface HelloMessage {
  type: "hello";
  seq: number;
}
export interface ResyncMessage {
  type: "resync";
}
export interface PongMessage {
  type: "pong";
}

export type ServerMessage = HelloMessage | ResyncMessage | PongMessage | EventMessage;

export function isTaskEvent(msg: EventMessage): msg is TaskEventMessage {
  return (TASK_EVENT_TYPES as readonly string[]).includes(msg.type);
}

/**
 * The task carried by a task event. docs/events.md puts it at `data.task`;
 * a bare task as `data` is accepted too.
 */
export function taskOfEvent(msg: EventMessage): Task | null {
  const d = msg.data as { task?: Task } | Task | null | undefined;
  if (!d || typeof d !== "object") return null;
  if ("task" in d && d.task && typeof d.task === "object") return d.task;
  if ("id" in d && typeof (d as Task).id === "number") return d as Task;
  return null;
}
