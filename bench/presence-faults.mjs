#!/usr/bin/env node
// Presence under faults (see bench/README.md, "Presence faults"). Two cases, each on loopback:
//  gateway: RUNS times, a fresh nats-server and two gateways (default settings), MEMBERS
//    participants of one channel spread over both; SIGKILL of one gateway, then the time until
//    every member on the other has received every leave. Prints each run and the median.
//  nats: a 3-node NATS cluster, presence buckets at 3 replicas, two gateways; CHURNERS clients
//    loop join → leave for DURATION_S seconds and one NATS node (the presence stream leader) is
//    SIGKILLed KILL_AT_S seconds in; counts joins that failed and the slowest join, once with
//    PRESENCE_RETRY_DEADLINE_MS=0 (no retries, as before) and once with the default.
// Run with `pnpm build && node bench/presence-faults.mjs [gateway|nats]` (both when none is named).
import { fileURLToPath } from 'node:url';
import { AppRegistry, generateApp, mintUserToken } from '@signal/core';
import { startNats, startNatsCluster, startService, stopAll, writeTempFile } from '@signal/harness';
import { RpcClient, intEnv } from './lib/rpc-client.mjs';
import { benchServiceEnv } from './lib/service-env.mjs';

const RUNS = intEnv('RUNS', 5);
const MEMBERS = intEnv('MEMBERS', 40);
const CHURNERS = intEnv('CHURNERS', 6);
const DURATION_S = intEnv('DURATION_S', 30);
const KILL_AT_S = intEnv('KILL_AT_S', 3);
const CHANNEL = 'faults-room';
const root = fileURLToPath(new URL('..', import.meta.url));

class Client extends RpcClient {
  constructor(ws) {
    super(ws);
    this.leaves = 0;
  }

  onFrame(text) {
    if (text.includes('"method":"signal.leave"')) this.leaves++;
  }
}

async function setup(natsUrl, extraEnv = {}) {
  const app = generateApp('bench');
  const appsFile = await writeTempFile('apps-faults.json', JSON.stringify({ apps: [app] }));
  const scope = new AppRegistry({ apps: [app] }).byPublishableKey(app.environments.test.publishableKeys[0]);
  const env = benchServiceEnv(natsUrl, appsFile, extraEnv);
  const gateways = [];
  for (const i of [0, 1]) gateways.push(await startService({ entry: `${root}services/gateway/dist/main.js`, name: `gateway-${i}`, env, readyTimeoutMs: 60_000 }));
  const open = async (i, identity) => {
    const { token } = await mintUserToken(scope, { identity, device: 'bench', ttlSeconds: 3600 });
    return Client.open(`ws://127.0.0.1:${gateways[i % 2].ready.port}/v1/connect?token=${token}`);
  };
  return { gateways, open };
}

async function killGatewayOnce() {
  const nats = await startNats();
  try {
    const { gateways, open } = await setup(nats.url);
    const members = await Promise.all([...Array(MEMBERS).keys()].map((i) => open(i, `m${i}`)));
    for (const m of members) await m.request('signal.join', { id: CHANNEL, presence: true });
    const survivors = members.filter((_, i) => i % 2 === 0);
    const killed = MEMBERS - survivors.length;
    const killedAt = performance.now();
    await gateways[1].kill();
    await waitFor(() => survivors.every((m) => m.leaves >= killed), 30_000, 5);
    const ms = performance.now() - killedAt;
    for (const m of survivors) m.ws.close();
    await gateways[0].stop();
    return ms;
  } finally {
    await nats.stop();
  }
}

async function killNatsOnce(retryDeadlineMs) {
  const cluster = await startNatsCluster(3);
  try {
    const extra = { PRESENCE_REPLICAS: '3', ...(retryDeadlineMs === undefined ? {} : { PRESENCE_RETRY_DEADLINE_MS: String(retryDeadlineMs) }) };
    const { gateways, open } = await setup(cluster.url, extra);
    const churners = await Promise.all([...Array(CHURNERS).keys()].map((i) => open(i, `c${i}`)));
    const counts = { joins: 0, failed: 0, slowestMs: 0 };
    const errors = new Map();
    const until = performance.now() + DURATION_S * 1000;
    const loops = churners.map(async (c) => {
      while (performance.now() < until) {
        const started = performance.now();
        try {
          await c.request('signal.join', { id: CHANNEL, presence: true });
          counts.joins++;
        } catch (error) {
          counts.failed++;
          errors.set(error.message, (errors.get(error.message) ?? 0) + 1);
        }
        counts.slowestMs = Math.max(counts.slowestMs, performance.now() - started);
        await c.request('signal.leave', { id: CHANNEL }).catch(() => undefined);
      }
    });
    await new Promise((resolve) => setTimeout(resolve, KILL_AT_S * 1000));
    const info = await leaderOf(cluster);
    await cluster.servers[info].kill();
    await Promise.all(loops);
    for (const c of churners) c.ws.close();
    await Promise.all(gateways.map((g) => g.stop()));
    return { ...counts, slowestMs: Math.round(counts.slowestMs), victim: `n${info + 1}`, errors: Object.fromEntries(errors) };
  } finally {
    await cluster.stop();
  }
}

/** Index of the server leading the presence stream, from any server's monitoring page. */
async function leaderOf(cluster) {
  for (const server of cluster.servers) {
    const res = await fetch(`http://127.0.0.1:${server.monitorPort}/jsz?streams=true&accounts=true`).catch(() => undefined);
    if (!res?.ok) continue;
    const body = await res.json();
    for (const account of body.account_details ?? []) {
      for (const stream of account.stream_detail ?? []) {
        if (stream.name === 'KV_signal_presence' && stream.cluster?.leader) return Number(stream.cluster.leader.slice(1)) - 1;
      }
    }
  }
  return 0;
}

async function waitFor(condition, timeoutMs, everyMs = 50) {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

async function main() {
  const which = process.argv[2];
  if (which === undefined || which === 'gateway') {
    const runs = [];
    for (let i = 0; i < RUNS; i++) {
      runs.push(await killGatewayOnce());
      console.log(`gateway SIGKILL run ${i + 1}: ${MEMBERS / 2} leaves at all ${MEMBERS / 2} survivors after ${Math.round(runs.at(-1))} ms`);
    }
    const sorted = [...runs].sort((a, b) => a - b);
    console.log(`gateway SIGKILL → all leaves: median ${Math.round(sorted[sorted.length >> 1])} ms, min ${Math.round(sorted[0])}, max ${Math.round(sorted.at(-1))} (${RUNS} runs)`);
  }
  if (which === undefined || which === 'nats') {
    for (const [label, deadline] of [['retries off (PRESENCE_RETRY_DEADLINE_MS=0)', 0], ['default retry deadline', undefined]]) {
      const result = await killNatsOnce(deadline);
      console.log(`NATS node ${result.victim} (presence stream leader) SIGKILLed, ${label}: ${result.joins} joins ok, ${result.failed} failed, slowest ${result.slowestMs} ms ${JSON.stringify(result.errors)}`);
    }
  }
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
