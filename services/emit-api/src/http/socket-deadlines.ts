import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
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
    arm(socket, limits.requestTimeoutMs, 'http_request_timeout_ms');
    req.once('end', () => clearTimeout(timers.get(socket)));
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
  const response = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
  if (socket.writable && response?.headersSent !== true) {
    socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    // A client that never reads cannot hold the socket open past the answer.
    setTimeout(() => socket.destroy(), 1000).unref();
  } else {
    socket.destroy();
  }
}
