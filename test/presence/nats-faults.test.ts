import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AppRegistry, generateApp, mintUserToken, parseAppsFile, type AppsFile } from '@signal/core';
import { freePort, startNatsCluster, startService, writeTempFile, type NatsCluster, type ServiceProcess } from '@signal/harness';
import { ENTRY_OVERHEAD_BYTES, JetStreamPresenceStore, openPresenceBuckets } from '@signal/presence';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sample, scrape } from '../support/admin.js';
import { nativeView } from '../support/native-view.js';
import { passes } from '../support/poll.js';
import { RpcClient, type Frame } from '../support/rpc-client.js';
import { EMIT_API_ENTRY, GATEWAY_ENTRY } from '../support/stack.js';

/**
 * Presence on a 3-node NATS cluster with its buckets at 3 replicas, while a NATS node dies:
 * JetStream elects new leaders for several seconds, and presence operations must ride that out
 * (docs/presence.md, "Faults of NATS itself").
 */
const CHANNELS = ['hall-0', 'hall-1', 'hall-2'];
const CHURNERS_PER_GATEWAY = 3;
/** Joins that must succeed after the kill, per churner, before the churn stops. */
const JOINS_AFTER_KILL = 2;
/**
 * A join or leave may wait out a leader election: each of its store steps (the channel's feed,
 * the write, the write's echo through a feed that may have to be reopened) retries for up to
 * PRESENCE_RETRY_DEADLINE_MS (30 s) plus one attempt (5 s); two such steps can meet one election.
 */
const JOIN_WAIT_MS = 75_000;

interface ClusterStack {
  cluster: NatsCluster;
  apps: AppsFile['apps'];
  gateways: ServiceProcess[];
  emitApi: ServiceProcess;
  stop(): Promise<void>;
}

async function startClusterStack(): Promise<ClusterStack> {
  const cluster = await startNatsCluster(3);
  const apps = [generateApp('alpha')];
  const appsFile = await writeTempFile('apps-nats-faults.json', JSON.stringify({ apps }));
  // Churners join as fast as the store answers (hundreds a second once it is back), far above a
  // client's join rate (JOIN_RATE 20/s, burst 128): past it the gateway refuses and then closes the
  // connection (4029), and the churner's request in flight is never answered. The same holds for
  // the frame rate (FRAME_RATE 200/s, burst 400: a join and a leave every 10 ms pass it; a
  // refused frame is answered with an error without an id). This test is about NATS faults, not
  // rate limits, so both are lifted.
  const env = {
    NATS_URL: cluster.url,
    APPS_FILE: appsFile,
    PORT: '0',
    ADMIN_PORT: '0',
    LOG_LEVEL: 'info',
    PRESENCE_REPLICAS: '3',
    JOIN_RATE: '1000000',
    JOIN_BURST: '1000000',
    FRAME_RATE: '100000',
    FRAME_BURST: '100000',
  };
  const emitApi = await startService({ entry: EMIT_API_ENTRY, name: 'emit-api', env, readyTimeoutMs: 60_000 });
  const gateways: ServiceProcess[] = [];
  for (const i of [0, 1]) gateways.push(await startService({ entry: GATEWAY_ENTRY, name: `gateway-${i}`, env, readyTimeoutMs: 60_000 }));
  return {
    cluster,
    apps,
    gateways,
    emitApi,
    async stop() {
      await Promise.all([...gateways, emitApi].map((s) => s.stop()));
      await cluster.stop();
    },
  };
}

async function client(stack: ClusterStack, gateway: number, identity: string): Promise<RpcClient> {
  const scope = new AppRegistry(parseAppsFile({ apps: stack.apps })).byPublishableKey(stack.apps[0]!.environments.test!.publishableKeys[0]!)!;
  const { token } = await mintUserToken(scope, { identity, device: 'app', ttlSeconds: 600 });
  return RpcClient.connect(`ws://127.0.0.1:${String(stack.gateways[gateway]!.ready.port)}/v1/connect?token=${token}`);
}

