#!/usr/bin/env node
// Occupancy benchmark (see bench/README.md): a 2-gateway cluster on one nats-server,
//  1. fill: VIEWERS connections join one channel (no presence) over both gateways while
//     FOLLOWERS of them follow its occupancy: joins/s, writes to the occupancy bucket, and
//     notifications per follower per second (the contract: at most 1);
//  2. churn: CHURNERS clients loop join → leave on the same channel for DURATION_S seconds:
//     membership changes/s against occupancy writes/s and notifications/s;
//  3. read: GET …/occupancy against GET …/participants on one presence channel of ROSTER
//     members, side by side (CONCURRENCY requests in flight, READ_S seconds each), and
//     GET …/occupancy of the VIEWERS channel;
//  4. kill: SIGKILL one gateway; time until GET …/occupancy and every follower on the survivor
//     show only the survivor's connections.
// Run with `pnpm build && node bench/occupancy.mjs`; everything runs on loopback and stops by itself.
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { AppRegistry, generateApp, mintUserToken } from '@signal/core';
import { startNats, startService, writeTempFile } from '@signal/harness';
import { RpcClient, intEnv } from './lib/rpc-client.mjs';
import { benchServiceEnv } from './lib/service-env.mjs';

const VIEWERS = intEnv('VIEWERS', 2000);
const FOLLOWERS = intEnv('FOLLOWERS', 20);
const CHURNERS = intEnv('CHURNERS', 40);
const DURATION_S = intEnv('DURATION_S', 10);
const ROSTER = intEnv('ROSTER', 200);
const CONCURRENCY = intEnv('CONCURRENCY', 8);
const READ_S = intEnv('READ_S', 3);
const CHANNEL = 'bench-live';
const root = fileURLToPath(new URL('..', import.meta.url));

/** Counts occupancy notifications and keeps the last one. */
class Client extends RpcClient {
  constructor(ws) {
    super(ws);
    this.updates = 0;
    this.last = undefined;
  }

