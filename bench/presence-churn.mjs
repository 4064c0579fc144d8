#!/usr/bin/env node
// Presence churn benchmark (see bench/README.md): a 2-gateway cluster on one nats-server.
//  0. raw NATS: KV put/get/delete and consumer create+delete on the same server, and what each
//     way of reading a channel costs, and KV puts over 1 vs 3 streams (PRESENCE_SHARDS) (bench/lib/store-ops.mjs);
//  1. small channels: SMALL_CHANNELS channels with SMALL_MEMBERS participants each that stay,
//     CHURNERS clients (spread over the channels) loop join → state → state → leave for
//     DURATION_S seconds: operations per second;
//  2. large channel: MEMBERS participants fill it (timed); newcomers' full list idle and while
//     CHURNERS churn in it; then SIGKILL of one gateway: time until every member on the other has
//     all the leaves and the store lists only the survivors;
//  3. very large channel: XL_MEMBERS participants of a simulated gateway node written straight
//     to the store (filling it with real sockets costs XL_MEMBERS² / 2 join frames), newcomers'
//     full list on a node that does not follow the channel yet (cold) and on one that does (warm).
// Run with `pnpm build && node bench/presence-churn.mjs`; everything runs on loopback and stops by itself.
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { AppRegistry, encodeToken, generateApp, mintUserToken } from '@signal/core';
import { startNats, startService, stopAll, writeTempFile } from '@signal/harness';
import { RpcClient, intEnv } from './lib/rpc-client.mjs';
import { measureShardedPuts, measureStoreOps } from './lib/store-ops.mjs';

const SMALL_MEMBERS = intEnv('SMALL_MEMBERS', 10);
const SMALL_CHANNELS = intEnv('SMALL_CHANNELS', 8);
const MEMBERS = intEnv('MEMBERS', 1000);
const XL_MEMBERS = intEnv('XL_MEMBERS', 10000);
const CHURNERS = intEnv('CHURNERS', 40);
const DURATION_S = intEnv('DURATION_S', 10);
const SAMPLES = intEnv('SAMPLES', 20);
const PHASES = (process.env.PHASES ?? 'raw,small,large,xl').split(',');
const CHANNEL = 'bench-room';
const root = fileURLToPath(new URL('..', import.meta.url));

/** Counts frames and leaves; `watch` sees every frame while a test sets it. */
class Client extends RpcClient {
  constructor(ws) {
    super(ws);
    this.frames = 0;
    this.leaves = 0;
    this.watch = undefined;
  }

  onFrame(text) {
    this.frames++;
    if (text.startsWith('{"jsonrpc":"2.0","id":')) return;
    if (text.includes('"method":"signal.leave"')) this.leaves++;
    if (this.watch) this.watch(text);
  }

  close() {
    this.ws.close();
  }
}

async function inBatches(items, size, fn) {
  const out = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { n: sorted.length, median: round(at(0.5)), p95: round(at(0.95)), max: round(sorted.at(-1)) };
}

function round(ms) {
  return Math.round(ms * 10) / 10;
}

