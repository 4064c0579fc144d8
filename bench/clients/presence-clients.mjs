#!/usr/bin/env node
/**
 * Clients of the presence benchmark (bench/presence-churn.mjs) in a process of their own, so that
 * the gateways, not the benchmark's receiving, are what is measured: a 1000-member channel under
 * churn sends ~200,000 frames per second to its members. Lean clients (lean-rpc.mjs) parse only
 * responses. Clients are known by the index the benchmark gave them; times are nowMicros()
 * (CLOCK_MONOTONIC, shared by every process on the machine).
 */
import { nowMicros } from '../lib/clock.mjs';
import { serveIpc } from '../lib/ipc-server.mjs';
import { LeanRpc } from './lean-rpc.mjs';

const OPEN_CONCURRENCY = 50;
const clients = new Map();
/** Per watched identity: resolves with the time the last of the watching clients got its join. */
const joinWatches = new Map();
let leavesWait;

const pick = (indices) => indices.map((i) => {
  const client = clients.get(i);
  if (!client) throw new Error(`no client ${i}`);
  return client;
});

serveIpc({
  async open({ urls }) {
    for (let at = 0; at < urls.length; at += OPEN_CONCURRENCY) {
      await Promise.all(urls.slice(at, at + OPEN_CONCURRENCY).map(async ({ index, url }) => clients.set(index, await LeanRpc.open(url))));
    }
    return {};
  },

  /**
   * One request; answers once it succeeded. With `parse`, the result is parsed (as a client
   * rendering it would) and its participant count returned; without, it is received but not
   * parsed (see LeanRpc.request).
   */
  async request({ index, method, params, parse }) {
    const result = await pick([index])[0].request(method, params, { result: parse === true });
    return { participants: result?.participants?.length };
  },

  /** Every client in `indices` loops join → state → state → leave in its channel until `durationMs` has passed. */
  async churn({ indices, channels, durationMs, joinBack, parse }) {
    const counts = { join: 0, state: 0, leave: 0, errors: 0 };
    const latencies = [];
    const errors = [];
    const deadline = performance.now() + durationMs;
    const timed = async (kind, op) => {
      const t0 = performance.now();
      try {
        await op();
        counts[kind]++;
        latencies.push(performance.now() - t0);
      } catch (error) {
        counts.errors++;
        if (errors.length < 3) errors.push(error.message);
      }
    };
    await Promise.all(pick(indices).map(async (c, k) => {
      const i = indices[k];
      const channel = channels[k];
      let step = 0;
      while (performance.now() < deadline) {
        // Results are received; parsed only with `parse` (PARSE_RESULTS): nobody reads them.
        const ok = { result: parse === true };
        await timed('join', () => c.request('signal.join', joinBack ? { id: channel, presence: true } : { id: channel, presence: true, joinBack: false }, ok));
        await timed('state', () => c.request('signal.publish', { id: channel, state: { i, step: step++ } }, ok));
        await timed('state', () => c.request('signal.publish', { id: channel, state: { i, step: step++ } }, ok));
        await timed('leave', () => c.request('signal.leave', { id: channel }, ok));
      }
    }));
    return { counts, latencies, errors };
  },

  frames({ indices }) {
    return { frames: pick(indices).reduce((sum, c) => sum + c.frames, 0) };
  },

  /** From now on, notes when every client in `indices` got `signal.join` from `identity` (see joinSeen). */
  watchJoin({ identity, indices }) {
    let waiting = indices.length;
    let done;
    const seen = new Promise((resolve) => (done = resolve));
    joinWatches.set(identity, seen);
    if (waiting === 0) done({ at: nowMicros() });
    for (const c of pick(indices)) {
      c.onJoinFrom = (from) => {
        if (from !== identity) return;
        c.onJoinFrom = undefined;
        if (--waiting === 0) done({ at: nowMicros() });
      };
    }
    return {};
  },

  async joinSeen({ identity }) {
    const seen = joinWatches.get(identity);
    joinWatches.delete(identity);
    return seen;
  },

  /** Stops watching joins (a newcomer whose join failed). */
  unwatch({ indices }) {
    for (const c of pick(indices)) c.onJoinFrom = undefined;
    return {};
  },

  /** From now on, counts leaves at `indices` afresh; leavesSeen resolves once each has `count`. */
  expectLeaves({ indices, count }) {
    const watched = pick(indices);
    let short = 0;
    let done;
    const seen = new Promise((resolve) => (done = resolve));
    for (const c of watched) {
      c.leaves = 0;
      short++;
      c.onLeave = () => {
        if (c.leaves !== count) return;
        c.onLeave = undefined;
        if (--short === 0) done({ at: nowMicros() });
      };
    }
    if (short === 0 || count === 0) done({ at: nowMicros() });
    leavesWait = seen;
    return {};
  },

  leavesSeen() {
    return leavesWait;
  },

  close({ indices }) {
    for (const c of pick(indices)) c.close();
    for (const i of indices) clients.delete(i);
    return {};
  },
});
