import type { Readiness } from '@signal/operations';
import type { HttpRequest, HttpResponse, RecognizedString, TemplatedApp, WebSocket, WebSocketBehavior, us_socket_context_t } from 'uWebSockets.js';
import { closeCodeLabel, metrics, socketStats } from '../metrics/gateway-metrics.js';
import { CLOSE_GOING_AWAY } from './close-codes.js';
import { OpenSockets } from './open-sockets.js';

/**
 * Wraps every WebSocket route registered on `app` from now on, whichever surface registers it:
 * counts connections, frames and bytes, keeps the set of open sockets, and while shutting down
 * refuses upgrades (503) and closes sockets whose upgrade was already under way (1001).
 * Wrapping the app rather than each surface's handlers means a new surface cannot forget it.
 */
export function instrumentWebSockets(app: TemplatedApp, readiness: Readiness): OpenSockets {
  const sockets = new OpenSockets();
  const register = app.ws.bind(app);
  app.ws = <UserData>(pattern: RecognizedString, behavior: WebSocketBehavior<UserData>): TemplatedApp =>
    register(pattern, instrument(behavior, sockets, readiness));
  return sockets;
}

function instrument<UserData>(behavior: WebSocketBehavior<UserData>, sockets: OpenSockets, readiness: Readiness): WebSocketBehavior<UserData> {
  const { upgrade, open, message, close } = behavior;
  return {
    ...behavior,
    upgrade: (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => {
      if (readiness.isDraining) return refuseWhileDraining(res);
      if (upgrade) return upgrade(res, req, context);
      // What uWS does itself for a route without an upgrade handler.
      res.upgrade({}, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
    },
    open: (ws: WebSocket<UserData>) => {
      sockets.add(ws as WebSocket<unknown>);
      socketStats.opened++;
      // Our open handlers are synchronous; uWS types allow a promise.
      void open?.(ws);
      // An upgrade authenticated while shutdown began: let it open (its surface's state stays
      // consistent), then send it on its way like every other connection.
      if (readiness.isDraining) ws.end(CLOSE_GOING_AWAY.code, CLOSE_GOING_AWAY.reason);
    },
    message: (ws: WebSocket<UserData>, data: ArrayBuffer, isBinary: boolean) => {
      socketStats.framesIn++;
      socketStats.bytesIn += data.byteLength;
      return message?.(ws, data, isBinary);
    },
    close: (ws: WebSocket<UserData>, code: number, reason: ArrayBuffer) => {
      sockets.delete(ws as WebSocket<unknown>);
      const label = closeCodeLabel(code);
      socketStats.closes.set(label, (socketStats.closes.get(label) ?? 0) + 1);
      close?.(ws, code, reason);
    },
  };
}

function refuseWhileDraining(res: HttpResponse): void {
  metrics.connectionsRefused.inc({ reason: 'shutting_down' });
  res.cork(() =>
    res
      .writeStatus('503 Service Unavailable')
      .writeHeader('content-type', 'application/json')
      .writeHeader('retry-after', '1')
      .end(JSON.stringify({ error: 'this node is shutting down; connect again to reach another one', statusCode: 503 })),
  );
}
