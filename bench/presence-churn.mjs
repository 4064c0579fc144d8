#!/usr/bin/env node
// Presence churn benchmark (see bench/README.md): a 2-gateway cluster on one nats-server,
// a presence channel of MEMBERS participants spread over both gateways, then
//  1. newcomer: time from `signal.join` to the result carrying the full participant list,
//     and until every member has seen the newcomer's `signal.join`;
//  2. churn: CHURNERS clients looping join → state → state → leave for DURATION_S seconds,
//     counting completed operations per second (and newcomer times meanwhile);
//  3. kill: SIGKILL one gateway, time until every member on the other has all the leaves and
//     the store lists only the survivors.
// Run with `pnpm build && node bench/presence-churn.mjs`; everything runs on loopback and stops by itself.
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { AppRegistry, generateApp, mintUserToken } from '@signal/core';
import { startNats, startService, stopAll, writeTempFile } from '@signal/harness';
import { RpcClient, intEnv } from './lib/rpc-client.mjs';

const MEMBERS = intEnv('MEMBERS', 1000);
const CHURNERS = intEnv('CHURNERS', 40);
const DURATION_S = intEnv('DURATION_S', 20);
const SAMPLES = intEnv('SAMPLES', 20);
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
  const app = generateApp('bench');
  const appsFile = await writeTempFile('apps.json', JSON.stringify({ apps: [app] }));
  const scope = new AppRegistry({ apps: [app] }).byPublishableKey(app.environments.test.publishableKeys[0]);
  // Default log level (info, one line per connection), as a deployment would run.
  // Every client comes from 127.0.0.1, and churners join and publish as fast as they can: the
  // per-address and per-connection rate limits (docs/limits.md) are lifted to measure presence.
  const env = {
    NATS_URL: nats.url,
    APPS_FILE: appsFile,
    PORT: '0',
    ADMIN_PORT: '0',
    PRESENCE_MAX_PARTICIPANTS: String(MEMBERS + CHURNERS + SAMPLES + 10),
    MAX_CONNECTIONS_PER_IP: String(MEMBERS + CHURNERS + SAMPLES + 10),
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
  const participantsInStore = async () => {
    const res = await fetch(`http://127.0.0.1:${emitApi.ready.port}/v1/channels/${CHANNEL}/participants`, {
      headers: { authorization: `Bearer ${secretKey}` },
    });
    return (await res.json()).participants;
  };

  console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model}), node ${process.version}`);
  console.log(`setup: ${MEMBERS} members joining '${CHANNEL}' with presence over 2 gateways…`);
  let started = performance.now();
  const members = await inBatches([...Array(MEMBERS).keys()], 50, async (i) => Client.open(await urlOf(i, `m${i}`)));
  await inBatches(members, 10, (m, i) => m.request('signal.join', { id: CHANNEL, presence: true, state: { n: i } }));
  const fillMs = performance.now() - started;
  console.log(`  ${MEMBERS} joins done in ${round(fillMs)} ms`);

  // 1. Newcomers on an idle channel.
  const idle = await newcomers(SAMPLES, 'idle');
  console.log(`newcomer (idle): full list ${JSON.stringify(idle.list)} ms; seen by all members ${JSON.stringify(idle.seen)} ms`);

  // 2. Churn, with newcomer samples taken meanwhile.
  console.log(`churn: ${CHURNERS} clients × (join, state, state, leave) for ${DURATION_S} s…`);
  const churners = await inBatches([...Array(CHURNERS).keys()], 20, async (i) => Client.open(await urlOf(i, `c${i}`)));
  const framesBefore = members.reduce((sum, m) => sum + m.frames, 0);
  const counts = { join: 0, state: 0, leave: 0, errors: 0 };
  const opLatency = [];
  const deadline = performance.now() + DURATION_S * 1000;
  started = performance.now();
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
    let step = 0;
    while (performance.now() < deadline) {
      await timed('join', () => c.request('signal.join', { id: CHANNEL, presence: true }));
      await timed('state', () => c.request('signal.publish', { id: CHANNEL, state: { i, step: step++ } }));
      await timed('state', () => c.request('signal.publish', { id: CHANNEL, state: { i, step: step++ } }));
      await timed('leave', () => c.request('signal.leave', { id: CHANNEL }));
    }
  });
  const busy = newcomers(Math.max(5, Math.floor(SAMPLES / 2)), 'busy', () => performance.now() < deadline);
  await Promise.all(loops);
  const churnS = (performance.now() - started) / 1000;
  const underChurn = await busy;
  const framesOut = members.reduce((sum, m) => sum + m.frames, 0) - framesBefore;
  const ops = counts.join + counts.state + counts.leave;
  console.log(
    `  ${Math.round(ops / churnS)} ops/s (joins ${Math.round(counts.join / churnS)}/s, state updates ${Math.round(counts.state / churnS)}/s, ` +
      `leaves ${Math.round(counts.leave / churnS)}/s), ${counts.errors} errors; op latency ${JSON.stringify(stats(opLatency))} ms; ` +
      `${Math.round(framesOut / churnS)} frames/s delivered to members`,
  );
  console.log(`newcomer (during churn): full list ${JSON.stringify(underChurn.list)} ms`);
  for (const c of churners) c.close();

  // 3. Kill a gateway holding half the members.
  await waitFor(async () => (await participantsInStore()).length === MEMBERS, 30_000);
  const survivors = members.filter((_, i) => i % 2 === 0);
  const killedCount = MEMBERS - survivors.length;
  for (const m of survivors) m.leaves = 0;
  const killedAt = performance.now();
  await gateways[1].kill();
  await waitFor(() => survivors.every((m) => m.leaves >= killedCount), 60_000, 5);
  const allLeavesMs = performance.now() - killedAt;
  await waitFor(async () => (await participantsInStore()).length === survivors.length, 60_000);
  const storeCleanMs = performance.now() - killedAt;
  console.log(`kill: ${killedCount} leaves reached all ${survivors.length} survivors after ${round(allLeavesMs)} ms; store clean after ${round(storeCleanMs)} ms`);

  const summary = {
    machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
    members: MEMBERS,
    fillMs: round(fillMs),
    newcomerIdle: idle,
    churn: { clients: CHURNERS, seconds: round(churnS), opsPerSecond: Math.round(ops / churnS), counts, opLatency: stats(opLatency), framesPerSecond: Math.round(framesOut / churnS) },
    newcomerDuringChurn: underChurn,
    kill: { leavesAtAllSurvivorsMs: round(allLeavesMs), storeCleanMs: round(storeCleanMs) },
  };
  console.log(JSON.stringify(summary));
  for (const m of members) m.close();
  await Promise.all([gateways[0].stop(), emitApi.stop()]);
  await nats.stop();

  /** Newcomers join and leave one after another, alternating gateways. */
  async function newcomers(count, label, more = () => true) {
    const list = [];
    const seen = [];
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
      const result = await client.request('signal.join', { id: CHANNEL, presence: true });
      list.push(performance.now() - t0);
      if (result.participants.length < MEMBERS) throw new Error(`newcomer got ${result.participants.length} participants, expected at least ${MEMBERS}`);
      await everyone;
      seen.push(performance.now() - t0);
      await client.request('signal.leave', { id: CHANNEL });
      client.close();
    }
    return { list: stats(list), seen: stats(seen) };
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
