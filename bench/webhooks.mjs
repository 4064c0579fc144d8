#!/usr/bin/env node
// Webhooks benchmark (see bench/README.md, "Webhooks"): 2 gateways and DISPATCHERS webhooks
// dispatchers on one nats-server, a receiver (an HTTP server in this process), and the clients
// in LOAD_PROCESSES processes of their own (bench/clients/webhook-load.mjs).
//  1. steady: CLIENTS clients join and leave presence channels (one channel each) at RATE
//     member events per second in total for DURATION_S seconds; every join carries its send
//     time in its state, so each member_added gives the latency from the client action to the
//     webhook request arriving (p50/p99/max);
//  2. burst: the same clients as fast as they can for BURST_S seconds, then the time until the
//     receiver has every event: the events per second the whole path sustains.
// Run with `pnpm build && node bench/webhooks.mjs`; everything runs on loopback and stops by itself.
// SAMPLE=1 prints the dispatcher's produced/delivered counts and derivation lag every 2 s, its
// warnings at the end, and, if events are missing, the log's and the consumers' state.
import { createServer } from 'node:http';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { AppRegistry, generateApp, mintUserToken } from '@signal/core';
import { startNats, startService, stopAll, writeTempFile } from '@signal/harness';
import { intEnv } from './lib/rpc-client.mjs';
import { killAll, startClient } from './lib/processes.mjs';
import { benchServiceEnv } from './lib/service-env.mjs';

const RATE = intEnv('RATE', 1000);
const CLIENTS = intEnv('CLIENTS', 100);
const DURATION_S = intEnv('DURATION_S', 20);
const BURST_S = intEnv('BURST_S', 10);
const DISPATCHERS = intEnv('DISPATCHERS', 1);
/** Processes the clients are spread over: one event loop cannot issue 1,000 requests/s and receive 1,000 events/s on a busy machine. */
const LOAD_PROCESSES = intEnv('LOAD_PROCESSES', 2);
/** `clients` (default): native clients join and leave through the gateways; `bucket`: the load writes participant entries straight into the presence bucket, to measure the dispatcher alone. */
const MODE = process.env.MODE ?? 'clients';
if (!['clients', 'bucket'].includes(MODE)) throw new Error('MODE must be clients or bucket');
/** Records per key of the presence bucket, created here before the gateways (docs/webhooks.md: 4 for lossless member events). */
const PRESENCE_HISTORY = intEnv('PRESENCE_HISTORY', 4);
const root = fileURLToPath(new URL('..', import.meta.url));

function quantiles(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN);
  return { n: sorted.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: Math.round(sorted.at(-1) ?? NaN) };
}

/** The receiver: counts events and requests; member_added latency from the `t` in the member's state. */
function startReceiver() {
  const got = { events: 0, requests: 0, added: 0, latencies: [], stored: [], afterStored: [], lastAt: 0 };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const now = Date.now();
      const { events } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      got.requests++;
      got.events += events.length;
      got.lastAt = now;
      for (const e of events) {
        if (e.type !== 'member_added' || typeof e.member?.state?.t !== 'number') continue;
        got.added++;
        if (!got.measuring) continue;
        got.latencies.push(now - e.member.state.t);
        // The event's time is the presence record's, as the server stored it: before it the gateway, after it the dispatcher.
        got.stored.push(e.time - e.member.state.t);
        got.afterStored.push(now - e.time);
      }
      res.writeHead(204).end();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, got, url: `http://127.0.0.1:${server.address().port}/hooks` })));
}

async function waitFor(check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return check();
}

