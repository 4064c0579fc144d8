import { STATUS_CODES } from 'node:http';
import { SignalError } from '@signal/core';
import type { Logger } from 'pino';
import type { HttpRequest, HttpResponse, us_socket_context_t } from 'uWebSockets.js';
import type { ClientAddresses } from '../limits/client-address.js';
import { metrics } from '../metrics/gateway-metrics.js';
import { clientIpOf } from './client-ip.js';

/** What an upgrade check reads from the request. */
export interface UpgradeRequest {
  readonly query: URLSearchParams;
  readonly authorization: string;
  /** The client's address (see TRUSTED_PROXIES). */
  readonly ip: string;
}

export interface UpgradeContext {
  readonly path: string;
  readonly addresses: ClientAddresses;
  readonly log: Logger;
}

/**
 * Accepts a WebSocket upgrade if `check` passes, else answers with its error's own status
 * (401 for credentials, 429 for limits; anything that is not a SignalError is a bug: 500
 * "internal error", logged with its cause), all inside uWS's upgrade callback. The check must
 * be synchronous: in this uWS build (20.30) an upgrade finished later has two bad endings.
 * Outside a cork it prints a warning on stderr per connection; inside `res.cork()` it can shut
 * the new socket down right after its open handler (cork() compares addresses to see whether
 * the socket was upgraded, and when adopting it as a WebSocket reallocs in place it reads
 * WebSocket memory as HTTP state; clients see 1006, nothing is logged; uWebSockets issue 1928,
 * fixed upstream by PR 1929). Token checks are synchronous for this reason (`verifyUserToken`
 * in @signal/core).
 */
export function upgradeWith<T>(
  res: HttpResponse,
  req: HttpRequest,
  context: us_socket_context_t,
  upgrade: UpgradeContext,
  check: (request: UpgradeRequest) => T,
): void {
  const ip = clientIpOf(res, req, upgrade.addresses);
  const request: UpgradeRequest = { query: new URLSearchParams(req.getQuery() ?? ''), authorization: req.getHeader('authorization'), ip };
  let userData: T;
  try {
    userData = check(request);
  } catch (caught) {
    const error = SignalError.from(caught);
    metrics.connectionsRefused.inc({ reason: refusalReason(caught) });
    if (error.code === 'internal') upgrade.log.error({ err: caught, path: upgrade.path, ip }, 'upgrade failed');
    else upgrade.log.info({ path: upgrade.path, ip, code: error.code, reason: error.message }, 'connection refused');
    refuseUpgrade(res, error);
    return;
  }
  res.upgrade(userData, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
}

/**
 * An HTTP answer to an upgrade: the error's status, its stable code and its (safe) message, and
 * for credentials the stable reason (`expired`, `revoked`, `bad_signature`, …, as counted in
 * signal_gateway_connections_refused_total).
 */
export function refuseUpgrade(res: HttpResponse, error: SignalError): void {
  const status = error.status;
  const body: Record<string, unknown> = { error: error.message, code: error.code, statusCode: status };
  const reason = (error as { reason?: unknown }).reason;
  if (typeof reason === 'string') body.reason = reason;
  const limit = (error.data as { limit?: unknown } | undefined)?.limit;
  if (limit !== undefined) body.limit = limit;
  res.writeStatus(`${status} ${STATUS_CODES[status] ?? ''}`.trim()).writeHeader('content-type', 'application/json').end(JSON.stringify(body));
}

/** A short stable label: the auth error's reason (token or credentials failure), else its code. */
function refusalReason(error: unknown): string {
  if (error instanceof SignalError && 'reason' in error && typeof error.reason === 'string') return error.reason;
  if (error instanceof SignalError) return error.code;
  return 'internal';
}

export function bearerToken(authorization: string): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization);
  return match?.[1];
}
