import WebSocket from 'ws';
import { startService, type ServiceProcess } from '@signal/harness';
import { sample, scrape } from '../support/admin.js';
import { GATEWAY_ENTRY, serviceEnv, type Stack } from '../support/stack.js';

export interface Refusal {
  status: number;
  body: { error: string; code: string; statusCode: number; limit?: string };
}

/** Opens a WebSocket; resolves with the open socket, or with the refused upgrade's status and JSON body. */
export function tryConnect(url: string, headers: Record<string, string> = {}): Promise<WebSocket | Refusal> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += String(c)));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(body) as Refusal['body'] }));
    });
    ws.once('error', (error) => reject(error));
  });
}

export async function connected(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  const result = await tryConnect(url, headers);
  if (!(result instanceof WebSocket)) throw new Error(`refused: ${result.status} ${JSON.stringify(result.body)}`);
  return result;
}

export async function refused(url: string, headers: Record<string, string> = {}): Promise<Refusal> {
  const result = await tryConnect(url, headers);
  if (result instanceof WebSocket) {
    result.close();
    throw new Error('the connection was accepted');
  }
  return result;
}

/** Closes sockets and waits for their close frames, so the gateway has released them. */
export async function closeAll(sockets: WebSocket[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          ws.once('close', () => resolve());
          ws.close();
        }),
    ),
  );
}

/** Another gateway process on the stack's NATS, with its own limits. */
export function startGateway(stack: Stack, name: string, env: Record<string, string>): Promise<ServiceProcess> {
  return startService({ entry: GATEWAY_ENTRY, name, env: { ...serviceEnv(stack), ...env } });
}

export function wsUrl(gateway: ServiceProcess): string {
  return `ws://127.0.0.1:${String(gateway.ready.port)}`;
}

export async function refusals(gateway: ServiceProcess, limit: string): Promise<number> {
  return sample(await scrape(gateway), 'signal_gateway_limit_refusals_total', { limit });
}
