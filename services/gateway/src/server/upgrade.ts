import type { HttpRequest, HttpResponse, us_socket_context_t } from 'uWebSockets.js';
import { metrics } from '../metrics/gateway-metrics.js';

/** What an upgrade handler may read after the synchronous part of the uWS callback. */
export interface UpgradeRequest {
  readonly url: string;
  readonly query: URLSearchParams;
  readonly authorization: string;
  readonly secWebSocketProtocol: string;
}

export class UpgradeRefused extends Error {
  constructor(
    readonly status: '400 Bad Request' | '401 Unauthorized' | '403 Forbidden' | '503 Service Unavailable',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Runs an async check before accepting a WebSocket upgrade. uWS request objects are only
 * valid synchronously, so everything needed is copied first; the client may also go away
 * while the check runs, which must not touch the response.
 */
export function upgradeAfter<T>(
  res: HttpResponse,
  req: HttpRequest,
  context: us_socket_context_t,
  check: (request: UpgradeRequest) => Promise<T>,
): void {
  const request: UpgradeRequest = {
    url: req.getUrl(),
    query: new URLSearchParams(req.getQuery() ?? ''),
    authorization: req.getHeader('authorization'),
    secWebSocketProtocol: req.getHeader('sec-websocket-protocol'),
  };
  const key = req.getHeader('sec-websocket-key');
  const extensions = req.getHeader('sec-websocket-extensions');
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  check(request).then(
    (userData) => {
      if (aborted) return;
      // Deliberately not inside res.cork. In our uWS build (20.30), cork() decides whether the
      // socket was upgraded by comparing addresses; when adopting it as a WebSocket reallocs in
      // place, cork() reads WebSocket memory as HTTP response state and, if a stale bit says
      // "connection: close", shuts the new socket down right after its open handler (clients
      // see 1006, no close frame, nothing logged; uWebSockets issue 1928, fixed upstream by
      // PR 1929). The price: uWS prints a "must be made from within a corked callback" warning
      // on stderr for upgrades that finish outside its callbacks (token checks do).
      res.upgrade(userData, key, request.secWebSocketProtocol, extensions, context);
    },
    (error: unknown) => {
      if (aborted) return;
      metrics.connectionsRefused.inc({ reason: refusalReason(error) });
      const refused = error instanceof UpgradeRefused ? error : undefined;
      const status = refused?.status ?? '401 Unauthorized';
      const message = error instanceof Error ? error.message : 'refused';
      res.cork(() =>
        res
          .writeStatus(status)
          .writeHeader('content-type', 'application/json')
          .end(JSON.stringify({ error: message, statusCode: parseInt(status, 10) })),
      );
    },
  );
}

/** A short stable label: the auth error's reason (token or credentials failure), else its code. */
function refusalReason(error: unknown): string {
  if (error instanceof Error && 'reason' in error && typeof error.reason === 'string') return error.reason;
  if (error instanceof UpgradeRefused) return `http_${parseInt(error.status, 10)}`;
  if (error instanceof Error && 'code' in error && typeof error.code === 'string') return error.code;
  return 'internal';
}

export function bearerToken(authorization: string): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization);
  return match?.[1];
}
