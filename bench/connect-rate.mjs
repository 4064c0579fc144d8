#!/usr/bin/env node
// Token-authenticated connections per second into one gateway: CONNECTIONS sockets opened
// CONCURRENCY at a time, each waiting for `signal.connected`, then closed. Measures the
// upgrade path (token verification, session set-up), not steady-state traffic, for each
// token algorithm in ALGS (HS256: our tokens; RS256, ES256, EdDSA: an identity provider's),
// side by side in one run, in alternating order over ROUNDS rounds.
// Run with `pnpm build && node bench/connect-rate.mjs`.
import { generateKeyPairSync, sign } from 'node:crypto';
import { AppRegistry, generateApp, mintUserToken } from '@signal/core';
import { startNats, startService, stopAll, writeTempFile } from '@signal/harness';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const CONNECTIONS = Number(process.env.CONNECTIONS ?? 4000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 50);
const ALGS = (process.env.ALGS ?? 'HS256,RS256,ES256,EdDSA').split(',');
const ROUNDS = Number(process.env.ROUNDS ?? 2);
const root = fileURLToPath(new URL('..', import.meta.url));

const ISSUER = 'https://idp.bench/';
const pairs = {
  RS256: generateKeyPairSync('rsa', { modulusLength: 2048 }),
  ES256: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }),
  EdDSA: generateKeyPairSync('ed25519'),
};
const nats = await startNats();
const app = generateApp('bench');
app.environments.test.identityProvider = {
  issuer: ISSUER,
  keys: Object.entries(pairs).map(([alg, pair]) => ({ kid: alg, alg, pem: pair.publicKey.export({ format: 'pem', type: 'spki' }) })),
};
const appsFile = await writeTempFile('apps.json', JSON.stringify({ apps: [app] }));
const scope = new AppRegistry({ apps: [app] }).byPublishableKey(app.environments.test.publishableKeys[0]);
const gateway = await startService({
  entry: `${root}services/gateway/dist/main.js`,
  name: 'gateway',
  // All from 127.0.0.1, CONCURRENCY at a time, 100 identities: raise the per-address limit so a
  // larger CONCURRENCY still measures the upgrade path, not the refusal.
  env: { NATS_URL: nats.url, APPS_FILE: appsFile, PORT: '0', ADMIN_PORT: '0', LOG_LEVEL: 'info', MAX_CONNECTIONS_PER_IP: '1000000' },
});
/** A token signed as an identity provider signs it (the gateway verifies it with the public key). */
function providerToken(alg, identity) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const input = Buffer.from(`${encode({ alg, kid: alg })}.${encode({ iss: ISSUER, sub: identity, iat: now, exp: now + 3600 })}`);
  const { privateKey } = pairs[alg];
  const signature = alg === 'RS256' ? sign('sha256', input, privateKey) : alg === 'ES256' ? sign('sha256', input, { key: privateKey, dsaEncoding: 'ieee-p1363' }) : sign(null, input, privateKey);
  return `${input}.${signature.toString('base64url')}`;
}
const tokens = {};
for (const alg of ALGS) {
  tokens[alg] = await Promise.all(
    Array.from({ length: 100 }, async (_, i) =>
      alg === 'HS256' ? (await mintUserToken(scope, { identity: `u${i}`, device: 'd', ttlSeconds: 3600 })).token : providerToken(alg, `u${i}`),
    ),
  );
}
const url = (alg, i) => `ws://127.0.0.1:${gateway.ready.port}/v1/connect?token=${tokens[alg][i % 100]}`;

function once(alg, i) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url(alg, i));
    ws.on('message', (data) => {
      if (String(data).includes('signal.connected')) {
        ws.close();
        resolve();
      }
    });
    ws.on('error', reject);
  });
}

async function run(alg) {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < CONNECTIONS) await once(alg, next++);
    }),
  );
  return (performance.now() - started) / 1000;
}

// Unmeasured: the first thousands of connections warm up the JIT on both sides.
for (const alg of ALGS) await run(alg);
const rates = Object.fromEntries(ALGS.map((alg) => [alg, []]));
for (let round = 0; round < ROUNDS; round++) {
  // Alternating order, so a slower phase of the shared machine does not land on one algorithm.
  for (const alg of round % 2 === 0 ? ALGS : [...ALGS].reverse()) rates[alg].push(Math.round(CONNECTIONS / (await run(alg))));
}
const warnings = gateway.lines().filter((l) => !l.startsWith('{')).length;
console.log(JSON.stringify({ connections: CONNECTIONS, concurrency: CONCURRENCY, perSecond: rates, nonJsonLines: warnings }));
await stopAll();
process.exit(0);
