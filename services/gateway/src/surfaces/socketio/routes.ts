import type { Apps, TokenRules } from '@signal/core';
import type { Logger } from 'pino';
import type { HttpResponse, TemplatedApp, WebSocketBehavior } from 'uWebSockets.js';
import type { RevocationList } from '../../auth/revocation-list.js';
import type { Hub } from '../../core/hub.js';
import type { Limits } from '../../limits/limits.js';
import { upgradeWith } from '../../server/upgrade.js';
import type { WebSocketLimits } from '../../server/websocket-limits.js';
import { ENGINE, engineVersionOf } from './engine-packets.js';
import { createStelaceSurface } from './render.js';
import { ENGINE_V4_PING_TOPIC, StelaceSocket, type SocketIoContext, type SocketIoData, type SocketIoSettings } from './stelace-socket.js';

/** Engine.IO's path for Stelace clients: `io('<base>/signal', { path: '/signal' })` connects to `/signal/`. */
const PATHS = ['/signal/', '/signal'];

/**
 * The Socket.IO surface for Stelace apps, WebSocket transport only. Long-polling requests
 * get Engine.IO's "Transport unknown" so a client without `transports: ['websocket']`
 * fails with a reason instead of hanging.
 */
export function registerSocketIoRoutes(
  app: TemplatedApp,
  hub: Hub,
  registry: Apps,
  revocations: RevocationList,
  tokenRules: TokenRules,
  limits: WebSocketLimits,
  rules: Limits,
  settings: Omit<SocketIoSettings, 'maxFrameBytes' | 'maxJsonDepth'>,
  log: Logger,
): void {
  const surface = createStelaceSurface((scope) => registry.deliversClientMessagesToStelace(scope));
  const settingsWithLimits = { ...settings, maxFrameBytes: limits.maxFrameBytes, maxJsonDepth: limits.maxJsonDepth };
  const context: SocketIoContext = { hub, surface, registry, revocations, tokenRules, limits: rules, settings: settingsWithLimits, log };
  const behavior: WebSocketBehavior<SocketIoData> = {
    ...limits.behavior,
    upgrade: (res, req, uwsContext) => {
      const url = req.getUrl();
      if (!PATHS.includes(url)) return notFound(res, url);
      const engine = engineVersionOf(new URLSearchParams(req.getQuery() ?? ''));
      if ('error' in engine) return refuse(res, engine.error);
      // Node and address are known now; app and identity only once the client authenticates.
      upgradeWith(res, req, uwsContext, { path: url, addresses: rules.addresses, log }, (request): SocketIoData => ({
        socket: new StelaceSocket(context, hub.nextRoute(), engine.version, rules.connections.admit(request.ip)),
      }));
    },
    open: (ws) => ws.getUserData().socket.onOpen(ws),
    message: (ws, message, isBinary) => ws.getUserData().socket.onMessage(message, isBinary),
    close: (ws, code) => ws.getUserData().socket.onClose(code),
  };
  app.ws<SocketIoData>('/signal', behavior);
  app.ws<SocketIoData>('/signal/*', behavior);
  for (const pattern of ['/signal', '/signal/*']) {
    app.any(pattern, (res, req) => {
      const url = req.getUrl();
      if (!PATHS.includes(url)) return notFound(res, url);
      const engine = engineVersionOf(new URLSearchParams(req.getQuery() ?? ''));
      refuse(res, 'error' in engine ? engine.error : { code: 3, message: 'Bad request: Engine.IO over WebSocket needs an upgrade request' });
    });
  }
  // Engine.IO v4 clients expect the server's ping at least every pingInterval + pingTimeout.
  setInterval(() => app.publish(ENGINE_V4_PING_TOPIC, ENGINE.ping), settings.pingIntervalMs).unref();
}

function refuse(res: HttpResponse, error: { code: number; message: string }): void {
  res.cork(() => res.writeStatus('400 Bad Request').writeHeader('content-type', 'application/json').end(JSON.stringify(error)));
}

function notFound(res: HttpResponse, url: string): void {
  res.cork(() =>
    res
      .writeStatus('404 Not Found')
      .writeHeader('content-type', 'application/json')
      .end(JSON.stringify({ error: `no such path: ${url}; Stelace clients connect with path '/signal'` })),
  );
}
