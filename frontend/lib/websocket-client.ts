/**
 * Live task feed client (docs/realtime.md), free of any framework.
 *
 * - connects to `<url>[?since=<lastSeq>]` with the token in the subprotocol pair
 *   `bearer, <jwt>` (not in the URL, where proxies and browser history would keep it);
 * - keeps `lastSeq` (from the first hello, then from each event) and drops any event whose
 *   seq is not above it, so an event is delivered once, also across reconnects;
 * - on `resync` calls the onResync listeners (reload the list) and carries on from that
 *   socket's hello seq;
 * - reconnects after a close or error with capped exponential backoff and jitter, up to
 *   `maxAttempts` times in a row, then goes "failed"; `reconnect()` starts over;
 * - close code 4001 (token expired) → "unauthorized", no reconnect.
 */
import type { EventMessage } from "./types";

export type ConnectionState = "connecting" | "open" | "reconnecting" | "failed" | "closed" | "unauthorized";

/** The part of the browser WebSocket this client uses. */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type WebSocketFactory = (url: string, protocols: string[]) => WebSocketLike;

export interface WebSocketClientOptions {
  /** ws(s)://host/ws/user/{id}/tasks, without query. */
  url: string;
  /** The JWT, or a function giving the current one. */
  token: string | (() => string);
  factory?: WebSocketFactory;
  /** Returns [0, 1); injectable for tests. */
  random?: () => number;
  baseDelayMs?: number;
  factor?: number;
  maxDelayMs?: number;
  maxAttempts?: number;
  /** App-level ping interval while open; 0 disables. */
  pingIntervalMs?: number;
}

export const CLOSE_TOKEN_EXPIRED = 4001;

type StateListener = (s: ConnectionState) => void;
type EventListener = (e: EventMessage) => void;
type ResyncListener = () => void;

/** The backoff before reconnect attempt number `attempt` (0-based), with jitter. */
export function backoffDelay(
  attempt: number,
  random: () => number,
  base = 500,
  factor = 2,
  cap = 8000,
): number {
  const raw = Math.min(cap, base * Math.pow(factor, attempt));
  return Math.round(raw * (0.5 + random() * 0.5));
}

const defaultFactory: WebSocketFactory = (url, protocols) =>
  new WebSocket(url, protocols) as unknown as WebSocketLike;

export class WebSocketClient {
  private readonly opts: Required<WebSocketClientOptions>;
  private socket: WebSocketLike | null = null;
  private _state: ConnectionState = "closed";
  private _lastSeq: number | null = null;
  private helloSeq: number | null = null;
  private attempts = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private stopped = false;
  private readonly stateListeners = new Set<StateListener>();
  private readonly eventListeners = new Set<EventListener>();
  private readonly resyncListeners = new Set<ResyncListener>();

  constructor(options: WebSocketClientOptions) {
    this.opts = {
      url: options.url,
      token: options.token,
      factory: options.factory ?? defaultFactory,
      random: options.random ?? Math.random,
      baseDelayMs: options.baseDelayMs ?? 500,
      factor: options.factor ?? 2,
      maxDelayMs: options.maxDelayMs ?? 8000,
      maxAttempts: options.maxAttempts ?? 5,
      pingIntervalMs: options.pingIntervalMs ?? 25000,
    };
  }

  get state(): ConnectionState {
    return this._state;
  }

  get lastSeq(): number | null {
    return this._lastSeq;
  }

  /** Reconnect attempts made since the last successful open. */
  get attemptCount(): number {
    return this.attempts;
  }

  onState(l: StateListener): () => void {
    this.stateListeners.add(l);
    return () => this.stateListeners.delete(l);
  }

  onEvent(l: EventListener): () => void {
    this.eventListeners.add(l);
    return () => this.eventListeners.delete(l);
  }

  onResync(l: ResyncListener): () => void {
    this.resyncListeners.add(l);
    return () => this.resyncListeners.delete(l);
  }

  /** Opens the socket (first call) — a no-op while one is open or pending. */
  connect(): void {
    if (this.socket || this.retryTimer) return;
    this.stopped = false;
    this.open("connecting");
  }

