import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { metrics } from '../metrics/emit-metrics.js';

export interface SocketDeadlineLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

/**
 * A deadline of its own for every socket: request headers within `headersTimeoutMs` of the
 * connection (or of the previous response, plus the keep-alive time), the body within
 * `requestTimeoutMs` of its headers. Node enforces its own `headersTimeout`/`requestTimeout` from a periodic
 * scan of its connection list, and that scan let most of 25 trickling connections through
 * (6 of 25 closed within 8 s at a 1 s limit, Node 20); one timer per socket costs little for a
 * backend API and holds for every connection. Whichever fires first wins: the socket closes and
 * the other is cleared.
 */
export function enforceSocketDeadlines(server: Server, limits: SocketDeadlineLimits): void {
  const timers = new WeakMap<Socket, NodeJS.Timeout>();
  const arm = (socket: Socket, ms: number, limit: string) => {
    clearTimeout(timers.get(socket));
    timers.set(socket, setTimeout(() => expire(socket, limit), Math.max(0, ms)));
  };
  server.on('connection', (socket: Socket) => {
    arm(socket, limits.headersTimeoutMs, 'http_headers_timeout_ms');
    socket.once('close', () => clearTimeout(timers.get(socket)));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    clearTimeout(timers.get(socket));
    // A request without a body is complete already, and 'end' fires only once someone reads it:
    // its handler's own time (a presence read) is not the client's to account for.
    if (!req.complete) {
      arm(socket, limits.requestTimeoutMs, 'http_request_timeout_ms');
      req.once('end', () => clearTimeout(timers.get(socket)));
    }
    // The next request on a kept-alive connection: Node closes it after the keep-alive time when
    // nothing comes; once bytes come, its headers get the usual time.
    res.once('finish', () => {
      if (!socket.destroyed) arm(socket, limits.keepAliveTimeoutMs + limits.headersTimeoutMs, 'http_headers_timeout_ms');
    });
  });
}

function expire(socket: Socket, limit: string): void {
  // Node's own timeout check may have answered first (it ends the socket): counted there.
  if (socket.destroyed || socket.writableEnded) return;
  metrics.limitRefusals.inc({ limit });
  endRaw(socket, 408, 'Request Timeout');
}

/** The request in progress on a socket, if Node has made its response yet (a private field). */
export function responseOf(socket: Duplex): ServerResponse | undefined {
  return (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
}

/**
 * Answers on the raw socket and closes it; a socket that cannot take an answer any more (its
 * response begun, or not writable) is cut instead.
 */
export function endRaw(socket: Duplex, status: number, reason: string): void {
  if (!socket.writable || responseOf(socket)?.headersSent === true) {
    socket.destroy();
    return;
  }
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  // A client that never reads cannot hold the socket open past the answer.
  setTimeout(() => socket.destroy(), 1000).unref();
}
