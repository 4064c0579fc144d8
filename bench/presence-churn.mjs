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
import { LeanRpc } from './clients/lean-rpc.mjs';
import { nowMicros } from './lib/clock.mjs';
import { cpuSnapshot, machineSnapshot } from './lib/cpu.mjs';
import { killAll, startClient } from './lib/processes.mjs';
import { intEnv } from './lib/rpc-client.mjs';
import { measureShardedPuts, measureStoreOps } from './lib/store-ops.mjs';
import { benchServiceEnv } from './lib/service-env.mjs';

const SMALL_MEMBERS = intEnv('SMALL_MEMBERS', 10);
const SMALL_CHANNELS = intEnv('SMALL_CHANNELS', 8);
const MEMBERS = intEnv('MEMBERS', 1000);
const XL_MEMBERS = intEnv('XL_MEMBERS', 10000);
const CHURNERS = intEnv('CHURNERS', 40);
const DURATION_S = intEnv('DURATION_S', 10);
const SAMPLES = intEnv('SAMPLES', 20);
// Cold joins per gateway run before the very large channel's measured ones (see veryLargeChannel).
const XL_WARMUP = intEnv('XL_WARMUP', 1);
const CLIENT_PROCESSES = intEnv('CLIENT_PROCESSES', 2);
// JOIN_BACK=1: presence joins ask for a `signal.join_back` (+ state) frame per participant before
// the result, as Bit6 clients and SDKs before `joinBack` get; by default they join as our SDK
// does, `joinBack: false`, the list in the result only (a gateway that predates it sends the frames anyway).
const JOIN_BACK = process.env.JOIN_BACK === '1';
const presenceJoin = (params) => (JOIN_BACK ? { ...params, presence: true } : { ...params, presence: true, joinBack: false });
// PARSE_RESULTS=1: the member clients parse every result they get (a joiner's list) as the benchmark
// did until 2026-11-30; by default they only check it succeeded. Either way every byte is received.
// The clients share the gateways' two cores here; real members parse on their own devices.
const PARSE_RESULTS = process.env.PARSE_RESULTS === '1';
const PHASES = (process.env.PHASES ?? 'raw,small,large,xl').split(',');
const CHANNEL = 'bench-room';
const benchRoot = fileURLToPath(new URL('..', import.meta.url));
// SIGNAL_ROOT: measure the build of another checkout (same benchmark, e.g. main's) instead of this one.
const root = process.env.SIGNAL_ROOT ? `${process.env.SIGNAL_ROOT.replace(/\/$/, '')}/` : benchRoot;

