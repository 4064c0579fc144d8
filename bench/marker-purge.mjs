#!/usr/bin/env node
// Delete-marker purge benchmark (bench/README.md, "Delete markers"): one nats-server, one KV
// bucket in memory holding LIVE keys that stay, then GONE keys written and deleted (a marker
// each). The janitor's MarkerPurge runs a first pass (from the stream's first message: every live
// key is read on the way), GONE more keys churn, and a second pass runs (from where the first one
// stopped). Each pass is timed; markers/s is markers purged per second of the pass.
// Run with `pnpm build && LIVE=100000 GONE=20000 node bench/marker-purge.mjs`.
import os from 'node:os';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { jetstream } from '@nats-io/jetstream';
import { startNats, stopAll } from '@signal/harness';
import { MarkerPurge } from '@signal/presence';
import { intEnv } from './lib/rpc-client.mjs';

const LIVE = intEnv('LIVE', 100_000);
const GONE = intEnv('GONE', 20_000);
const HISTORY = intEnv('HISTORY', 1);
const IN_FLIGHT = 256;

async function main() {
  const nats = await startNats();
  const nc = await connect({ servers: nats.url });
  const kv = await new Kvm(jetstream(nc)).create('bench_markers', { history: HISTORY, storage: 'memory' });
  /** Runs `write(i)` for i < n, IN_FLIGHT at a time. */
  const writes = async (n, write) => {
    for (let i = 0; i < n; i += IN_FLIGHT) await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, n - i) }, (_, j) => write(i + j)));
  };
  const churn = (tag) => writes(GONE, async (i) => {
    await kv.put(`gone.${tag}.${i}`, 'x');
    await kv.delete(`gone.${tag}.${i}`);
  });
  const purge = new MarkerPurge(nc, 'bench_markers');
  const pass = async (name) => {
    const started = performance.now();
    const purged = await purge.purge(0);
    const ms = performance.now() - started;
    console.log(`| ${name} | ${purged} | ${Math.round(ms)} | ${Math.round(GONE / (ms / 1000))} |`);
  };
  console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model}), node ${process.version}; ${LIVE} live keys, ${GONE} markers per pass, history ${HISTORY}`);
  await writes(LIVE, (i) => kv.put(`live.${i}`, 'x'));
  await churn('a');
  console.log('| pass | messages purged | ms | markers/s |');
  console.log('| --- | ---: | ---: | ---: |');
  await pass('first (from the first message)');
  await churn('b');
  await pass('second (from where the first stopped)');
  await nc.close();
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
