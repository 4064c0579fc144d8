import { createServer, type RequestListener, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { metrics } from '../metrics/emit-metrics.js';
import { endRaw, enforceSocketDeadlines, responseOf } from './socket-deadlines.js';

export interface HttpServerLimits {
  /** Time a client has to send all request headers (HTTP_HEADERS_TIMEOUT_MS). */
  headersTimeoutMs: number;
  /** Time a client has to send a whole request, headers and body (HTTP_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs: number;
  /** Idle time after which a keep-alive connection is closed (HTTP_KEEP_ALIVE_TIMEOUT_MS). */
  keepAliveTimeoutMs: number;
  /** Open connections at most; further ones are closed as they arrive (MAX_HTTP_CONNECTIONS). */
  maxConnections: number;
}

/** Headers read per request; the rest are ignored. Real clients send about 10. */
export const MAX_HEADERS_COUNT = 100;

/**
 * The emit-api's HTTP server with its limits, so a slow or greedy client holds a socket only
 * for a bounded time and the process never holds more sockets than it was sized for.
 * Refusals are counted by the variable that caused them.
 */
export function createHttpServer(limits: HttpServerLimits, listener: RequestListener): Server {
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node checks the two timeouts above only this often (30 s by default), which would let a
      // trickling client stay up to 30 s past them.
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    listener,
  );
  server.maxConnections = limits.maxConnections;
  server.maxHeadersCount = MAX_HEADERS_COUNT;
  enforceSocketDeadlines(server, limits);
  server.on('drop', () => metrics.limitRefusals.inc({ limit: 'max_http_connections' }));
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => answerClientError(error, socket));
  return server;
}

/**
 * What Node answers by itself when no `clientError` listener exists (408, 431, 400), plus a
 * count of the timeouts. Node reports both timeouts with one code: when the request's headers
 * had arrived (a response exists) it was the request timeout, otherwise the headers timeout.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  // Our own deadline (socket-deadlines.ts) answered first and counted it: nothing more to say.
  if ((socket as Duplex & { writableEnded?: boolean }).writableEnded === true) {
    socket.destroy();
    return;
  }
  const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  if (status === 408) metrics.limitRefusals.inc({ limit: responseOf(socket) ? 'http_request_timeout_ms' : 'http_headers_timeout_ms' });
  if (error.code === 'ECONNRESET') return void socket.destroy();
  endRaw(socket, status, status === 408 ? 'Request Timeout' : status === 431 ? 'Request Header Fields Too Large' : 'Bad Request');
}