/** A request answered within JOIN_WAIT_MS (longer than RpcClient.request's own wait). */
let ids = 1_000_000;
async function slowRequest(c: RpcClient, method: string, params: Record<string, unknown>): Promise<Frame> {
  const id = ids++;
  c.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
  // A connection the gateway closed answers nothing more: fail with its close code at once.
  const closed = c.closed.then(({ code, reason }) => {
    throw new Error(`${method} ${JSON.stringify(params)} unanswered: the gateway closed the connection (${code} ${reason})`);
  });
  // The test closes every client at its end: that rejection, after the answer came, goes nowhere.
  closed.catch(() => undefined);
  return Promise.race([c.next((f) => f.id === id && f.method === undefined, JOIN_WAIT_MS), closed]);
}

/** The participants of a channel as the store holds them, read on a connection of the test's own. */
async function storeAddresses(nc: NatsConnection, channel: string): Promise<string[]> {
  const settings = { bucket: 'signal_presence', replicas: 3, storage: 'memory', maxBytes: 256 * 1024 * 1024, maxValueBytes: 1024 + ENTRY_OVERHEAD_BYTES, retryDeadlineMs: 10_000 } as const;
  const buckets = await openPresenceBuckets(nc, settings);
  const store = new JetStreamPresenceStore(nc, buckets.shards[0]!.kv, 'signal_presence', settings.retryDeadlineMs);
  const scope = { app: 'alpha', env: 'test' as const };
  return (await store.participants(scope, channel)).map((p) => p.address).sort();
}

/** The name of the server leading the presence stream (`n1`…`n3`, index + 1 in cluster.servers). */
async function streamLeader(nc: NatsConnection): Promise<string> {
  const reply = await nc.request('$JS.API.STREAM.INFO.KV_signal_presence', undefined, { timeout: 5000 });
  return (reply.json<{ cluster?: { leader?: string } }>().cluster?.leader) ?? '';
}

function serverIndexOfGateway(stack: ClusterStack, gateway: number): number {
  const url = String(stack.gateways[gateway]!.ready.nats);
  return stack.cluster.urls.findIndex((u) => url.endsWith(`:${u.split(':').at(-1)}`));
}

/*
 * Both roles cost about a minute each (a 3-node cluster, three services, an election): CI runs
 * one, the stream leader's death (the presence stream and its feeds' consumers elect again);
 * SIGNAL_FAULT_TESTS=1 runs both. (Their lost answer of before was the churners' join rate: see
 * startClusterStack.)
 */
