#!/usr/bin/env node
// Token-authenticated connections per second into one gateway: CONNECTIONS sockets opened
// CONCURRENCY at a time, each waiting for `signal.connected`, then closed. Measures the
// upgrade path (token verification, session set-up), not steady-state traffic.
// Run with `pnpm build && node bench/connect-rate.mjs`.
import { AppRegistry, generateApp, mintUserToken } from '@signal/core';
import { startNats, startService, stopAll, writeTempFile } from '@signal/harness';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const CONNECTIONS = Number(process.env.CONNECTIONS ?? 4000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 50);
const root = fileURLToPath(new URL('..', import.meta.url));

const nats = await startNats();
const app = generateApp('bench');
const appsFile = await writeTempFile('apps.json', JSON.stringify({ apps: [app] }));
const scope = new AppRegistry({ apps: [app] }).byPublishableKey(app.environments.test.publishableKeys[0]);
const gateway = await startService({
  entry: `${root}services/gateway/dist/main.js`,
  name: 'gateway',
  // All from 127.0.0.1, CONCURRENCY at a time, 100 identities: raise the per-address limit so a
  // larger CONCURRENCY still measures the upgrade path, not the refusal.
  env: { NATS_URL: nats.url, APPS_FILE: appsFile, PORT: '0', ADMIN_PORT: '0', LOG_LEVEL: 'info', MAX_CONNECTIONS_PER_IP: '1000000' },
});
const tokens = await Promise.all(Array.from({ length: 100 }, (_, i) => mintUserToken(scope, { identity: `u${i}`, device: 'd', ttlSeconds: 3600 })));
const url = (i) => `ws://127.0.0.1:${gateway.ready.port}/v1/connect?token=${tokens[i % tokens.length].token}`;

function once(i) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url(i));
    ws.on('message', (data) => {
      if (String(data).includes('signal.connected')) {
        ws.close();
        resolve();
      }
    });
    ws.on('error', reject);
  });
}

let next = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (next < CONNECTIONS) await once(next++);
  }),
);
const seconds = (performance.now() - started) / 1000;
const warnings = gateway.lines().filter((l) => !l.startsWith('{')).length;
console.log(JSON.stringify({ connections: CONNECTIONS, concurrency: CONCURRENCY, seconds: Number(seconds.toFixed(2)), perSecond: Math.round(CONNECTIONS / seconds), nonJsonLines: warnings }));
await stopAll();
process.exit(0);