  onFrame(text) {
    if (!text.includes('"method":"signal.occupancy"')) return;
    this.updates++;
    this.last = JSON.parse(text).params;
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

function round(x) {
  return Math.round(x * 10) / 10;
}

function median(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  return round(sorted[Math.floor(sorted.length / 2)]);
}

async function waitFor(check, timeoutMs, everyMs = 20) {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

async function main() {
  const nats = await startNats();
  const app = generateApp('bench');
  const appsFile = await writeTempFile('apps.json', JSON.stringify({ apps: [app] }));
  const scope = new AppRegistry({ apps: [app] }).byPublishableKey(app.environments.test.publishableKeys[0]);
  const env = benchServiceEnv(nats.url, appsFile, {
    PRESENCE_MAX_PARTICIPANTS: String(ROSTER + 10),
    RATE_LIMIT_PER_KEY: '1000000',
    RATE_LIMIT_BURST: '1000000',
  });
  const gateways = await Promise.all([0, 1].map((i) => startService({ entry: `${root}services/gateway/dist/main.js`, name: `gateway-${i}`, env })));
  const emitApi = await startService({ entry: `${root}services/emit-api/dist/main.js`, name: 'emit-api', env });
  const secretKey = app.environments.test.secretKeys[0].key;
  const urlOf = async (i, identity) => {
    const { token } = await mintUserToken(scope, { identity, device: 'bench', ttlSeconds: 3600 });
    return `ws://127.0.0.1:${gateways[i % 2].ready.port}/v1/connect?token=${token}`;
  };
  const read = async (channel, what) => {
    const res = await fetch(`http://127.0.0.1:${emitApi.ready.port}/v1/channels/${channel}/${what}`, { headers: { authorization: `Bearer ${secretKey}` } });
    if (res.status !== 200) throw new Error(`GET ${what}: ${res.status}`);
    return res.json();
  };
  /** Occupancy writes of every live gateway so far, from their /metrics. */
  const writes = async (which = gateways) => {
    let sum = 0;
    for (const g of which) {
      const text = await (await fetch(`http://127.0.0.1:${g.ready.adminPort}/metrics`)).text();
      for (const line of text.split('\n')) if (line.startsWith('signal_gateway_occupancy_writes_total{')) sum += Number(line.split(' ').at(-1));
    }
    return sum;
  };

  console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model}), node ${process.version}`);

  // 1. Fill.
  const clients = await inBatches([...Array(VIEWERS).keys()], 50, async (i) => Client.open(await urlOf(i, `v${i}`)));
  const followers = clients.slice(0, FOLLOWERS);
  for (const f of followers) await f.request('signal.join', { id: CHANNEL, occupancy: true });
  const writesBefore = await writes();
  let started = performance.now();
  await inBatches(clients.slice(FOLLOWERS), 20, (c) => c.request('signal.join', { id: CHANNEL }));
  const fillS = (performance.now() - started) / 1000;
  await waitFor(() => followers.every((f) => f.last?.connections === VIEWERS), 10_000);
  const settledS = (performance.now() - started) / 1000;
  const fillWrites = (await writes()) - writesBefore;
  const fillUpdates = followers.reduce((sum, f) => sum + f.updates, 0) / FOLLOWERS;
  const fill = {
    viewers: VIEWERS,
    joinsPerSecond: Math.round((VIEWERS - FOLLOWERS) / fillS),
    occupancyWrites: fillWrites,
    followerSawTotalAfterMs: Math.round(settledS * 1000),
    updatesPerFollowerPerSecond: round(fillUpdates / settledS),
  };
  console.log(`fill: ${VIEWERS} joins at ${fill.joinsPerSecond}/s; ${fillWrites} occupancy writes; followers saw ${VIEWERS} after ${fill.followerSawTotalAfterMs} ms, ${fill.updatesPerFollowerPerSecond} updates/s each`);

  // 2. Churn on the same channel.
  const churners = await inBatches([...Array(CHURNERS).keys()], 20, async (i) => Client.open(await urlOf(i, `c${i}`)));
  const updatesBefore = followers.map((f) => f.updates);
  const churnWritesBefore = await writes();
  let changes = 0;
  const deadline = performance.now() + DURATION_S * 1000;
  started = performance.now();
  await Promise.all(
    churners.map(async (c) => {
      while (performance.now() < deadline) {
        await c.request('signal.join', { id: CHANNEL });
        await c.request('signal.leave', { id: CHANNEL });
        changes += 2;
      }
    }),
  );
  const churnS = (performance.now() - started) / 1000;
  const churnWrites = (await writes()) - churnWritesBefore;
  const churnUpdates = followers.reduce((sum, f, i) => sum + f.updates - updatesBefore[i], 0) / FOLLOWERS;
  const churn = {
    membershipChangesPerSecond: Math.round(changes / churnS),
    occupancyWritesPerSecond: round(churnWrites / churnS),
    updatesPerFollowerPerSecond: round(churnUpdates / churnS),
  };
  console.log(`churn: ${churn.membershipChangesPerSecond} joins+leaves/s → ${churn.occupancyWritesPerSecond} occupancy writes/s (2 gateways), ${churn.updatesPerFollowerPerSecond} updates/s per follower`);
  for (const c of churners) c.close();

  // 3. Reads, side by side.
  const roster = await inBatches([...Array(ROSTER).keys()], 50, async (i) => Client.open(await urlOf(i, `r${i}`)));
  await inBatches(roster, 10, (r) => r.request('signal.join', { id: 'bench-roster', presence: true }));
  await waitFor(async () => (await read('bench-roster', 'occupancy')).participants === ROSTER, 10_000);
  const readRate = async (channel, what) => {
    const latencies = [];
    const end = performance.now() + READ_S * 1000;
    await Promise.all(
      [...Array(CONCURRENCY).keys()].map(async () => {
        while (performance.now() < end) {
          const t0 = performance.now();
          await read(channel, what);
          latencies.push(performance.now() - t0);
        }
      }),
    );
    return { perSecond: Math.round(latencies.length / READ_S), medianMs: median(latencies) };
  };
  const reads = {
    occupancyOfRoster: await readRate('bench-roster', 'occupancy'),
    participantsOfRoster: await readRate('bench-roster', 'participants'),
    occupancyOfViewers: await readRate(CHANNEL, 'occupancy'),
  };
  console.log(
    `read (${CONCURRENCY} in flight): occupancy of a ${ROSTER}-member presence channel ${reads.occupancyOfRoster.perSecond}/s (median ${reads.occupancyOfRoster.medianMs} ms) ` +
      `vs its participants ${reads.participantsOfRoster.perSecond}/s (median ${reads.participantsOfRoster.medianMs} ms): ×${round(reads.occupancyOfRoster.perSecond / reads.participantsOfRoster.perSecond)}; ` +
      `occupancy of the ${VIEWERS}-connection channel ${reads.occupancyOfViewers.perSecond}/s (median ${reads.occupancyOfViewers.medianMs} ms)`,
  );
  for (const r of roster) r.close();

  // 4. Kill the gateway holding the odd-numbered viewers (followers are on both).
  const survivorsCount = clients.filter((_, i) => i % 2 === 0).length;
  const survivingFollowers = followers.filter((_, i) => i % 2 === 0);
  const killedAt = performance.now();
  await gateways[1].kill();
  await waitFor(async () => (await read(CHANNEL, 'occupancy')).connections === survivorsCount, 30_000);
  const readTruthMs = performance.now() - killedAt;
  await waitFor(() => survivingFollowers.every((f) => f.last?.connections === survivorsCount), 30_000);
  const followersTruthMs = performance.now() - killedAt;
  console.log(`kill: GET occupancy back to the truth (${survivorsCount}) after ${Math.round(readTruthMs)} ms; every surviving follower after ${Math.round(followersTruthMs)} ms`);

  console.log(
    JSON.stringify({
      machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
      fill,
      churn,
      reads,
      kill: { readTruthMs: Math.round(readTruthMs), followersTruthMs: Math.round(followersTruthMs) },
    }),
  );
  for (const c of clients) c.close();
  await Promise.all([gateways[0].stop(), emitApi.stop()]);
  await nats.stop();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
