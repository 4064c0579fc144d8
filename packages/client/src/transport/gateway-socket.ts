import { OPEN, createWebSocket, type WebSocketConstructor, type WebSocketLike } from './websocket-constructor.js';

export interface SocketTimings {
  /** Give up on an attempt whose WebSocket has not opened within this time. */
  connectTimeoutMs: number;
  /** Send `_ping` this often once open. */
  pingIntervalMs: number;
  /** Consider the connection dead when nothing arrives this long after a `_ping`. */
  pongTimeoutMs: number;
}

/** How a socket ended: exactly one per socket. */
export interface SocketEnd {
  /** Whether the WebSocket had opened. */
  opened: boolean;
  code: number;
  reason: string;
  /** The HTTP status of a refused upgrade, when the WebSocket implementation reveals it (`ws` does, browsers do not). */
  httpStatus: number | undefined;
  /** What went wrong, for people. */
  detail: string;
}

export interface SocketHandlers {
  onOpen(): void;
  onText(text: string): void;
  onEnd(end: SocketEnd): void;
}

/** Closed by the client because the gateway stopped answering. */
export const KEEPALIVE_CLOSE = 4000;
/** Closed by the client because opening took too long. */
export const CONNECT_TIMEOUT_CLOSE = 4001;

/**
 * One WebSocket to one gateway, from opening to its end. It keeps the connection honest with
 * `_ping`/`_pong`, so a gateway that vanished without closing is noticed, and reports the end
 * once, right away, even when the close handshake itself can no longer complete.
 */
export class GatewaySocket {
  private readonly ws: WebSocketLike;
  private ended = false;
  private opened = false;
  private lastError: string | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    ctor: WebSocketConstructor,
    url: string,
    private readonly timings: SocketTimings,
    private readonly handlers: SocketHandlers,
  ) {
    this.ws = createWebSocket(ctor, url);
    this.ws.onopen = () => this.handleOpen();
    this.ws.onmessage = (event) => this.handleMessage(event.data);
    this.ws.onerror = (event) => {
      this.lastError = errorText(event);
    };
    this.ws.onclose = (event) => this.finish(event.code, event.reason);
    this.connectTimer = setTimeout(
      () => this.close(CONNECT_TIMEOUT_CLOSE, `the gateway did not accept the connection within ${timings.connectTimeoutMs} ms`),
      timings.connectTimeoutMs,
    );
  }

  get isOpen(): boolean {
    return !this.ended && this.ws.readyState === OPEN;
  }

  /** False when the socket is not open (the caller decides whether to queue or fail). */
  send(text: string): boolean {
    if (!this.isOpen) return false;
    this.ws.send(text);
    return true;
  }

  /** Ends the socket now; `onEnd` reports `code` without waiting for the close handshake. */
  close(code: number, reason: string): void {
    if (this.ended) return;
    try {
      // Browsers only let scripts close with 1000 or 3000-4999.
      this.ws.close(code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000, reason.slice(0, 120));
    } catch {
      // Already closing; the end is reported below either way.
    }
    this.finish(code, reason);
  }

  private handleOpen(): void {
    if (this.ended) return;
    this.opened = true;
    clearTimeout(this.connectTimer);
    this.pingTimer = setInterval(() => this.ping(), this.timings.pingIntervalMs);
    this.handlers.onOpen();
  }

  private handleMessage(data: unknown): void {
    if (this.ended) return;
    clearTimeout(this.pongTimer);
    this.pongTimer = undefined;
    if (typeof data !== 'string') return;
    if (data === '_pong') return;
    this.handlers.onText(data);
  }

  private ping(): void {
    if (!this.send('_ping') || this.pongTimer !== undefined) return;
    this.pongTimer = setTimeout(
      () => this.close(KEEPALIVE_CLOSE, `the gateway did not answer a ping within ${this.timings.pongTimeoutMs} ms`),
      this.timings.pongTimeoutMs,
    );
  }

  private finish(code: number, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.connectTimer);
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.ws.onopen = null;
    this.ws.onmessage = null;
    this.ws.onclose = null;
    // Some implementations (ws) report an aborted handshake as an error event after close(); it must not go unheard.
    this.ws.onerror = () => undefined;
    const httpStatus = statusOf(this.lastError);
    const detail = httpStatus !== undefined
      ? `the gateway refused the connection with HTTP ${httpStatus}`
      : reason || this.lastError || (this.opened ? `connection closed (code ${code})` : 'could not connect to the gateway');
    this.handlers.onEnd({ opened: this.opened, code, reason, httpStatus, detail });
  }
}

function errorText(event: unknown): string | undefined {
  if (typeof event !== 'object' || event === null) return undefined;
  const { message, error } = event as { message?: unknown; error?: { message?: unknown } };
  if (typeof message === 'string' && message !== '') return message;
  if (typeof error?.message === 'string') return error.message;
  return undefined;
}

/** `ws` reports a refused upgrade as "Unexpected server response: 401". */
function statusOf(error: string | undefined): number | undefined {
  const match = error === undefined ? null : /Unexpected server response: (\d{3})/.exec(error);
  return match ? Number(match[1]) : undefined;
}
