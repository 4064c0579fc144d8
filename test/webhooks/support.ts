import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { AppsFile } from '@signal/core';
import { startService, type ServiceProcess } from '@signal/harness';
import { native } from '../support/presence.js';
import { serviceEnv, startStack, type Stack, type StackOptions } from '../support/stack.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
export const WEBHOOKS_ENTRY = `${root}services/webhooks/dist/main.js`;

export const SECRET = 'receiver-secret-0123456789abcdefghij';
export const OLD_SECRET = 'receiver-old-secret-0123456789abcdefgh';

export interface WebhookEvent {
  id: string;
  type: string;
  time: number;
  app: string;
  env: string;
  user?: string;
  channel?: string;
  member?: { address: string; identity: string; device: string; state?: unknown; joinedAt: number };
  swept?: boolean;
  sender?: { address: string; identity: string; device: string; connection: string };
  event?: string;
  message?: Record<string, unknown>;
}

export interface ReceivedRequest {
  at: number;
  verified: boolean;
  events: WebhookEvent[];
}

/**
 * A backend's webhook endpoint: a real HTTP server that checks each request's signature the way
 * docs/webhooks.md tells receivers to (HMAC-SHA256 of `<timestamp>.<body>`, any `v1=` matching,
 * timestamp within 5 minutes), records what it got, and answers `status` (200 unless told otherwise).
 */
export class Receiver {
  readonly requests: ReceivedRequest[] = [];
  status = 200;
  /** While set, requests wait for it before they are answered (and recorded). */
  gate: Promise<void> | undefined;
  /** Requests waiting at the gate now. */
  waiting = 0;
  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly secret: string,
  ) {}

  static async start(secret = SECRET, port = 0): Promise<Receiver> {
    const holder: { receiver?: Receiver } = {};
    const server = createServer((req, res) => {
      const receiver = holder.receiver!;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        if (receiver.gate) {
          receiver.waiting++;
          await receiver.gate;
          receiver.waiting--;
        }
        const body = Buffer.concat(chunks).toString('utf8');
        const verified = verify(receiver.secret, req.headers['signal-webhook-timestamp'], req.headers['signal-webhook-signature'], body);
        if (receiver.status >= 200 && receiver.status < 300 && verified) {
          receiver.requests.push({ at: Date.now(), verified, events: (JSON.parse(body) as { events: WebhookEvent[] }).events });
        } else {
          receiver.failures.push({ at: Date.now(), verified, events: (JSON.parse(body) as { events: WebhookEvent[] }).events });
        }
        res.writeHead(verified ? receiver.status : 401).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const address = server.address();
    const actual = typeof address === 'object' && address ? address.port : port;
    holder.receiver = new Receiver(server, `http://127.0.0.1:${actual}/hooks`, secret);
    return holder.receiver;
  }

  /** Requests answered with an error (or failing verification), with when they came. */
  readonly failures: ReceivedRequest[] = [];

  /** Every accepted event, in arrival order, duplicates (redeliveries) included. */
  events(): WebhookEvent[] {
    return this.requests.flatMap((r) => r.events);
  }

  /** Accepted events, each id once (a receiver dedupes by id). */
  unique(): WebhookEvent[] {
    const seen = new Set<string>();
    return this.events().filter((e) => (seen.has(e.id) ? false : (seen.add(e.id), true)));
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The verification of docs/webhooks.md (the Node snippet), as a receiver runs it. */
export function verify(secret: string, timestamp: string | string[] | undefined, header: string | string[] | undefined, body: string): boolean {
  if (typeof timestamp !== 'string' || typeof header !== 'string') return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex'));
  return header.split(',').some((part) => {
    const given = Buffer.from(part.trim().replace(/^v1=/, ''));
    return part.trim().startsWith('v1=') && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

export interface WebhookStack extends Stack {
  webhooks: ServiceProcess[];
  startWebhooks(env?: Record<string, string>): Promise<ServiceProcess>;
}

/** Fast presence timing: a killed gateway is swept about 1.5 s later. */
export const FAST_PRESENCE = { PRESENCE_HEARTBEAT_MS: '200', PRESENCE_NODE_TIMEOUT_MS: '1000' };

/** Short backoff so retry tests take seconds. */
export const FAST_RETRIES = { WEBHOOK_RETRY_MIN_MS: '200', WEBHOOK_RETRY_MAX_MS: '1600', WEBHOOK_BATCH_LINGER_MS: '5', WEBHOOK_TIMEOUT_MS: '2000', WEBHOOK_PARTITIONS: '4', WEBHOOK_LEASE_MS: '2000' };

/**
 * A stack (two gateways, emit-api) whose `alpha` test environment sends every event to each
 * receiver given, plus `dispatchers` webhooks dispatcher processes.
 */
export async function startWebhookStack(
  receivers: { url: string; secrets?: string[]; events?: string[] }[],
  options: StackOptions & { dispatchers?: number; webhooksEnv?: Record<string, string> } = {},
): Promise<WebhookStack> {
  const stack = await startStack({
    ...options,
    gatewayEnv: { ...FAST_PRESENCE, ...options.gatewayEnv },
    configureApps: (apps: AppsFile['apps']) => {
      apps[0]!.environments.test!.webhooks = receivers.map((r) => ({
        url: r.url,
        secrets: r.secrets ?? [SECRET],
        events: (r.events ?? ['user_online', 'user_offline', 'channel_occupied', 'channel_vacated', 'member_added', 'member_removed']) as never,
      }));
      options.configureApps?.(apps);
    },
  });
  const webhooks: ServiceProcess[] = [];
  let n = 0;
  const startWebhooks = async (env: Record<string, string> = {}) => {
    const service = await startService({
      entry: WEBHOOKS_ENTRY,
      name: `webhooks-${n++}`,
      env: { ...serviceEnv(stack), WEBHOOK_STORAGE: 'memory', ...FAST_RETRIES, ...options.webhooksEnv, ...env },
    });
    webhooks.push(service);
    return service;
  };
  for (let i = 0; i < (options.dispatchers ?? 1); i++) await startWebhooks();
  const stop = stack.stop;
  return {
    ...stack,
    webhooks,
    startWebhooks,
    async stop() {
      await Promise.all(webhooks.map((w) => w.stop()));
      await stop();
    },
  };
}

/** Joins and leaves `channel` with presence `times` times, state `{i}`: 2 × times member events, in that order. */
export async function churn(stack: WebhookStack, identity: string, channel: string, times: number, gateway = 0): Promise<void> {
  const client = await native(stack, identity, 'web', gateway);
  for (let i = 0; i < times; i++) {
    await client.call('signal.join', { id: channel, presence: true, state: { i } });
    await client.call('signal.leave', { id: channel });
  }
  client.close();
}

/** A channel's member events as a receiver got them (each id once): `+{"i":0}`, `-{"i":0}`, … */
export function memberEvents(receiver: Receiver, channel: string): string[] {
  return receiver.unique().flatMap((e) => (e.channel === channel ? [`${e.type === 'member_added' ? '+' : '-'}${JSON.stringify(e.member!.state ?? null)}`] : []));
}

/** What `churn(…, times)` must produce, in order. */
export const expectedChurn = (times: number) => Array.from({ length: times }, (_, i) => [`+${JSON.stringify({ i })}`, `-${JSON.stringify({ i })}`]).flat();
