import type { AppRegistry } from '@signal/core';
import type { Logger } from 'pino';
import type { TemplatedApp } from 'uWebSockets.js';
import { authenticateConnection } from '../../auth/authenticate-connection.js';
import { SessionExpiry } from '../../auth/session-expiry.js';
import { createSession } from '../../core/create-session.js';
import type { Hub } from '../../core/hub.js';
import type { SessionData } from '../../core/session.js';
import type { PresenceService } from '../../presence/presence-service.js';
import type { WebSocketLimits } from '../../server/websocket-limits.js';
import { CLOSE_TOKEN_EXPIRED } from '../../server/close-codes.js';
import { bearerToken, upgradeWith } from '../../server/upgrade.js';
import { RpcConnectionHandler, type Dialect } from './connection-handler.js';
import { bit6Surface, jsonRpcSurface } from './render.js';

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
  registry: AppRegistry,
  limits: WebSocketLimits,
  tokenExpiry: 'close' | 'ignore',
  log: Logger,
): void {
  const expiry =
    tokenExpiry === 'close' ? new SessionExpiry((session) => session.ws?.end(CLOSE_TOKEN_EXPIRED.code, CLOSE_TOKEN_EXPIRED.reason)) : undefined;
  for (const [path, dialect] of PATHS) {
    const handler = new RpcConnectionHandler(hub, presence, {
      maxFrameBytes: limits.maxFrameBytes,
      maxJsonDepth: limits.maxJsonDepth,
      dialect,
      log,
      registry,
      expiry: dialect === 'native' ? expiry : undefined,
    });
    const surface = dialect === 'bit6' ? bit6Surface : jsonRpcSurface;
    app.ws<SessionData>(path, {
      ...limits.behavior,
      upgrade: (res, req, context) =>
        upgradeWith(res, req, context, (request) => {
          const token = request.query.get('token') ?? request.query.get('jwt') ?? bearerToken(request.authorization);
          let principal;
          try {
            principal = authenticateConnection(registry, { token: token ?? undefined, publishableKey: request.query.get('key') ?? undefined });
          } catch (error) {
            log.info({ path, reason: (error as Error).message }, 'connection refused');
            throw error;
          }
          return { session: createSession(hub, surface, principal) };
        }),
      open: (ws) => {
        const { session } = ws.getUserData();
        session.ws = ws;
        hub.open(session);
        log.info({ route: session.route, app: session.scope.app, env: session.scope.env, dialect }, 'connection opened');
        handler.onOpen(session);
      },
      message: (ws, message, isBinary) => handler.onMessage(ws.getUserData().session, message, isBinary),
      close: (ws, code) => {
        const { session } = ws.getUserData();
        session.ws = undefined;
        handler.onClose(session);
        hub.close(session);
        presence.close(session);
        log.info({ route: session.route, code }, 'connection closed');
      },
    });
  }
}