async function main() {
  const nats = await startNats();
  console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model}), node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const summary = { machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version } };
  if (PHASES.includes('raw')) {
    // Before the gateways start, so nothing else loads the server.
    summary.rawNats = await measureStoreOps(nats.url);
    console.log(`raw NATS (40 in flight, per second): ${JSON.stringify(summary.rawNats)}`);
    summary.shardedPuts = await measureShardedPuts(nats.url);
    console.log(`KV puts/s over 1 and 3 streams on this server (PRESENCE_SHARDS): ${JSON.stringify(summary.shardedPuts)}`);
  }
  const app = generateApp('bench');
  const appsFile = await writeTempFile('apps.json', JSON.stringify({ apps: [app] }));
  const scope = new AppRegistry({ apps: [app] }).byPublishableKey(app.environments.test.publishableKeys[0]);
  const most = Math.max(MEMBERS, XL_MEMBERS) + CHURNERS + SAMPLES + 10;
  // Default log level (info, one line per connection), as a deployment would run.
  // Every client comes from 127.0.0.1, and churners join and publish as fast as they can: the
  // per-address and per-connection rate limits (docs/limits.md) are lifted to measure presence.
  const env = {
    NATS_URL: nats.url,
    APPS_FILE: appsFile,
    PORT: '0',
    ADMIN_PORT: '0',
    PRESENCE_MAX_PARTICIPANTS: String(most),
    MAX_CONNECTIONS_PER_IP: String(Math.max(MEMBERS, SMALL_MEMBERS * SMALL_CHANNELS) + CHURNERS + SAMPLES + 10),
    JOIN_RATE: '1000000',
    JOIN_BURST: '1000000',
    PUBLISH_RATE: '1000000',
    PUBLISH_BURST: '1000000',
    FRAME_RATE: '1000000',
    FRAME_BURST: '1000000',
  };
  const gateways = await Promise.all(
    [0, 1].map((i) => startService({ entry: `${root}services/gateway/dist/main.js`, name: `gateway-${i}`, env })),
  );
  const emitApi = await startService({ entry: `${root}services/emit-api/dist/main.js`, name: 'emit-api', env });
  const secretKey = app.environments.test.secretKeys[0].key;
  const urlOf = async (i, identity) => {
    const { token } = await mintUserToken(scope, { identity, device: 'bench', ttlSeconds: 3600 });
    return `ws://127.0.0.1:${gateways[i % 2].ready.port}/v1/connect?token=${token}`;
  };
  const participantsInStore = async (channel) => {
    const res = await fetch(`http://127.0.0.1:${emitApi.ready.port}/v1/channels/${channel}/participants`, {
      headers: { authorization: `Bearer ${secretKey}` },
    });
    return (await res.json()).participants;
  };

  if (PHASES.includes('small')) summary.small = await smallChannels();
  if (PHASES.includes('xl')) summary.xl = await veryLargeChannel();
  if (PHASES.includes('large')) summary.large = await largeChannel();
  console.log(JSON.stringify(summary));
  await Promise.all([...gateways.map((g) => g.stop().catch(() => undefined)), emitApi.stop()]);
  await nats.stop();

  /** Churners loop join → state → state → leave in `channelOf(i)` until the deadline; counts and latencies. */
  async function churn(channelOf, label) {
    console.log(`${label}: ${CHURNERS} clients × (join, state, state, leave) for ${DURATION_S} s…`);
    const churners = await inBatches([...Array(CHURNERS).keys()], 20, async (i) => Client.open(await urlOf(i, `c${i}`)));
    const counts = { join: 0, state: 0, leave: 0, errors: 0 };
    const opLatency = [];
    const deadline = performance.now() + DURATION_S * 1000;
    const started = performance.now();
    const timed = async (kind, op) => {
      const t0 = performance.now();
      try {
        await op();
        counts[kind]++;
        opLatency.push(performance.now() - t0);
      } catch (error) {
        counts.errors++;
        if (counts.errors <= 3) console.log(`  error: ${error.message}`);
      }
    };
    const loops = churners.map(async (c, i) => {
      const channel = channelOf(i);
      let step = 0;
      while (performance.now() < deadline) {
        await timed('join', () => c.request('signal.join', { id: channel, presence: true }));
        await timed('state', () => c.request('signal.publish', { id: channel, state: { i, step: step++ } }));
        await timed('state', () => c.request('signal.publish', { id: channel, state: { i, step: step++ } }));
        await timed('leave', () => c.request('signal.leave', { id: channel }));
      }
    });
    return {
      deadline,
      done: Promise.all(loops).then(() => {
        const seconds = (performance.now() - started) / 1000;
        for (const c of churners) c.close();
        const ops = counts.join + counts.state + counts.leave;
        const result = {
          clients: CHURNERS,
          seconds: round(seconds),
          opsPerSecond: Math.round(ops / seconds),
          joinsPerSecond: Math.round(counts.join / seconds),
          counts,
          opLatency: stats(opLatency),
        };
        console.log(
          `  ${result.opsPerSecond} ops/s (joins ${result.joinsPerSecond}/s, state updates ${Math.round(counts.state / seconds)}/s, ` +
            `leaves ${Math.round(counts.leave / seconds)}/s), ${counts.errors} errors; op latency ${JSON.stringify(result.opLatency)} ms`,
        );
        return result;
      }),
    };
  }

  async function smallChannels() {
    const channelOf = (i) => `small-${i % SMALL_CHANNELS}`;
    const members = await inBatches([...Array(SMALL_MEMBERS * SMALL_CHANNELS).keys()], 50, async (i) => Client.open(await urlOf(i, `s${i}`)));
    await inBatches(members, 10, (m, i) => m.request('signal.join', { id: channelOf(i), presence: true, state: { n: 1 } }));
    const framesBefore = members.reduce((sum, m) => sum + m.frames, 0);
    const run = await churn(channelOf, `${SMALL_CHANNELS} small channels (${SMALL_MEMBERS} members each)`);
    const result = await run.done;
    result.framesPerSecond = Math.round((members.reduce((sum, m) => sum + m.frames, 0) - framesBefore) / result.seconds);
    for (const m of members) m.close();
    return { channels: SMALL_CHANNELS, members: SMALL_MEMBERS, ...result };
  }

  async function largeChannel() {
    console.log(`large channel: ${MEMBERS} members joining '${CHANNEL}' with presence over 2 gateways…`);
    const members = await inBatches([...Array(MEMBERS).keys()], 50, async (i) => Client.open(await urlOf(i, `m${i}`)));
    const started = performance.now();
    await inBatches(members, 10, (m, i) => m.request('signal.join', { id: CHANNEL, presence: true, state: { n: i } }));
    const fillMs = performance.now() - started;
    console.log(`  ${MEMBERS} joins done in ${round(fillMs)} ms`);
    const idle = await newcomers(members, SAMPLES, 'idle');
    console.log(`newcomer (idle): full list ${JSON.stringify(idle.list)} ms; seen by all members ${JSON.stringify(idle.seen)} ms`);
    const framesBefore = members.reduce((sum, m) => sum + m.frames, 0);
    const run = await churn(() => CHANNEL, `large channel (${MEMBERS} members)`);
    const underChurn = await newcomers(members, Math.max(5, Math.floor(SAMPLES / 2)), 'busy', () => performance.now() < run.deadline);
    const churned = await run.done;
    churned.framesPerSecond = Math.round((members.reduce((sum, m) => sum + m.frames, 0) - framesBefore) / churned.seconds);
    console.log(`newcomer (during churn): full list ${JSON.stringify(underChurn.list)} ms`);

    // Kill a gateway holding half the members.
    await waitFor(async () => (await participantsInStore(CHANNEL)).length === MEMBERS, 30_000);
    const survivors = members.filter((_, i) => i % 2 === 0);
    const killedCount = MEMBERS - survivors.length;
    for (const m of survivors) m.leaves = 0;
    const killedAt = performance.now();
    await gateways[1].kill();
    await waitFor(() => survivors.every((m) => m.leaves >= killedCount), 60_000, 5);
    const allLeavesMs = performance.now() - killedAt;
    await waitFor(async () => (await participantsInStore(CHANNEL)).length === survivors.length, 60_000);
    const storeCleanMs = performance.now() - killedAt;
    console.log(`kill: ${killedCount} leaves reached all ${survivors.length} survivors after ${round(allLeavesMs)} ms; store clean after ${round(storeCleanMs)} ms`);
    for (const m of members) m.close();
    return {
      members: MEMBERS,
      fillMs: round(fillMs),
      newcomerIdle: idle,
      churn: churned,
      newcomerDuringChurn: underChurn,
      kill: { leavesAtAllSurvivorsMs: round(allLeavesMs), storeCleanMs: round(storeCleanMs) },
    };
  }

  /**
   * XL_MEMBERS participants of a gateway node the benchmark plays itself: it heartbeats a node
   * record like a gateway (so nobody sweeps its entries) and writes the entries straight to the
   * participants bucket. Newcomers are real clients of the real gateways.
   */
  async function veryLargeChannel() {
    const channel = 'xl-room';
    const nc = await connect({ servers: nats.url });
    const kvm = new Kvm(jetstream(nc));
    const participants = await kvm.open('signal_presence');
    const nodes = await kvm.open('signal_presence_nodes');
    const node = 'benchsim';
    const instance = randomBytes(6).toString('hex');
    const record = () => new TextEncoder().encode(JSON.stringify({ node, instance, beatAt: Date.now(), startedAt: Date.now(), connections: XL_MEMBERS }));
    await nodes.put(node, record());
    const beat = setInterval(() => void nodes.put(node, record()).catch(() => undefined), 500);
    console.log(`very large channel: ${XL_MEMBERS} participants of a simulated node written to the store…`);
    const prefix = `${scope.app}.${scope.env}.${encodeToken(channel)}.${node}.`;
    for (let i = 0; i < XL_MEMBERS; i += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, XL_MEMBERS - i) }, (_, k) => {
          const n = i + k;
          const value = { channel, address: `x${n}/bench/${node}-${n}`, identity: `x${n}`, device: 'bench', node, instance, joinedAt: Date.now(), state: { n } };
          return participants.put(`${prefix}${n}`, new TextEncoder().encode(JSON.stringify(value)));
        }),
      );
    }
    const newcomer = async (k, label) => {
      const client = await Client.open(await urlOf(k, `xl-${label}-${k}`));
      const t0 = performance.now();
      const result = await client.request('signal.join', { id: channel, presence: true });
      const ms = performance.now() - t0;
      if (result.participants.length < XL_MEMBERS) throw new Error(`newcomer got ${result.participants.length} participants, expected ${XL_MEMBERS}`);
      return { client, ms };
    };
    // Cold: nobody on the node is in the channel, so the join opens the node's feed of it.
    const cold = [];
    for (let k = 0; k < Math.max(4, Math.floor(SAMPLES / 2)); k++) {
      const { client, ms } = await newcomer(k, 'cold');
      cold.push(ms);
      await client.request('signal.leave', { id: channel });
      client.close();
    }
    // Warm: one participant stays on each node, so newcomers read the node's view.
    const holders = await Promise.all([0, 1].map((k) => newcomer(k, 'holder')));
    const warm = [];
    for (let k = 0; k < SAMPLES; k++) {
      const { client, ms } = await newcomer(k, 'warm');
      warm.push(ms);
      await client.request('signal.leave', { id: channel });
      client.close();
    }
    for (const h of holders) h.client.close();
    const result = { members: XL_MEMBERS, newcomerCold: stats(cold), newcomerWarm: stats(warm) };
    console.log(`  newcomer full list: cold ${JSON.stringify(result.newcomerCold)} ms, warm ${JSON.stringify(result.newcomerWarm)} ms`);
    clearInterval(beat);
    for (let i = 0; i < XL_MEMBERS; i += 500) {
      await Promise.all(Array.from({ length: Math.min(500, XL_MEMBERS - i) }, (_, k) => participants.delete(`${prefix}${i + k}`)));
    }
    await nodes.delete(node);
    await nc.close();
    return result;
  }

  /** Newcomers join and leave one after another, alternating gateways. */
  async function newcomers(members, count, label, more = () => true) {
    const list = [];
    const seen = [];
    let errors = 0;
    for (let k = 0; k < count && more(); k++) {
      const identity = `new-${label}-${k}`;
      const client = await Client.open(await urlOf(k, identity));
      let seenBy = 0;
      let allSeen;
      const everyone = new Promise((resolve) => (allSeen = resolve));
      for (const m of members) {
        m.watch = (text) => {
          if (text.includes('"method":"signal.join"') && text.includes(`"from":"${identity}/`)) {
            m.watch = undefined;
            if (++seenBy === members.length) allSeen();
          }
        };
      }
      const t0 = performance.now();
      let result;
      try {
        result = await client.request('signal.join', { id: CHANNEL, presence: true });
      } catch (error) {
        // Counted, not fatal: an overloaded store answers late now and then.
        errors++;
        console.log(`  newcomer error: ${error.message}`);
        for (const m of members) m.watch = undefined;
        client.close();
        continue;
      }
      list.push(performance.now() - t0);
      if (result.participants.length < MEMBERS) throw new Error(`newcomer got ${result.participants.length} participants, expected at least ${MEMBERS}`);
      await everyone;
      seen.push(performance.now() - t0);
      await client.request('signal.leave', { id: CHANNEL });
      client.close();
    }
    return { list: stats(list), seen: stats(seen), errors };
  }
}

async function waitFor(condition, timeoutMs, everyMs = 50) {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