  /** Starts over now: attempts back to zero, any pending retry or socket dropped. */
  reconnect(): void {
    this.stopped = false;
    this.clearRetry();
    this.dropSocket();
    this.attempts = 0;
    this.open("connecting");
  }

  /** Closes for good: no socket, no timer. */
  close(): void {
    this.stopped = true;
    this.clearRetry();
    this.dropSocket();
    this.setState("closed");
  }

  /** The URL for the next connection. */
  currentUrl(): string {
    if (this._lastSeq === null) return this.opts.url;
    const sep = this.opts.url.includes("?") ? "&" : "?";
    return `${this.opts.url}${sep}since=${this._lastSeq}`;
  }

  /** The subprotocols for the next connection: the server selects "bearer". */
  currentProtocols(): string[] {
    const token = typeof this.opts.token === "function" ? this.opts.token() : this.opts.token;
    return ["bearer", token];
  }

  private open(state: ConnectionState): void {
    this.setState(state);
    this.helloSeq = null;
    let ws: WebSocketLike;
    try {
      ws = this.opts.factory(this.currentUrl(), this.currentProtocols());
    } catch {
      this.socket = null;
      this.scheduleRetry();
      return;
    }
    this.socket = ws;
    // No onopen: the connection counts as open once hello arrives (handleMessage).
    ws.onmessage = (ev) => {
      if (this.socket !== ws) return;
      this.handleMessage(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.socket !== ws) return;
      this.handleClose(ev?.code ?? 1006);
    };
    ws.onerror = () => {
      if (this.socket !== ws) return;
      // A close normally follows; treat the error as the end of this socket either way.
      this.handleClose(1006);
    };
  }

  private handleMessage(raw: unknown): void {
    if (typeof raw !== "string") return;
    let msg: { type?: unknown; seq?: unknown };
    try {
      msg = JSON.parse(raw);
    } catch {
      return;
    }
    if (!msg || typeof msg !== "object" || typeof msg.type !== "string") return;
    switch (msg.type) {
      case "hello": {
        const seq = typeof msg.seq === "number" ? msg.seq : 0;
        this.helloSeq = seq;
        if (this._lastSeq === null) this._lastSeq = seq;
        this.attempts = 0;
        this.startPing();
        this.setState("open");
        return;
      }
      case "resync": {
        if (this.helloSeq !== null) this._lastSeq = this.helloSeq;
        this.resyncListeners.forEach((l) => l());
        return;
      }
      case "pong":
        return;
      default: {
        if (typeof msg.seq !== "number") return;
        if (this._lastSeq !== null && msg.seq <= this._lastSeq) return;
        this._lastSeq = msg.seq;
        const ev = msg as EventMessage;
        this.eventListeners.forEach((l) => l(ev));
      }
    }
  }

  private handleClose(code: number): void {
    this.dropSocket();
    if (this.stopped) return;
    if (code === CLOSE_TOKEN_EXPIRED) {
      this.stopped = true;
      this.setState("unauthorized");
      return;
    }
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.attempts >= this.opts.maxAttempts) {
      this.setState("failed");
      return;
    }
    const delay = backoffDelay(
      this.attempts,
      this.opts.random,
      this.opts.baseDelayMs,
      this.opts.factor,
      this.opts.maxDelayMs,
    );
    this.attempts += 1;
    this.setState("reconnecting");
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.stopped) return;
      this.open("reconnecting");
    }, delay);
  }

  private startPing(): void {
    this.stopPing();
    if (this.opts.pingIntervalMs <= 0) return;
    this.pingTimer = setInterval(() => {
      try {
        this.socket?.send(JSON.stringify({ type: "ping" }));
      } catch {
        /* the close handler deals with it */
      }
    }, this.opts.pingIntervalMs);
  }

  private stopPing(): void {
    if (this.pingTimer !== null) {
      clearInterval(this.pingTimer);
      this.pingTimer = null;
    }
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
  }

  private dropSocket(): void {
    this.stopPing();
    const ws = this.socket;
    this.socket = null;
    if (!ws) return;
    ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(1000, "client closing");
    } catch {
      /* already closed */
    }
  }

  private setState(s: ConnectionState): void {
    if (this._state === s) return;
    this._state = s;
    this.stateListeners.forEach((l) => l(s));
  }
}