async function main() {
  const receiver = await startReceiver();
  const nats = await startNats();
  const app = generateApp('bench');
  app.environments.test.webhooks = [{ url: receiver.url, events: ['member_added', 'member_removed'], secrets: ['bench-secret-0123456789abcdefghijklmnop'] }];
  const appsFile = await writeTempFile('apps.json', JSON.stringify({ apps: [app] }));
  const scope = new AppRegistry({ apps: [app] }).byPublishableKey(app.environments.test.publishableKeys[0]);
  const env = benchServiceEnv(nats.url, appsFile);
  const nc = await connect({ servers: nats.url });
  const created = (
    await nc.request(
      '$JS.API.STREAM.CREATE.KV_signal_presence',
      JSON.stringify({
        name: 'KV_signal_presence',
        subjects: ['$KV.signal_presence.>'],
        max_msgs_per_subject: PRESENCE_HISTORY,
        max_bytes: 256 * 1024 * 1024,
        max_msg_size: 1024 + 4096,
        discard: 'new',
        allow_rollup_hdrs: true,
        deny_delete: true,
        allow_direct: true,
        storage: 'memory',
        num_replicas: 1,
      }),
    )
  ).json();
  if (created.error) throw new Error(`creating the presence bucket: ${created.error.description}`);
  await nc.close();
  const gateways = await Promise.all([0, 1].map((i) => startService({ entry: `${root}services/gateway/dist/main.js`, name: `gateway-${i}`, env })));
  const dispatchers = [];
  for (let i = 0; i < DISPATCHERS; i++) dispatchers.push(await startService({ entry: `${root}services/webhooks/dist/main.js`, name: `webhooks-${i}`, env }));
  const sample = async () => {
    const text = await (await fetch(`http://127.0.0.1:${dispatchers[0].ready.adminPort}/metrics`)).text();
    const sum = (name) => [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0);
    return { produced: sum('signal_webhooks_events_produced_total'), delivered: sum('signal_webhooks_events_delivered_total'), lag: sum('signal_webhooks_derivation_lag_records') };
  };
  const sampler = process.env.SAMPLE ? setInterval(async () => console.log('   ', JSON.stringify(await sample()), 'received', receiver.got.events), 2000) : undefined;
  const targets = await Promise.all(
    [...Array(CLIENTS).keys()].map(async (i) => {
      const { token } = await mintUserToken(scope, { identity: `u${i}`, device: 'bench', ttlSeconds: 3600 });
      return { url: `ws://127.0.0.1:${gateways[i % 2].ready.port}/v1/connect?token=${token}`, channel: `ch-${i}`, n: i };
    }),
  );
  const loaders = [...Array(LOAD_PROCESSES).keys()].map((i) => startClient(`load-${i}`, `${root}bench/clients/webhook-load.mjs`));
  await Promise.all(loaders.map((l, i) => l.call('open', { targets: targets.filter((_, j) => j % LOAD_PROCESSES === i), ...(MODE === 'bucket' ? { natsUrl: nats.url } : {}) })));
  const load = () => os.loadavg().map((n) => n.toFixed(1)).join(' / ');
  console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model}), node ${process.version}, load average ${load()} (1/5/15 min); mode ${MODE}, ${DISPATCHERS} dispatcher(s), ${CLIENTS} ${MODE === 'bucket' ? 'writers of the presence bucket' : 'clients on 2 gateways'} in ${LOAD_PROCESSES} processes, presence history ${PRESENCE_HISTORY}, ${process.env.WEBHOOK_PARTITIONS ?? 64} partitions`);
  const sum = (results, key) => results.reduce((a, r) => a + r[key], 0);
  const firstError = (results) => results.find((r) => r.firstError)?.firstError;

  // 1. Steady rate, shared among the load processes.
  console.log(`steady: ${RATE} member events/s for ${DURATION_S} s…`);
  receiver.got.measuring = true;
  const steady = await Promise.all(loaders.map((l) => l.call('steady', { rate: RATE / LOAD_PROCESSES, seconds: DURATION_S })));
  const steadyIssued = sum(steady, 'issued');
  const steadyMs = Math.max(...steady.map((r) => r.ms));
  await waitFor(() => receiver.got.events >= steadyIssued, 60_000);
  receiver.got.measuring = false;
  const l = quantiles(receiver.got.latencies);
  console.log(
    `  issued ${steadyIssued} events (${Math.round((steadyIssued / steadyMs) * 1000)}/s, ${sum(steady, 'skipped')} skipped: client busy, ${sum(steady, 'errors')} errors${firstError(steady) ? `: ${firstError(steady)}` : ''}), received ${receiver.got.events} in ${receiver.got.requests} requests (${(receiver.got.events / receiver.got.requests).toFixed(1)} events/request); load average ${load()}`,
  );
  console.log(`  client action → webhook request (member_added, n=${l.n}): p50 ${l.p50} ms, p95 ${l.p95} ms, p99 ${l.p99} ms, max ${l.max} ms`);
  const [b, a] = [quantiles(receiver.got.stored), quantiles(receiver.got.afterStored)];
  console.log(`    of which client action → record stored: p50 ${b.p50} ms, p95 ${b.p95} ms, p99 ${b.p99} ms; record stored → webhook request: p50 ${a.p50} ms, p95 ${a.p95} ms, p99 ${a.p99} ms`);

  // 2. Burst: as fast as the clients go, then until everything is delivered.
  const before = { events: receiver.got.events };
  console.log(`burst: every client joining and leaving as fast as it can for ${BURST_S} s…`);
  const burstStart = performance.now();
  const burst = await Promise.all(loaders.map((l) => l.call('burst', { seconds: BURST_S })));
  const burstIssued = sum(burst, 'issued');
  const issueMs = Math.max(...burst.map((r) => r.ms));
  const complete = await waitFor(() => receiver.got.events - before.events >= burstIssued, process.env.SAMPLE ? 30_000 : 120_000);
  if (!complete && process.env.SAMPLE) {
    const nc = await connect({ servers: nats.url });
    for (const stream of ['KV_signal_presence', 'signal_webhook_events_log_presence']) {
      const info = (await nc.request(`$JS.API.STREAM.INFO.${stream}`, '{}')).json();
      console.log(stream, JSON.stringify(info.state), info.mirror ? JSON.stringify(info.mirror) : '');
    }
    const list = (await nc.request('$JS.API.CONSUMER.LIST.signal_webhook_events', '{}')).json();
    for (const c of list.consumers) if (c.num_pending || c.num_ack_pending || c.num_waiting !== 1) console.log(c.name, 'pending', c.num_pending, 'ack_pending', c.num_ack_pending, 'waiting', c.num_waiting, 'redelivered', c.num_redelivered, JSON.stringify(c.delivered), JSON.stringify(c.ack_floor));
    await nc.close();
  }
  const deliveredMs = receiver.got.lastAt - (Date.now() - (performance.now() - burstStart));
  console.log(
    `  issued ${burstIssued} events in ${Math.round(issueMs)} ms (${Math.round((burstIssued / issueMs) * 1000)}/s, ${sum(burst, 'errors')} errors); ${complete ? 'all' : 'NOT all'} delivered after ${Math.round(deliveredMs)} ms: ${Math.round(((receiver.got.events - before.events) / deliveredMs) * 1000)} events/s end to end; load average ${load()}`,
  );
  clearInterval(sampler);
  if (process.env.SAMPLE) for (const d of dispatchers) console.log(d.lines().filter((line) => !line.includes('"level":30')).slice(-10).join('\n'));
  await Promise.all(loaders.map((l) => l.call('close').then(() => l.stop())));
  receiver.server.close();
  receiver.server.closeAllConnections();
  await stopAll();
}

main().catch(async (error) => {
  console.error(error);
  killAll();
  await stopAll();
  process.exit(1);
});
