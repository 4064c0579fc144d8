import { connect } from '@nats-io/transport-node';
import { generateApp, type AppsFile } from '@signal/core';
import { startNatsCluster, startService, writeTempFile, type NatsCluster, type ServiceProcess } from '@signal/harness';
import WebSocket from 'ws';
import { Signal } from '@signal/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passes } from '../support/poll.js';
import { EMIT_API_ENTRY, GATEWAY_ENTRY } from '../support/stack.js';
import { withHistory } from './support.js';

let cluster: NatsCluster;
let gateways: ServiceProcess[];
let emitApi: ServiceProcess;
let apps: AppsFile['apps'];
const clients: Signal[] = [];

const emitUrl = () => `http://127.0.0.1:${String(emitApi.ready.port)}`;
const gatewayUrl = (i: number) => `ws://127.0.0.1:${String(gateways[i]!.ready.port)}`;
const secretKey = () => apps[0]!.environments.test!.secretKeys[0]!.key!;

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  apps = [generateApp('alpha', { broadcast: true })];
  withHistory(100)(apps);
  const appsFile = await writeTempFile('history-cluster-apps.json', JSON.stringify({ apps }));
  // Everything replicated over the three servers, so losing one loses nothing.
  const env = { NATS_URL: cluster.url, APPS_FILE: appsFile, PORT: '0', ADMIN_PORT: '0', HISTORY_REPLICAS: '3', HISTORY_READ_TIMEOUT_MS: '1500', PRESENCE_REPLICAS: '3', REVOCATION_REPLICAS: '3' };
  // One after the other: the first creates the replicated buckets.
  gateways = [];
  for (const i of [0, 1]) gateways.push(await startService({ entry: GATEWAY_ENTRY, name: `gateway-${i}`, env }));
  emitApi = await startService({ entry: EMIT_API_ENTRY, name: 'emit-api', env });
}, 90_000);
afterAll(async () => {
  for (const client of clients) client.close();
  await Promise.all([...(gateways ?? []), ...(emitApi ? [emitApi] : [])].map((s) => s.stop('SIGKILL')));
  await cluster?.stop();
});

async function post(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${emitUrl()}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secretKey()}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function emit(channel: string, message: unknown): Promise<void> {
  const { status, body } = await post('/v1/signals', { to: { channel }, event: 'e', message });
  expect(status, JSON.stringify(body)).toBe(202);
  expect(body.history).toHaveLength(1);
}

/** The history stream's leader, by server name (n1, n2, n3: the cluster's servers in order). */
async function streamLeader(): Promise<number> {
  const nc = await connect({ servers: cluster.urls });
  try {
    const info = (await nc.request('$JS.API.STREAM.INFO.SIGNAL_HISTORY_alpha_test')).json<{ cluster?: { leader?: string; replicas?: unknown[] } }>();
    expect(info.cluster?.replicas).toHaveLength(2);
    return Number(info.cluster!.leader!.slice(1)) - 1;
  } finally {
    await nc.close();
  }
}

describe('history on a 3-node NATS cluster', () => {
  it('recovers what a client missed after the stream leader died and its gateway was killed', async () => {
    const channel = 'hist-cluster';
    const alice = new Signal(
      async () => {
        const res = await post('/v1/tokens', { identity: 'alice', device: 'web' });
        return res.body.token as string;
      },
      { url: [gatewayUrl(0), gatewayUrl(1)], WebSocket, reconnect: { initialDelayMs: 200 } },
    );
    clients.push(alice);
    const room = alice.join(channel);
    await room.joined;
    const got: unknown[] = [];
    room.on('message', (message) => got.push(message.message));
    const recoveries: unknown[] = [];
    room.on('recovery', (outcome) => recoveries.push(outcome));
    const errors: string[] = [];
    room.on('error', (error) => errors.push(error.message));
    alice.on('error', (error) => errors.push(error.message));

    for (let i = 0; i < 5; i++) await emit(channel, i);
    await passes(() => expect(got).toHaveLength(5));

    // A NATS server dies: the stream's leader, the worst one to lose. Once a new leader is
    // elected the history answers again (until then emits get 503).
    await cluster.servers[await streamLeader()]!.kill();
    await passes(async () => {
      const res = await fetch(`${emitUrl()}/v1/channels/${channel}/history?since=0&limit=1`, { headers: { authorization: `Bearer ${secretKey()}` } });
      expect(res.status).toBe(200);
    }, 30_000, 200);
    for (let i = 5; i < 10; i++) await emit(channel, i);
    await passes(() => expect(got).toHaveLength(10), 30_000);
    // Then alice's gateway dies too, and she misses what comes meanwhile.
    const away = new Promise<void>((resolve) => alice.once('disconnected', () => resolve()));
    await gateways[0]!.kill();
    await away;
    for (let i = 10; i < 15; i++) await emit(channel, i);

    await passes(() => expect(got, JSON.stringify({ recoveries, errors })).toHaveLength(15), 30_000);
    expect(got).toEqual(Array.from({ length: 15 }, (_, i) => i));
    expect(recoveries).toEqual([{ recovered: true }]);
    expect(errors).toEqual([]);
  }, 90_000);
});
