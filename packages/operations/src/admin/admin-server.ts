import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '@signal/core';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Liveness } from '../liveness/liveness.js';
import type { Readiness } from '../readiness/readiness.js';

export interface AdminServerOptions {
  host: string;
  port: number;
  readiness: Readiness;
  liveness: Liveness;
  registry: Registry;
  log: Logger;
}

export interface AdminServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The operator's port, separate from client traffic so it is never exposed publicly:
 * `/healthz` (the process works: liveness; 503 when a registered liveness check fails), `/readyz` (send traffic here: readiness),
 * `/metrics` (Prometheus text format).
 */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const server = createServer((req, res) => {
    handle(req, res, options).catch((error: unknown) => {
      options.log.error({ err: error, path: pathOf(req) }, 'admin request failed');
      if (!res.headersSent) send(res, 500, 'application/json', JSON.stringify({ error: 'internal error' }));
      else res.end();
    });
  });
  server.keepAliveTimeout = 65_000;
  await listen(server, options.host, options.port);
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, options: AdminServerOptions): Promise<void> {
  const path = pathOf(req);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return send(res, 405, 'application/json', JSON.stringify({ error: `use GET on ${path}` }), { allow: 'GET, HEAD' });
  }
  switch (path) {
    case '/healthz': {
      const report = options.liveness.evaluate();
      if (report.alive) return send(res, 200, 'application/json', '{"status":"ok"}');
      return send(res, 503, 'application/json', JSON.stringify({ status: 'unhealthy', checks: report.checks }));
    }
    case '/readyz': {
      const report = await options.readiness.evaluate();
      const body = JSON.stringify({ status: report.ready ? 'ready' : 'not ready', checks: report.checks });
      return send(res, report.ready ? 200 : 503, 'application/json', body);
    }
    case '/metrics':
      return send(res, 200, options.registry.contentType, await options.registry.metrics());
    default:
      return send(res, 404, 'application/json', JSON.stringify({ error: `no such path ${path}; try /healthz, /readyz or /metrics` }));
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0]!;
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error) =>
      reject(new ConfigError(`cannot listen on ${host}:${port} for the admin port: ${error.message}; set ADMIN_PORT to a free port`)),
    );
    server.listen(port, host, () => resolve());
  });
}
