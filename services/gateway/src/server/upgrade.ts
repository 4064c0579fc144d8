import type { HttpRequest, HttpResponse, us_socket_context_t } from 'uWebSockets.js';
import { metrics } from '../metrics/gateway-metrics.js';

/** What an upgrade check reads from the request. */
export interface UpgradeRequest {
  readonly query: URLSearchParams;
  readonly authorization: string;
}

/**
 * Accepts a WebSocket upgrade if `check` passes, else answers 401 with its error, all inside
 * uWS's upgrade callback. The check must be synchronous: in this uWS build (20.30) an upgrade
 * finished later has two bad endings. Outside a cork it prints a warning on stderr per
 * connection; inside `res.cork()` it can shut the new socket down right after its open handler
 * (cork() compares addresses to see whether the socket was upgraded, and when adopting it as a
 * WebSocket reallocs in place it reads WebSocket memory as HTTP state; clients see 1006,
 * nothing is logged; uWebSockets issue 1928, fixed upstream by PR 1929). Token checks are
 * synchronous for this reason (`verifyUserToken` in @signal/core).
 */
export function upgradeWith<T>(res: HttpResponse, req: HttpRequest, context: us_socket_context_t, check: (request: UpgradeRequest) => T): void {
  const request: UpgradeRequest = { query: new URLSearchParams(req.getQuery() ?? ''), authorization: req.getHeader('authorization') };
  let userData: T;
  try {
    userData = check(request);
  } catch (error) {
    metrics.connectionsRefused.inc({ reason: refusalReason(error) });
    const message = error instanceof Error ? error.message : 'refused';
    res.writeStatus('401 Unauthorized').writeHeader('content-type', 'application/json').end(JSON.stringify({ error: message, statusCode: 401 }));
    return;
  }
  res.upgrade(userData, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
}

/** A short stable label: the auth error's reason (token or credentials failure), else its code. */
function refusalReason(error: unknown): string {
  if (error instanceof Error && 'reason' in error && typeof error.reason === 'string') return error.reason;
  if (error instanceof Error && 'code' in error && typeof error.code === 'string') return error.code;
  return 'internal';
}

export function bearerToken(authorization: string): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization);
  return match?.[1];
}
