#!/usr/bin/env node
// Recovery benchmark (issue 13, see bench/README.md "History channels"): two gateways on one
// nats-server, a channel that keeps history. Each sample: a client on gateway 1 joins and
// sees one message, drops its connection, MISSED messages are emitted (batches of 100 through
// the emit-api), then it reconnects to gateway 2 and rejoins with its position. Measured:
//  - reconnect → last: from opening the new WebSocket to the last missed message (the whole
//    recovery as a client lives it: upgrade, token check, `signal.connected`, join, read);
//  - join → last: from sending `signal.join {since}` to the last missed message.
// Every sample checks it got exactly the missed messages, in order, and `recovered: true`.
// KIND=direct measures direct messages instead: MISSED signals to the client's user while it is
// away, recovered by connecting with `since` (reconnect → last only: there is no join).
// Run with `pnpm build && node bench/recovery.mjs`; everything runs on loopback and stops by itself.
import { fileURLToPath } from 'node:url';
import { AppRegistry, generateApp, mintUserToken, parseAppsFile } from '@signal/core';
import { startNats, startService, stopAll, writeTempFile } from '@signal/harness';
import WebSocket from 'ws';
import { RpcClient, intEnv } from './lib/rpc-client.mjs';

const SAMPLES = intEnv('SAMPLES', 200);
const MISSED = intEnv('MISSED', 100);
const CHANNEL = 'hist-bench';
const DIRECT = process.env.KIND === 'direct';
if (!['channel', 'direct', undefined].includes(process.env.KIND)) throw new Error('KIND must be channel or direct');
const root = fileURLToPath(new URL('..', import.meta.url));

/** Collects a channel's messages with their offsets; `until(n)` resolves once n have come. */
class Client extends RpcClient {
  constructor(ws) {
    super(ws);
    this.messages = [];
    this.times = [];
    this.wanted = Infinity;
    this.done = undefined;
    this.connected = new Promise((resolve) => (this.onConnected = resolve));
  }

  onFrame(text) {
    if (text.includes('"method":"signal.connected"')) return this.onConnected(JSON.parse(text).params);
    if (!text.includes(DIRECT ? '"method":"signal.send"' : '"method":"signal.publish"')) return;
    this.messages.push(JSON.parse(text).params);
    // When each came: missed direct messages arrive before `signal.connected`, before `until` is asked.
    this.times.push(performance.now());
    if (this.messages.length >= this.wanted) this.done?.(this.times.at(-1));
  }

  /** Listening before the socket opens: `signal.connected` may come in the same read as the upgrade's answer. */
  static async connect(url) {
    const client = new Client(new WebSocket(url));
    await new Promise((resolve, reject) => {
      client.ws.once('open', resolve);
      client.ws.once('error', reject);
    });
    client.welcome = await client.connected;
    return client;
  }

  until(count) {
    this.wanted = count;
    return new Promise((resolve) => {
      this.done = resolve;
      if (this.messages.length >= count) resolve(this.times[count - 1]);
    });
  }

  close() {
    this.ws.close();
    return new Promise((resolve) => this.ws.once('close', resolve));
  }
}

function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  const round = (ms) => Math.round(ms * 10) / 10;
  return { n: sorted.length, p50: round(at(0.5)), p95: round(at(0.95)), p99: round(at(0.99)), max: round(sorted.at(-1)) };
}

async function main() {
  const app = generateApp('bench');
  app.environments.test.history = { maxMessages: 1000, maxAgeSeconds: 600, directMessages: DIRECT };
  app.environments.test.authorization = { namespaces: { 'hist-*': { history: true } } };
  const appsFile = await writeTempFile('recovery-bench-apps.json', JSON.stringify({ apps: [app] }));
  const scope = new AppRegistry(parseAppsFile({ apps: [app] })).byPublishableKey(app.environments.test.publishableKeys[0]);
  const secret = app.environments.test.secretKeys[0].key;
  const nats = await startNats();
  const env = { NATS_URL: nats.url, APPS_FILE: appsFile, PORT: '0', ADMIN_PORT: '0', LOG_LEVEL: 'info', MAX_CONNECTIONS_PER_IP: '100000', RATE_LIMIT_PER_KEY: '1000000', RATE_LIMIT_BURST: '1000000' };
  const emitApi = await startService({ entry: `${root}services/emit-api/dist/main.js`, name: 'emit-api', env });
  const gateways = [];
  for (const i of [1, 2]) gateways.push(await startService({ entry: `${root}services/gateway/dist/main.js`, name: `gateway-${i}`, env }));
  const url = (g) => `ws://127.0.0.1:${g.ready.port}/v1/connect?token=`;
  const emit = async (messages) => {
    const res = await fetch(`http://127.0.0.1:${emitApi.ready.port}/v1/signals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ signals: messages.map((message) => ({ to: DIRECT ? { user: 'bench' } : { channel: CHANNEL }, event: 'e', message })) }),
    });
    if (res.status !== 202) throw new Error(`emit answered ${res.status}: ${await res.text()}`);
  };
  const token = (await mintUserToken(scope, { identity: 'bench', ttlSeconds: 3600 })).token;

  const reconnectToLast = [];
  const joinToLast = [];
  try {
    for (let sample = 0; sample < SAMPLES; sample++) {
      const first = await Client.connect(url(gateways[0]) + token);
      if (!DIRECT) await first.request('signal.join', { id: CHANNEL });
      await emit([`seen-${sample}`]);
      await first.until(1);
      const since = first.messages[0].position;
      await first.close();
      const missed = Array.from({ length: MISSED }, (_, i) => `${sample}-${i}`);
      for (let i = 0; i < missed.length; i += 100) await emit(missed.slice(i, i + 100));

      const opened = performance.now();
      const query = DIRECT ? `&since=${since.offset}:${encodeURIComponent(since.epoch)}` : '';
      const back = await Client.connect(url(gateways[1]) + token + query);
      const joining = performance.now();
      const last = back.until(MISSED);
      const result = DIRECT ? back.welcome.direct : await back.request('signal.join', { id: CHANNEL, since });
      const lastAt = await last;
      if (!result?.recovered) throw new Error(`sample ${sample} not recovered: ${JSON.stringify(result)}`);
      const got = back.messages.map((m) => m.message);
      if (JSON.stringify(got) !== JSON.stringify(missed)) throw new Error(`sample ${sample} got ${got.length} messages, not exactly the ${MISSED} missed in order`);
      reconnectToLast.push(lastAt - opened);
      if (!DIRECT) joinToLast.push(lastAt - joining);
      await back.close();
    }
  } finally {
    await Promise.all([...gateways, emitApi].map((s) => s.stop()));
    await nats.stop();
  }
  const join = DIRECT ? {} : { joinToLastMs: stats(joinToLast) };
  console.log(JSON.stringify({ kind: DIRECT ? 'direct' : 'channel', samples: SAMPLES, missed: MISSED, reconnectToLastMs: stats(reconnectToLast), ...join }, null, 2));
}

main().catch((error) => {
  console.error(error.stack ?? error);
  void stopAll().finally(() => process.exit(1));
});
