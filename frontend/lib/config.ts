/** Where the TaskFlow API and live sync are reached. */

/** API base URL without trailing slash; "" means the page's own origin. */
export function apiBase(): string {
  const raw = process.env.NEXT_PUBLIC_API_URL ?? "";
  return raw.replace(/\/+$/, "");
}

/** WebSocket origin (ws:// or wss://), derived from the API base or the page location. */
export function wsBase(
  base: string = apiBase(),
  loc: Pick<Location, "protocol" | "host"> | undefined = typeof location === "undefined"
    ? undefined
    : location,
): string {
  if (base) return base.replace(/^http(s?):\/\//i, (_m, s: string) => `ws${s}://`);
  if (!loc) return "";
  return `${loc.protocol === "https:" ? "wss" : "ws"}://${loc.host}`;
}

/** Path of a user's live task feed. */
export function tasksSocketPath(userId: string): string {
  return `/ws/user/${encodeURIComponent(userId)}/tasks`;
}

/** Full URL (without query) of a user's live task feed. */
export function tasksSocketUrl(userId: string): string {
  return `${wsBase()}${tasksSocketPath(userId)}`;
}
