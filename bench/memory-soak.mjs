#!/usr/bin/env node
// Memory soak benchmark (see bench/README.md, "Memory under churn"): a 2-gateway cluster on one
// nats-server and the emit-api; WORKERS clients loop, each cycle with a fresh identity:
//   connect → (WITH_PRESENCE=1) presence join with a state in one of 7 rooms → join one of 50 shared
//   channels → join a unique channel → publish → direct send → close
// and at checkpoints, with every client closed and each gateway back to zero NATS subjects, each
// gateway's V8 heap in use is read after a forced full GC, through the inspector
// (`--inspect=127.0.0.1:0` in the gateway's NODE_OPTIONS; `HeapProfiler.collectGarbage` then
// `process.memoryUsage().heapUsed`), so nothing in the product serves this.
// Each checkpoint also shows what nats-server holds: its resident memory and the messages in the
// presence, online and occupancy buckets (delete markers included: the janitor purges those).
// SNAPSHOT_DIR=… also writes a heap snapshot of gateway 0 at the first and the last checkpoint.
// Run with `pnpm build && CYCLES=50000 WITH_PRESENCE=1 node bench/memory-soak.mjs`.
import { createWriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { connect } from '@nats-io/transport-node';
import { AppRegistry, generateApp, mintUserToken } from '@signal/core';
import { startNats, startService, stopAll, writeTempFile } from '@signal/harness';
import WebSocket from 'ws';
import { LeanRpc } from './clients/lean-rpc.mjs';
import { intEnv } from './lib/rpc-client.mjs';
import { benchServiceEnv } from './lib/service-env.mjs';

const CYCLES = intEnv('CYCLES', 50_000);
const WORKERS = intEnv('WORKERS', 40);
const CHECKPOINTS = intEnv('CHECKPOINTS', 5);
const WARMUP = intEnv('WARMUP', Math.min(2_000, CYCLES));
const WITH_PRESENCE = process.env.WITH_PRESENCE !== '0';
const SNAPSHOT_DIR = process.env.SNAPSHOT_DIR;
// After the last checkpoint, idle readings: the presence janitor (every PRESENCE_JANITOR_MS,
// 60 s) holds a pass's delete markers while it purges them, so one reading can land mid-pass.
// Readings every SETTLE_INTERVAL_S over two janitor periods show whether a high one falls back.
const SETTLE_READINGS = intEnv('SETTLE_READINGS', 4);
const SETTLE_INTERVAL_S = intEnv('SETTLE_INTERVAL_S', 30);
const ROOMS = 7;
const SHARED = 50;
const root = fileURLToPath(new URL('..', import.meta.url));

/** One Chrome DevTools Protocol session with a process started with --inspect. */
class Inspector {
  static async open(url) {
    const ws = new WebSocket(url, { maxPayload: 1 << 30 });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return new Inspector(ws);
  }

  constructor(ws) {
    this.ws = ws;
    this.nextId = 1;
    this.pending = new Map();
    this.onEvent = () => {};
    ws.on('message', (data) => {
      const message = JSON.parse(String(data));
      if (message.id === undefined) return this.onEvent(message);
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error) waiter.reject(new Error(`${message.error.message}`));
      else waiter.resolve(message.result);
    });
  }

  call(method, params = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** V8 heap in use after full collections (twice: weak callbacks of the first free more). */
  async heapUsedAfterGc() {
    await this.call('HeapProfiler.collectGarbage');
    await this.call('HeapProfiler.collectGarbage');
    const { result } = await this.call('Runtime.evaluate', { expression: 'process.memoryUsage().heapUsed', returnByValue: true });
    return result.value;
  }

  async snapshot(file) {
    const out = createWriteStream(file);
    this.onEvent = (message) => {
      if (message.method === 'HeapProfiler.addHeapSnapshotChunk') out.write(message.params.chunk);
    };
    await this.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    this.onEvent = () => {};
    await new Promise((resolve) => out.end(resolve));
  }

  close() {
    this.ws.close();
  }
}

async function main() {
  // NATS_PROFILE_PORT=… serves nats-server's Go profiles (/debug/pprof/heap?debug=1 lists in-use memory by allocation site).
  const nats = await startNats(process.env.NATS_PROFILE_PORT ? { args: ['--profile', process.env.NATS_PROFILE_PORT] } : {});
  const app = generateApp('bench');
  const appsFile = await writeTempFile('apps.json', JSON.stringify({ apps: [app] }));
  const scope = new AppRegistry({ apps: [app] }).byPublishableKey(app.environments.test.publishableKeys[0]);
  // PRESENCE_FEED_LINGER_MS passes through, to compare with feeds closed at the last local leave (0).
  const linger = process.env.PRESENCE_FEED_LINGER_MS;
  const env = benchServiceEnv(nats.url, appsFile, linger === undefined ? {} : { PRESENCE_FEED_LINGER_MS: linger });
  const gatewayEnv = { ...env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --inspect=127.0.0.1:0`.trim() };
  const gateways = await Promise.all(
    [0, 1].map((i) => startService({ entry: `${root}services/gateway/dist/main.js`, name: `gateway-${i}`, env: gatewayEnv })),
  );
  await startService({ entry: `${root}services/emit-api/dist/main.js`, name: 'emit-api', env });
  const inspectors = await Promise.all(
    gateways.map(async (g) => {
      const line = await g.waitForLine((l) => l.includes('Debugger listening on ws://'));
      return Inspector.open(line.slice(line.indexOf('ws://')).trim());
    }),
  );
  /** A gauge of a gateway's /metrics (NaN when absent). */
  const gaugeOf = async (g, name) => {
    const text = await (await fetch(`http://127.0.0.1:${g.ready.adminPort}/metrics`)).text();
    const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'm').exec(text);
    return match ? Number(match[1]) : NaN;
  };
  const nc = await connect({ servers: nats.url });
  /** nats-server's resident memory (MiB) and the messages in each bucket gateways write per connection or channel. */
  const serverHolds = async () => {
    const status = await readFile(`/proc/${nats.pid}/status`, 'utf8').catch(() => '');
    const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
    const messages = {};
    for (const bucket of ['presence', 'online', 'occupancy']) {
      const info = (await nc.request(`$JS.API.STREAM.INFO.KV_signal_${bucket}`)).json();
      messages[bucket] = info.state?.messages;
    }
    return { rssMiB: Math.round(rssKiB / 1024), messages };
  };
  /** NATS subjects plus followed presence channels: both 0 once every close is done and every feed's linger is over. */
  const heldOf = async (g) => (await gaugeOf(g, 'signal_gateway_subjects')) + (await gaugeOf(g, 'signal_gateway_presence_feeds'));

  console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model}), node ${process.version}`);
  console.log(`soak: ${CYCLES} cycles by ${WORKERS} clients over 2 gateways, presence ${WITH_PRESENCE ? 'on' : 'off'}${linger === undefined ? '' : `, PRESENCE_FEED_LINGER_MS=${linger}`}`);

  let done = 0;
  let errors = 0;
  let nextCycle = 0;
  const cycle = async (n) => {
    const identity = `soak-${n}`;
    // Clients connect with tokens of every age, so each connection has its own time to expiry.
    const { token } = await mintUserToken(scope, { identity, device: 'd', ttlSeconds: 3600 + (n % 3600) });
    const client = await LeanRpc.open(`ws://127.0.0.1:${gateways[n % 2].ready.port}/v1/connect?token=${token}`);
    try {
      const shared = `shared-${n % SHARED}`;
      if (WITH_PRESENCE) await client.request('signal.join', { id: `room-${n % ROOMS}`, presence: true, state: { n } });
      await client.request('signal.join', { id: shared });
      await client.request('signal.join', { id: `unique-${n}` });
      await client.request('signal.publish', { id: shared, body: { n } });
      client.notify('signal.send', { to: `soak-${n + 1}`, body: { n } });
    } catch (error) {
      if (++errors <= 3) console.log(`  error: ${error.message}`);
    }
    await client.closeCleanly();
  };
  /** Runs cycles until `until` are done, WORKERS at a time. */
  const runTo = async (until) => {
    const started = performance.now();
    const from = nextCycle;
    await Promise.all(
      [...Array(WORKERS)].map(async () => {
        while (nextCycle < until) {
          const n = nextCycle++;
          await cycle(n);
          done++;
        }
      }),
    );
    return (nextCycle - from) / ((performance.now() - started) / 1000);
  };
  const measure = async () => {
    // Closes finish asynchronously on the gateways (presence leaves, unsubscribes), and a channel's
    // feed lingers PRESENCE_FEED_LINGER_MS after its last local participant: wait for both.
    const deadline = performance.now() + 30_000;
    let subjects;
    while ((subjects = await Promise.all(gateways.map(heldOf))).some((s) => s !== 0) && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const heaps = [];
    for (const inspector of inspectors) heaps.push(await inspector.heapUsedAfterGc());
    return { heaps, subjects };
  };

  const rows = [];
  const checkpoint = async (rate, idleS) => {
    const { heaps, subjects } = await measure();
    const server = await serverHolds();
    rows.push({ cycles: done, heaps, subjects, rate, idleS, server });
    const { presence, online, occupancy } = server.messages;
    console.log(
      `  ${String(done).padStart(8)} cycles${idleS ? ` (idle +${idleS} s)` : ''}: heap ${heaps.map(mib).join(' / ')} MiB, subjects + feeds ${subjects.join(' / ')}` +
        (rate ? `, ${Math.round(rate)} cycles/s` : '') +
        `; nats-server ${server.rssMiB} MiB, bucket messages presence ${presence} online ${online} occupancy ${occupancy}`,
    );
  };

  await runTo(WARMUP);
  await checkpoint();
  if (SNAPSHOT_DIR) await inspectors[0].snapshot(path.join(SNAPSHOT_DIR, `gateway0-${done}.heapsnapshot`));
  const step = Math.max(1, Math.ceil((CYCLES - WARMUP) / CHECKPOINTS));
  for (let until = WARMUP + step; done < CYCLES; until = Math.min(CYCLES, until + step)) {
    const rate = await runTo(until);
    await checkpoint(rate);
  }
  for (let reading = 1; reading <= SETTLE_READINGS; reading++) {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_INTERVAL_S * 1000));
    await checkpoint(undefined, reading * SETTLE_INTERVAL_S);
  }
  if (SNAPSHOT_DIR) await inspectors[0].snapshot(path.join(SNAPSHOT_DIR, `gateway0-${done}.heapsnapshot`));

  const first = rows[0];
  const last = rows.at(-1);
  const span = last.cycles - first.cycles;
  console.log('');
  console.log(`| cycles | ${gateways.map((_, i) => `gateway ${i} heap after GC (MiB)`).join(' | ')} |`);
  console.log(`| ---: | ${gateways.map(() => '---:').join(' | ')} |`);
  for (const row of rows) console.log(`| ${row.cycles}${row.idleS ? ` (idle +${row.idleS} s)` : ''} | ${row.heaps.map(mib).join(' | ')} |`);
  const perCycle = last.heaps.map((h, i) => (span > 0 ? Math.round((h - first.heaps[i]) / span) : 0));
  // Each gateway served half the cycles: growth per cycle it served is twice the cluster figure.
  console.log(`bytes per cycle (cluster cycles, ${first.cycles} → ${last.cycles}): ${perCycle.join(' / ')}; errors ${errors}`);
  console.log(
    JSON.stringify({
      machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
      presence: WITH_PRESENCE,
      workers: WORKERS,
      cycles: done,
      errors,
      checkpoints: rows.map((r) => ({ cycles: r.cycles, idleSeconds: r.idleS, heapBytes: r.heaps, subjects: r.subjects, cyclesPerSecond: r.rate && Math.round(r.rate), natsServer: r.server })),
      bytesPerCycle: perCycle,
    }),
  );
  for (const inspector of inspectors) inspector.close();
  await nc.close();
}

function mib(bytes) {
  return (bytes / 1024 / 1024).toFixed(2);
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
