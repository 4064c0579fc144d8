import { SignalClientError } from '../errors/signal-client-error.js';

/**
 * Any WebSocket class with the browser's API: the platform's `WebSocket`, or the `ws`
 * package's default export in Node 20 (which has no WebSocket of its own).
 */
export type WebSocketConstructor = new (url: string) => unknown;

/** The part of the WebSocket API the client uses. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
}

export const OPEN = 1;

export function resolveWebSocket(given: WebSocketConstructor | undefined): WebSocketConstructor {
  if (given !== undefined) {
    if (typeof given !== 'function') {
      throw new SignalClientError('invalid_options', "options.WebSocket must be a WebSocket class, e.g. the default export of the 'ws' package");
    }
    return given;
  }
  const platform = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof platform === 'function') return platform;
  throw new SignalClientError(
    'invalid_options',
    "this runtime has no WebSocket (Node 20 has none built in): install 'ws' and pass it, new Signal(token, { url, WebSocket })",
  );
}

export function createWebSocket(ctor: WebSocketConstructor, url: string): WebSocketLike {
  const ws = new ctor(url) as Partial<WebSocketLike> | null;
  if (typeof ws?.send !== 'function' || typeof ws.close !== 'function') {
    throw new SignalClientError('invalid_options', 'options.WebSocket made an object without send() and close(); pass a WebSocket class');
  }
  return ws as WebSocketLike;
}
