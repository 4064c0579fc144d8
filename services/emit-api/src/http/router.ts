import type { IncomingMessage, ServerResponse } from 'node:http';
import { SignalError } from '@signal/core';
import type { Logger } from 'pino';
import { sendError } from './respond.js';

export type Handler = (req: IncomingMessage, res: ServerResponse, params: Record<string, string>) => Promise<void> | void;

interface Route {
  path: string;
  method: string;
  pattern: RegExp;
  names: string[];
  handler: Handler;
}

/** A tiny method+path router; every thrown error becomes the documented error body. */
export class Router {
  private readonly routes: Route[] = [];

  constructor(private readonly log: Logger) {}

  on(method: string, path: string, handler: Handler): this {
    const names: string[] = [];
    const pattern = new RegExp(
      '^' + path.replace(/:([a-zA-Z]+)/g, (_m, name: string) => (names.push(name), '([^/]+)')) + '/?$',
    );
    this.routes.push({ path, method, pattern, names, handler });
    return this;
  }

  /** The registered path a request matches (e.g. for metrics labels), or "unmatched". */
  routeOf(req: IncomingMessage): string {
    const path = (req.url ?? '/').split('?')[0]!;
    return this.routes.find((r) => r.pattern.test(path))?.path ?? 'unmatched';
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const matching = this.routes.filter((r) => r.pattern.test(path));
    const route = matching.find((r) => r.method === req.method);
    try {
      if (!route) {
        if (matching.length === 0) throw new SignalError('not_found', `no such endpoint: ${req.method} ${path}`);
        const allowed = matching.map((r) => r.method).join(', ');
        res.setHeader('allow', allowed);
        throw new SignalError('method_not_allowed', `${req.method} is not allowed on ${path}; use ${allowed}`);
      }
      const match = route.pattern.exec(path)!;
      const params = Object.fromEntries(route.names.map((n, i) => [n, decodePathPart(match[i + 1]!, n)]));
      await route.handler(req, res, params);
    } catch (caught) {
      const error = SignalError.from(caught);
      if (error.code === 'internal') this.log.error({ err: caught, path }, 'request failed');
      if (!res.headersSent) sendError(res, error);
      else res.end();
      // Stop reading an oversize body: the answer is already out.
      if (error.code === 'payload_too_large') req.destroy();
    }
  }
}

function decodePathPart(value: string, name: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new SignalError('bad_request', `${name} in the path is not valid percent-encoding`, { field: name });
  }
}
