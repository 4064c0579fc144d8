#!/usr/bin/env node
/**
 * N subscribers of one system on one channel, in their own process so the servers are what
 * is measured. Every received bench message of the current step is counted and its latency
 * (receive time − publish stamp, on the machine-wide monotonic clock) recorded.
 */
import { nowMicros } from '../lib/clock.mjs';
import { Histogram } from '../lib/histogram.mjs';
import { serveIpc } from '../lib/ipc-server.mjs';
import { connectors } from './connectors.mjs';

const CONNECT_CONCURRENCY = 50;
const CONNECT_TIMEOUT_MS = 15_000;

let setup;
const subscribers = [];
let step = -1;
let hist = new Histogram();
let received = 0;
let stale = 0;
let firstReceive = 0;
let lastReceive = 0;
let lastAny = 0;
let disconnects = 0;

function onStamp(messageStep, ts) {
  const now = nowMicros();
  lastAny = now;
  if (messageStep !== step) {
    stale++;
    return;
  }
  if (received === 0) firstReceive = now;
  received++;
  lastReceive = now;
  hist.record(now - ts);
}

function onClose() {
  disconnects++;
}

function connectOne(index) {
  // A restricted environment changes what the tokens say, not how a subscriber connects.
  const connect = connectors[setup.clients][setup.system === 'ours-restricted' || setup.system === 'ours-history' ? 'ours' : setup.system];
  let timer;
  return Promise.race([
    connect(index, setup, onStamp, onClose).finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`subscriber ${index} did not join within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    }),
  ]);
}

serveIpc({
  setup(args) {
    setup = args;
    return {};
  },
  /** Makes sure all N are connected and joined, replacing any that were dropped. */
  async connect() {
    const missing = [];
    for (let i = 0; i < setup.count; i++) if (!subscribers[i]?.isOpen()) missing.push(i);
    const replaced = missing.filter((i) => subscribers[i] !== undefined).length;
    for (let at = 0; at < missing.length; at += CONNECT_CONCURRENCY) {
      const slice = missing.slice(at, at + CONNECT_CONCURRENCY);
      const handles = await Promise.all(slice.map(connectOne));
      slice.forEach((i, k) => (subscribers[i] = handles[k]));
    }
    return { connected: subscribers.filter((s) => s.isOpen()).length, replaced };
  },
  /** Drops every subscriber: the server discards whatever it still had queued for them. */
  disconnect() {
    for (const s of subscribers) s?.close();
    return {};
  },
  begin(args) {
    step = args.step;
    hist = new Histogram();
    received = 0;
    stale = 0;
    firstReceive = 0;
    lastReceive = 0;
    disconnects = 0;
    return {};
  },
  status() {
    return { received, stale, lastAny, now: nowMicros() };
  },
  report() {
    return { received, stale, firstReceive, lastReceive, disconnects, hist: hist.toSparse() };
  },
});
