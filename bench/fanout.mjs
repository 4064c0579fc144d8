#!/usr/bin/env node
/**
 * Fan-out benchmark (issue 2): one publisher → one channel → N subscribers, on one node, at
 * increasing offered rates, for three systems side by side in one run:
 *   ours      POST emit-api /v1/signals → NATS → gateway → native-protocol subscribers
 *   ours-sio  the same stack, with socket.io-client 4.x subscribers on the gateway's Stelace surface
 *   ours-restricted  the same stack, in an environment with the restricted policy (asked for by name)
 *   ours-history  the same stack, the channel keeping history: each signal stored in JetStream, then
 *             delivered with its position (asked for by name; docs/recovery.md)
 *   socketio  POST to a Socket.IO 4.8 server that emits to a room → Socket.IO subscribers
 *   uws       POST to a bare uWebSockets.js app that app.publish()es → WebSocket subscribers
 * Systems take turns at each rate (in rotating order) so machine noise hits all of them.
 * bench/README.md says exactly what each system gets and how to read the numbers.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppRegistry, generateApp, mintUserToken, parseAppsFile } from '@signal/core';
import { stopAll } from '@signal/harness';
import { readOptions, usage } from './lib/options.mjs';
import { killAll, startClient } from './lib/processes.mjs';
import { describeStep, renderResults } from './lib/render.mjs';
import { startSystems } from './lib/stack.mjs';
import { NOISY_ABOVE, runStep } from './lib/step.mjs';

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = resolve(benchDir, '..');
const CHANNEL = 'fanout';

async function main() {
  let options;
  try {
    options = readOptions();
  } catch (error) {
    console.error(`${error.message}\n\n${usage()}`);
    process.exit(2);
  }
  if (!options) return console.log(usage());
  const started = Date.now();
  for (const service of ['gateway', 'emit-api']) {
    const entry = join(root, 'services', service, 'dist/main.js');
    if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`pnpm build\` first (\`pnpm bench\` does)`);
  }
  log(`fan-out: ${options.subscribers} ${options.clients} subscribers per system, offered ${options.rates.join(', ')} msgs/s, ` +
    `${options.stepSeconds} s per step, ${options.batch} signals per request, systems ${options.systems.join(', ')}`);

  // Two apps on the same processes: `bench` with the default open policy, `benchr` restricted, its
  // subscribers' tokens granting `subscribe` on the channel (what ours-restricted measures).
  // A third, `benchh`, keeps history on the channel (what ours-history measures, docs/recovery.md).
  const app = generateApp('bench');
  const restricted = generateApp('benchr');
  restricted.environments.test.authorization = { policy: 'restricted' };
  const kept = generateApp('benchh');
  kept.environments.test.history = { maxMessages: 100, maxAgeSeconds: 120 };
  kept.environments.test.authorization = { namespaces: { [CHANNEL]: { history: true } } };
  const apps = [app, restricted, kept];
  const appsFile = join(mkdtempSync(join(tmpdir(), 'signal-bench-')), 'apps.json');
  writeFileSync(appsFile, JSON.stringify({ apps }));
  const registry = new AppRegistry(parseAppsFile({ apps }));
  const keysOf = (a) => ({ secret: a.environments.test.secretKeys[0].key, publishableKey: a.environments.test.publishableKeys[0] });
  const mint = (a, capability) =>
    Promise.all(
      Array.from({ length: options.subscribers }, (_, i) =>
        mintUserToken(registry.byPublishableKey(keysOf(a).publishableKey), { identity: `sub${i}`, ttlSeconds: 3600, capability }).then((minted) => minted.token)),
    );
  const tokens = await mint(app, undefined);
  const restrictedTokens = options.systems.includes('ours-restricted') ? await mint(restricted, [{ pattern: CHANNEL, operations: ['subscribe'] }]) : [];
  const keptTokens = options.systems.includes('ours-history') ? await mint(kept, undefined) : [];
  const secret = keysOf(app).secret;
  /** Each system's publisher key and subscriber credentials. */
  const credentialsOf = (system) =>
    system === 'ours-restricted'
      ? { ...keysOf(restricted), tokens: restrictedTokens }
      : system === 'ours-history'
        ? { ...keysOf(kept), tokens: keptTokens }
        : { ...keysOf(app), tokens };
  const secrets = Object.fromEntries(options.systems.map((system) => [system, credentialsOf(system).secret]));

  const stack = await startSystems({ systems: options.systems, root, benchDir, appsFile, secret, profile: options.profile });
  const pids = { ...stack.pids };
  const publisher = startClient('publisher', join(benchDir, 'clients/publisher.mjs'));
  pids.publisher = publisher.pid;
  const subscribers = {};
  for (const system of options.systems) {
    const client = startClient(`${system} subscribers`, join(benchDir, 'clients/subscribers.mjs'));
    subscribers[system] = client;
    pids[`${system}-subs`] = client.pid;
    await client.call('setup', {
      system,
      clients: options.clients,
      url: stack.targets[system].subscribe,
      tokens: credentialsOf(system).tokens,
      publishableKey: credentialsOf(system).publishableKey,
      channel: CHANNEL,
      count: options.subscribers,
    });
    const { connected } = await client.call('connect');
    log(`${system}: ${connected} subscribers joined '${CHANNEL}'`);
  }

  const bench = { options, pids, serverProcesses: stack.serverProcesses, targets: stack.targets, publisher, subscribers, secrets, channel: CHANNEL };
  let step = 0;
  if (options.warmupSeconds > 0) {
    for (const system of options.systems) await runStep(bench, { step: ++step, system, rate: Math.min(...options.rates), seconds: options.warmupSeconds });
    log('warm-up done');
  }
  const results = [];
  const skippedAfterSaturation = {};
  let stoppedEarly = false;
  for (const [i, rate] of options.rates.entries()) {
    // Rotating the order means no system always runs first (or right after the heaviest one).
    const order = options.systems.map((_, k) => options.systems[(k + i) % options.systems.length]);
    const timeLeft = () => (Date.now() - started) / 1000 + options.stepSeconds + options.drainSeconds < options.maxSeconds;
    for (const system of order) {
      if (skippedAfterSaturation[system]) continue;
      if (!timeLeft()) {
        stoppedEarly = true;
        break;
      }
      let result;
      // On a shared machine another program may take the CPU mid-step; keep the quietest try.
      for (let attempt = 0; attempt <= options.retries && (attempt === 0 || timeLeft()); attempt++) {
        const tried = await runStep(bench, { step: ++step, system, rate, seconds: options.stepSeconds });
        if (!result || tried.otherLoadCores < result.otherLoadCores) result = tried;
        if (result.otherLoadCores <= NOISY_ABOVE) break;
        log(`${system} at ${rate}/s: other programs used ${tried.otherLoadCores.toFixed(2)} cores during the step${attempt < options.retries ? '; measuring again' : ''}`);
      }
      results.push(result);
      log(describeStep(result));
      if (result.saturated) skippedAfterSaturation[system] = rate;
    }
    if (stoppedEarly) break;
  }

  await Promise.all([publisher.stop(), ...Object.values(subscribers).map((s) => s.stop())]);
  await stack.stop();
  console.log(renderResults({ options, results, serverProcesses: stack.serverProcesses, skippedAfterSaturation, stoppedEarly }));
  if (options.json) writeFileSync(options.json, JSON.stringify({ options, results }, null, 2));
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

function log(message) {
  console.error(`[bench] ${message}`);
}

// The harness would reuse a NATS_URL it finds; a benchmark must never load a shared server.
delete process.env.NATS_URL;
process.on('exit', killAll);
const abort = (code) => stopAll().finally(() => process.exit(code));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => void abort(130));
main().catch((error) => {
  console.error(error.stack ?? error);
  void abort(1);
});