const ROLES = process.env.SIGNAL_FAULT_TESTS === '1' ? (['the one gateway-0 is connected to', 'the presence stream leader'] as const) : (['the presence stream leader'] as const);
describe.each(ROLES)('a NATS node killed during presence churn: %s', (role) => {
  let stack: ClusterStack;
  let nc: NatsConnection;
  // Three nats-servers and three services, each allowed 60 s to be ready on a loaded machine.
  beforeAll(async () => {
    stack = await startClusterStack();
    nc = await connect({ servers: stack.cluster.urls });
  }, 200_000);
  afterAll(async () => {
    await nc?.close();
    await stack?.stop();
  });

  it('costs no failed join: every join succeeds, every list converges with the store, nobody is swept', { timeout: 180_000 }, async () => {
    // Observers hold the list of each channel on each gateway.
    const observers: { c: RpcClient; channel: string }[] = [];
    for (const gateway of [0, 1]) {
      for (const channel of CHANNELS) {
        const c = await client(stack, gateway, `obs-${gateway}-${channel}`);
        await c.call('signal.join', { id: channel, presence: true });
        observers.push({ c, channel });
      }
    }
    const churners = await Promise.all(
      Array.from({ length: CHURNERS_PER_GATEWAY * 2 }, (_, i) => client(stack, i % 2, `churn-${i}`)),
    );
    const failures: string[] = [];
    const latencies: number[] = [];
    let killed = false;
    let stop = false;
    const joinsAfterKill = churners.map(() => 0);
    const loops = churners.map(async (c, i) => {
      for (let round = 0; !stop; round++) {
        const channel = CHANNELS[(i + round) % CHANNELS.length]!;
        const started = performance.now();
        const joined = await slowRequest(c, 'signal.join', { id: channel, presence: true, state: { round } });
        latencies.push(performance.now() - started);
        if (joined.error) failures.push(`join: ${joined.error.message}`);
        else if (killed) joinsAfterKill[i]!++;
        const left = await slowRequest(c, 'signal.leave', { id: channel });
        if (left.error) failures.push(`leave: ${left.error.message}`);
        if (killed && joinsAfterKill.every((n) => n >= JOINS_AFTER_KILL)) stop = true;
      }
    });

    // Churn is under way on both gateways before the kill.
    await passes(() => expect(latencies.length).toBeGreaterThanOrEqual(churners.length * 2));
    const victim = role === 'the presence stream leader' ? Number((await streamLeader(nc)).slice(1)) - 1 : serverIndexOfGateway(stack, 0);
    expect(victim).toBeGreaterThanOrEqual(0);
    const killedAt = performance.now();
    await stack.cluster.servers[victim]!.kill();
    killed = true;
    await Promise.all(loops);
    const afterKillMs = Math.round(performance.now() - killedAt);

    const sorted = [...latencies].sort((a, b) => a - b);
    console.log(
      `NATS node ${victim + 1} (${role}) killed: ${latencies.length} joins, ${failures.length} failed; join latency median ${Math.round(sorted[sorted.length >> 1]!)} ms, max ${Math.round(sorted.at(-1)!)} ms; churn ended ${afterKillMs} ms after the kill`,
    );
    expect(failures).toEqual([]);
    // Every list converges with the store.
    for (const { c, channel } of observers) {
      await passes(async () => {
        const inStore = (await storeAddresses(nc, channel)).filter((a) => a !== c.address);
        expect([...nativeView(c, channel).keys()].sort()).toEqual(inStore);
      }, 30_000);
    }
    // The election was ridden out by retrying, and counted.
    let retries = 0;
    for (const g of stack.gateways) retries += sample(await scrape(g), 'signal_gateway_presence_retries_total', { operation: 'store' });
    expect(retries).toBeGreaterThan(0);
    // No gateway was swept: none logged a sweep, or being swept.
    for (const g of stack.gateways) {
      expect(g.lines().some((l) => l.includes('declared dead and swept'))).toBe(false);
      expect(g.lines().some((l) => l.includes('swept a dead gateway node'))).toBe(false);
    }
    for (const o of observers) o.c.close();
    for (const c of churners) c.close();
  });
});

describe('services started while the cluster has no JetStream quorum', () => {
  let cluster: NatsCluster;
  const services: ServiceProcess[] = [];
  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop()));
    await cluster?.stop();
  });

  it('wait, not ready, saying what they wait for, and become ready once JetStream is back, without exiting', { timeout: 120_000 }, async () => {
    cluster = await startNatsCluster(3);
    const apps = [generateApp('alpha')];
    const appsFile = await writeTempFile('apps-nats-quorum.json', JSON.stringify({ apps }));
    // Two of three nodes down: the survivor cannot elect a JetStream leader, so no bucket can be created.
    await cluster.servers[1]!.kill();
    await cluster.servers[2]!.kill();
    const starting = (['gateway', 'emit-api'] as const).map(async (name) => {
      const adminPort = await freePort();
      const lines: string[] = [];
      const env = { NATS_URL: cluster.urls[0]!, APPS_FILE: appsFile, PORT: '0', ADMIN_PORT: String(adminPort), LOG_LEVEL: 'info', PRESENCE_REPLICAS: '3' };
      const service = startService({ entry: name === 'gateway' ? GATEWAY_ENTRY : EMIT_API_ENTRY, name, env, readyTimeoutMs: 90_000, onLine: (l) => lines.push(l) });
      return { name, adminPort, lines, service };
    });
    const pending = await Promise.all(starting);
    for (const { adminPort, lines } of pending) {
      await passes(() => expect(lines.some((l) => l.includes('waiting for the presence buckets'))).toBe(true), 60_000);
      const res = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
      expect(res.status).toBe(503);
      expect(JSON.stringify(await res.json())).toContain('starting');
    }
    await Promise.all([cluster.servers[1]!.restart(), cluster.servers[2]!.restart()]);
    for (const { adminPort, service, lines } of pending) {
      services.push(await service);
      await passes(async () => expect((await fetch(`http://127.0.0.1:${adminPort}/readyz`)).status).toBe(200), 30_000);
      expect(lines.some((l) => l.includes('failed to start'))).toBe(false);
    }
  });
});
