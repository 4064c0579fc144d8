import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Readiness } from '@signal/operations';
import { metrics } from '../metrics/emit-metrics.js';

/**
 * Wraps the request listener: counts every response by route and status and times it. While
 * shutting down, answers still come (NATS is up until the last step) but say `connection:
 * close`, so keep-alive clients reconnect through the load balancer to a node that stays.
 */
export function instrumentRequests(routeOf: (req: IncomingMessage) => string, readiness: Readiness, listener: RequestListener): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    if (readiness.isDraining) res.setHeader('connection', 'close');
    res.once('finish', () => {
      const route = routeOf(req);
      metrics.requests.inc({ route, method: req.method ?? 'unknown', status: String(res.statusCode) });
      metrics.requestSeconds.observe({ route }, (performance.now() - started) / 1000);
    });
    listener(req, res);
  };
}