/** `fn(item, index)` for every item, `size` at a time (`index` in `items`). */
async function inBatches(items, size, fn) {
  const out = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map((item, k) => fn(item, i + k)))));
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
  const env = benchServiceEnv(nats.url, appsFile, { PRESENCE_MAX_PARTICIPANTS: String(most) });
  // CPU_PROFILE_DIR: each gateway writes a CPU profile of every measured step there (bench/lib/cpu-profile.mjs).
  const profileDir = process.env.CPU_PROFILE_DIR;
  const gatewayEnv = profileDir ? { ...env, NODE_OPTIONS: `--import=${benchRoot}bench/lib/cpu-profile.mjs`, CPU_PROFILE_DIR: profileDir } : env;
  // The clients that receive most (members, churners) live in CLIENT_PROCESSES processes of their own.
  const hosts = Array.from({ length: CLIENT_PROCESSES }, (_, k) => startClient(`clients-${k}`, `${benchRoot}bench/clients/presence-clients.mjs`));
  const gateways = await Promise.all(
    [0, 1].map((i) => startService({ entry: `${root}services/gateway/dist/main.js`, name: `gateway-${i}`, env: gatewayEnv })),
  );
  /** Share of one core each process used between `begin()` and the returned function's call, and the machine's load. */
  const cpuMeter = () => {
    const pids = { gateway0: gateways[0].pid, gateway1: gateways[1].pid, nats: nats.pid, bench: process.pid };
    hosts.forEach((h, k) => (pids[`clients${k}`] = h.pid));
    const before = cpuSnapshot(pids);
    const machineBefore = machineSnapshot();
    const t0 = performance.now();
    const toggleProfiles = () => profileDir && gateways.forEach((g) => process.kill(g.pid, 'SIGUSR2'));
    toggleProfiles();
    return () => {
      toggleProfiles();
      const seconds = (performance.now() - t0) / 1000;
      const after = cpuSnapshot(pids);
      const machine = machineSnapshot();
      const share = Object.fromEntries(Object.keys(pids).map((k) => [k, Math.round(((after[k] - before[k]) / seconds) * 100) / 100]));
      share.gatewaysCpuSeconds = Math.round((after.gateway0 - before.gateway0 + after.gateway1 - before.gateway1) * 1000) / 1000;
      share.machineBusy = Math.round(((machine.busy - machineBefore.busy) / (machine.total - machineBefore.total)) * 100) / 100;
      share.load = Math.round(os.loadavg()[0] * 10) / 10;
      return share;
    };
  };
  const emitApi = await startService({ entry: `${root}services/emit-api/dist/main.js`, name: 'emit-api', env });
  /** The channels a gateway follows in the store (its feeds, lingering ones included). */
  const feedsOf = async (gateway) => {
    const text = await (await fetch(`http://127.0.0.1:${gateway.ready.adminPort}/metrics`)).text();
    return Number(/^signal_gateway_presence_feeds (\d+)/m.exec(text)?.[1] ?? NaN);
  };
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
  await Promise.all([...gateways.map((g) => g.stop().catch(() => undefined)), emitApi.stop(), ...hosts.map((h) => h.stop())]);
  await nats.stop();

  /**
   * `count` clients named `<prefix><k>` (identity too), client k on gateway k % 2 and in client
   * process k % CLIENT_PROCESSES.
   */
  async function openGroup(prefix, count) {
    const names = Array.from({ length: count }, (_, k) => `${prefix}${k}`);
    const hostOf = (k) => hosts[k % hosts.length];
    const namesOn = hosts.map((_, j) => names.filter((_, k) => k % hosts.length === j));
    const urls = await Promise.all(names.map(async (name, k) => ({ index: name, url: await urlOf(k, name) })));
    await Promise.all(hosts.map((h, j) => h.call('open', { urls: urls.filter((_, k) => k % hosts.length === j) })));
    const onEachHost = (cmd, args = () => ({})) => Promise.all(hosts.map((h, j) => h.call(cmd, { indices: namesOn[j], ...args(j) })));
    return {
      names,
      namesOn,
      count,
      request: (k, method, params) => hostOf(k).call('request', { index: names[k], method, params, parse: PARSE_RESULTS }),
      frames: async () => (await onEachHost('frames')).reduce((sum, r) => sum + r.frames, 0),
      onEachHost,
      close: () => onEachHost('close'),
    };
  }

  /** Churners loop join → state → state → leave in `channelOf(i)` until the deadline; counts and latencies. */
  async function churn(channelOf, label) {
    console.log(`${label}: ${CHURNERS} clients × (join, state, state, leave) for ${DURATION_S} s…`);
    const churners = await openGroup('c', CHURNERS);
    const deadline = performance.now() + DURATION_S * 1000;
    const started = performance.now();
    const meter = cpuMeter();
    const channelsOn = churners.namesOn.map((names) => names.map((name) => channelOf(Number(name.slice(1)))));
    const loops = churners.onEachHost('churn', (j) => ({ channels: channelsOn[j], durationMs: DURATION_S * 1000, joinBack: JOIN_BACK, parse: PARSE_RESULTS }));
    return {
      deadline,
      done: loops.then(async (parts) => {
        const seconds = (performance.now() - started) / 1000;
        const cpu = meter();
        await churners.close();
        const counts = { join: 0, state: 0, leave: 0, errors: 0 };
        for (const part of parts) for (const kind of Object.keys(counts)) counts[kind] += part.counts[kind];
        for (const message of parts.flatMap((part) => part.errors).slice(0, 3)) console.log(`  error: ${message}`);
        const ops = counts.join + counts.state + counts.leave;
        const result = {
          clients: CHURNERS,
          seconds: round(seconds),
          opsPerSecond: Math.round(ops / seconds),
          joinsPerSecond: Math.round(counts.join / seconds),
          counts,
          opLatency: stats(parts.flatMap((part) => part.latencies)),
          cpu,
          // Both gateways' CPU per operation: what contention with other work on the machine changes least.
          gatewayCpuUsPerOp: Math.round((cpu.gatewaysCpuSeconds * 1e6) / ops),
        };
        console.log(
          `  ${result.opsPerSecond} ops/s (joins ${result.joinsPerSecond}/s, state updates ${Math.round(counts.state / seconds)}/s, ` +
            `leaves ${Math.round(counts.leave / seconds)}/s), ${counts.errors} errors; op latency ${JSON.stringify(result.opLatency)} ms; ` +
            `gateway CPU ${result.gatewayCpuUsPerOp} µs/op; ` +
            `cores used ${JSON.stringify(result.cpu)}`,
        );
        return result;
      }),
    };
  }

  async function smallChannels() {
    const channelOf = (i) => `small-${i % SMALL_CHANNELS}`;
    const members = await openGroup('s', SMALL_MEMBERS * SMALL_CHANNELS);
    await inBatches(members.names, 10, (_, i) => members.request(i, 'signal.join', presenceJoin({ id: channelOf(i), state: { n: 1 } })));
    const framesBefore = await members.frames();
    const run = await churn(channelOf, `${SMALL_CHANNELS} small channels (${SMALL_MEMBERS} members each)`);
    const result = await run.done;
    result.framesPerSecond = Math.round(((await members.frames()) - framesBefore) / result.seconds);
    await members.close();
    return { channels: SMALL_CHANNELS, members: SMALL_MEMBERS, ...result };
  }

  async function largeChannel() {
    console.log(`large channel: ${MEMBERS} members joining '${CHANNEL}' with presence over 2 gateways…`);
    const members = await openGroup('m', MEMBERS);
    const started = performance.now();
    const fillMeter = cpuMeter();
    await inBatches(members.names, 10, (_, i) => members.request(i, 'signal.join', presenceJoin({ id: CHANNEL, state: { n: i } })));
    const fillMs = performance.now() - started;
    const fillCpu = fillMeter();
    console.log(`  ${MEMBERS} joins done in ${round(fillMs)} ms; cores used ${JSON.stringify(fillCpu)}`);
    const idle = await newcomers(members, SAMPLES, 'idle');
    console.log(`newcomer (idle): full list ${JSON.stringify(idle.list)} ms; seen by all members ${JSON.stringify(idle.seen)} ms`);
    const framesBefore = await members.frames();
    const run = await churn(() => CHANNEL, `large channel (${MEMBERS} members)`);
    const underChurn = await newcomers(members, Math.max(5, Math.floor(SAMPLES / 2)), 'busy', () => performance.now() < run.deadline);
    const churned = await run.done;
    churned.framesPerSecond = Math.round(((await members.frames()) - framesBefore) / churned.seconds);
    console.log(`newcomer (during churn): full list ${JSON.stringify(underChurn.list)} ms; ${churned.framesPerSecond} frames/s to members`);

    // Kill a gateway holding half the members (client k is on gateway k % 2).
    await waitFor(async () => (await participantsInStore(CHANNEL)).length === MEMBERS, 30_000);
    const survivors = (names) => names.filter((name) => Number(name.slice(1)) % 2 === 0);
    const survivorCount = members.names.filter((_, k) => k % 2 === 0).length;
    const killedCount = MEMBERS - survivorCount;
    await Promise.all(hosts.map((h, j) => h.call('expectLeaves', { indices: survivors(members.namesOn[j]), count: killedCount })));
    const killedAt = nowMicros();
    await gateways[1].kill();
    const seen = await Promise.race([
      Promise.all(hosts.map((h) => h.call('leavesSeen'))),
      new Promise((_, reject) => setTimeout(() => reject(new Error('the leaves did not reach every survivor within 60 s')), 60_000)),
    ]);
    const allLeavesMs = (Math.max(...seen.map((r) => r.at)) - killedAt) / 1000;
    await waitFor(async () => (await participantsInStore(CHANNEL)).length === survivorCount, 60_000);
    const storeCleanMs = (nowMicros() - killedAt) / 1000;
    console.log(`kill: ${killedCount} leaves reached all ${survivorCount} survivors after ${round(allLeavesMs)} ms; store clean after ${round(storeCleanMs)} ms`);
    await members.close();
    return {
      members: MEMBERS,
      fillMs: round(fillMs),
      fillCpu,
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
      const client = await LeanRpc.open(await urlOf(k, `xl-${label}-${k}`));
      const t0 = performance.now();
      const result = await client.request('signal.join', presenceJoin({ id: channel }));
      const ms = performance.now() - t0;
      if (result.participants.length < XL_MEMBERS) throw new Error(`newcomer got ${result.participants.length} participants, expected ${XL_MEMBERS}`);
      return { client, ms };
    };
    // Cold: nobody on the node is in the channel, so the join opens the node's feed of it. A
    // node follows a channel PRESENCE_FEED_LINGER_MS after its last participant left: each cold
    // newcomer waits until its node's feed is closed (the wait is not metered).
    // The first XL_WARMUP cold joins on each gateway are reported on their own: a process's first
    // reads of a large channel run before V8 has optimised the feed's and the view's code.
    const firstCold = [];
    const cold = [];
    const coldShares = [];
    for (let k = 0; k < 2 * XL_WARMUP + SAMPLES; k++) {
      while ((await feedsOf(gateways[k % 2])) !== 0) await new Promise((resolve) => setTimeout(resolve, 100));
      const coldMeter = cpuMeter();
      const { client, ms } = await newcomer(k, 'cold');
      await client.request('signal.leave', { id: channel });
      client.close();
      const share = coldMeter();
      if (k < 2 * XL_WARMUP) {
        firstCold.push(ms);
        continue;
      }
      cold.push(ms);
      coldShares.push(share);
    }
    // Each figure averaged over the samples (each metered on its own, without the waits).
    const coldCpu = Object.fromEntries(Object.keys(coldShares[0]).map((k) => [k, Math.round((coldShares.reduce((sum, share) => sum + share[k], 0) / coldShares.length) * 100) / 100]));
    // Warm: one participant stays on each node, so newcomers read the node's view.
    const holders = await Promise.all([0, 1].map((k) => newcomer(k, 'holder')));
    const warm = [];
    const warmMeter = cpuMeter();
    for (let k = 0; k < SAMPLES; k++) {
      const { client, ms } = await newcomer(k, 'warm');
      warm.push(ms);
      await client.request('signal.leave', { id: channel });
      client.close();
    }
    const warmCpu = warmMeter();
    for (const h of holders) h.client.close();
    const result = { members: XL_MEMBERS, newcomerFirstCold: firstCold.map(round), newcomerCold: stats(cold), newcomerWarm: stats(warm), coldCpu, warmCpu };
    console.log(`  first cold join on each gateway after start (not in the figures below): ${result.newcomerFirstCold.join(' / ')} ms`);
    console.log(`  cold samples in order (gateway k % 2): ${cold.map((ms) => Math.round(ms)).join(', ')} ms`);
    console.log(`  newcomer full list: cold ${JSON.stringify(result.newcomerCold)} ms, warm ${JSON.stringify(result.newcomerWarm)} ms`);
    console.log(`  cores used: cold ${JSON.stringify(coldCpu)}, warm ${JSON.stringify(warmCpu)}`);
    clearInterval(beat);
    for (let i = 0; i < XL_MEMBERS; i += 500) {
      await Promise.all(Array.from({ length: Math.min(500, XL_MEMBERS - i) }, (_, k) => participants.delete(`${prefix}${i + k}`)));
    }
    await nodes.delete(node);
    await nc.close();
    return result;
  }

  /**
   * Newcomers join and leave one after another, alternating gateways: time to the join's result
   * (after its `join_back` and state frames), and until every member got its `signal.join`.
   */
  async function newcomers(members, count, label, more = () => true) {
    const list = [];
    const seen = [];
    let errors = 0;
    for (let k = 0; k < count && more(); k++) {
      const identity = `new-${label}-${k}`;
      const client = await LeanRpc.open(await urlOf(k, identity));
      await members.onEachHost('watchJoin', () => ({ identity }));
      const t0 = nowMicros();
      let result;
      try {
        result = await client.request('signal.join', presenceJoin({ id: CHANNEL }));
      } catch (error) {
        // Counted, not fatal: an overloaded store answers late now and then.
        errors++;
        console.log(`  newcomer error: ${error.message}`);
        await members.onEachHost('unwatch');
        client.close();
        continue;
      }
      list.push((nowMicros() - t0) / 1000);
      if (result.participants.length < MEMBERS) throw new Error(`newcomer got ${result.participants.length} participants, expected at least ${MEMBERS}`);
      const everyone = await Promise.all(hosts.map((h) => h.call('joinSeen', { identity })));
      seen.push((Math.max(...everyone.map((r) => r.at)) - t0) / 1000);
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
  .finally(() => {
    killAll();
    return stopAll();
  });
