import type { Apps, Position, TokenRules } from '@signal/core';
import type { Logger } from 'pino';
import type { TemplatedApp } from 'uWebSockets.js';
import { authenticateConnection } from '../../auth/authenticate-connection.js';
import type { RevocationList } from '../../auth/revocation-list.js';
import { SessionExpiry } from '../../auth/session-expiry.js';
import { createSession } from '../../core/create-session.js';
import type { Hub } from '../../core/hub.js';
import type { HistoryStore } from '@signal/history';
import type { SessionData } from '../../core/session.js';
import type { ConnectionTicket } from '../../limits/connection-limits.js';
import type { Limits } from '../../limits/limits.js';
import type { OccupancyFeeds } from '../../occupancy/occupancy-feeds.js';
import type { PresenceService } from '../../presence/presence-service.js';
import type { WebSocketLimits } from '../../server/websocket-limits.js';
import { CLOSE_TOKEN_EXPIRED } from '../../server/close-codes.js';
import { bearerToken, upgradeWith } from '../../server/upgrade.js';
import { parseConnectSince } from '../../history/direct-recovery.js';
import { RpcConnectionHandler, type Dialect } from './connection-handler.js';
import { bit6Surface, jsonRpcSurface } from './render.js';

/** uWS user data: the session, and its place in the connection counts until it closes. */
interface RpcSocketData extends SessionData {
  ticket: ConnectionTicket;
  /** The connect URL's `since`: where its direct messages stood (docs/recovery.md). */
  since: Position | undefined;
}

/** Native protocol at /v1/connect; Bit6 SDK apps at the two paths its SDK derives from `aud`. */
const PATHS: ReadonlyArray<[string, Dialect]> = [
  ['/v1/connect', 'native'],
  ['/signal/v1/pubsub', 'bit6'],
  ['/v1/signal/pubsub', 'bit6'],
];

export function registerJsonRpcRoutes(
  app: TemplatedApp,
  hub: Hub,
  presence: PresenceService,
  occupancy: OccupancyFeeds,
  registry: Apps,
  revocations: RevocationList,
  tokenRules: TokenRules,
  limits: WebSocketLimits,
  rules: Limits,
  tokenExpiry: 'close' | 'ignore',
  log: Logger,
  history: HistoryStore,
): void {
  const expiry =
    tokenExpiry === 'close' ? new SessionExpiry(
          (session) => session.ws?.end(CLOSE_TOKEN_EXPIRED.code, CLOSE_TOKEN_EXPIRED.reason),
          (error) => log.error({ err: error }, 'closing a connection whose token expired failed'),
        ) : undefined;
  for (const [path, dialect] of PATHS) {
    const handler = new RpcConnectionHandler(hub, presence, {
      maxFrameBytes: limits.maxFrameBytes,
      maxJsonDepth: limits.maxJsonDepth,
      dialect,
      log,
      registry,
      revocations,
      tokenRules,
      requests: rules.requests,
      expiry: dialect === 'native' ? expiry : undefined,
      occupancy,
      history,
    });
    const surface = dialect === 'bit6' ? bit6Surface : jsonRpcSurface;
    app.ws<RpcSocketData>(path, {
      ...limits.behavior,
      upgrade: (res, req, context) =>
        upgradeWith(res, req, context, { path, addresses: rules.addresses, log }, (request) => {
          // Node and address first: a flood is refused before any token is verified.
          const ticket = rules.connections.admit(request.ip);
          try {
            const token = request.query.get('token') ?? request.query.get('jwt') ?? bearerToken(request.authorization);
            const principal = authenticateConnection(
              registry,
              revocations,
              { token: token ?? undefined, publishableKey: request.query.get('key') ?? undefined },
              tokenRules,
            );
            // Only the native protocol recovers direct messages on connect (docs/protocol.md).
            const since = dialect === 'native' ? parseConnectSince(request.query.get('since')) : undefined;
            ticket.identify(principal);
            return { session: createSession(hub, surface, principal, { ip: request.ip, quota: rules.requests.quota() }), ticket, since };
          } catch (error) {
            ticket.release();
            throw error;
          }
        }),
      open: (ws) => {
        const { session, since } = ws.getUserData();
        session.ws = ws;
        const holding = handler.recoversDirect(session, since) ? since : undefined;
        hub.open(session, holding !== undefined);
        log.info({ route: session.route, app: session.scope.app, env: session.scope.env, dialect, ip: session.ip }, 'connection opened');
        handler.onOpen(session, holding);
      },
      message: (ws, message, isBinary) => handler.onMessage(ws.getUserData().session, message, isBinary),
      close: (ws, code) => {
        const { session, ticket } = ws.getUserData();
        ticket.release();
        session.ws = undefined;
        handler.onClose(session);
        hub.close(session);
        presence.close(session);
        log.info({ route: session.route, code, ip: session.ip }, 'connection closed');
      },
    });
  }
}
