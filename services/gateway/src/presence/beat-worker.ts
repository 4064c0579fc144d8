/**
 * The beat worker thread: sends this gateway's plain-NATS beat on a NATS connection of its
 * own, so beats go on while the main thread is busy (a long synchronous task, a GC pause) and
 * stop the instant the process dies. It stops beating once the main thread has not moved its
 * progress counter for `maxStallMs`: a process stuck for good is then swept like a dead one.
 * Started by `beat-thread.ts`; nothing here decides anything about other nodes.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { connect } from '@nats-io/transport-node';
import { natsConnectOptions, type NatsEnv } from '@signal/operations';

export interface BeatWorkerData {
  nats: NatsEnv;
  name: string;
  subject: string;
  beatMs: number;
  maxStallMs: number;
  /** Int32Array over a SharedArrayBuffer: [0] is bumped by the main thread every beat interval. */
  progress: SharedArrayBuffer;
}

/** What the worker tells the main thread (which logs it). */
export type BeatWorkerEvent = { type: 'stalled'; silentMs: number } | { type: 'resumed' } | { type: 'nats'; status: 'disconnect' | 'reconnect'; server: string };

const data = workerData as BeatWorkerData;
const progress = new Int32Array(data.progress);
const nc = await connect(natsConnectOptions(data.nats, data.name));
let seen = Atomics.load(progress, 0);
let movedAt = performance.now();
let stalled = false;

const timer = setInterval(() => {
  const now = performance.now();
  const current = Atomics.load(progress, 0);
  if (current !== seen) {
    seen = current;
    movedAt = now;
  }
  const silentMs = now - movedAt;
  if (silentMs > data.maxStallMs) {
    if (!stalled) parentPort?.postMessage({ type: 'stalled', silentMs: Math.round(silentMs) } satisfies BeatWorkerEvent);
    stalled = true;
    return;
  }
  if (stalled) parentPort?.postMessage({ type: 'resumed' } satisfies BeatWorkerEvent);
  stalled = false;
  nc.publish(data.subject);
}, data.beatMs);

// The beat connection's outages, logged by the main thread: beats stop while it reconnects.
void (async () => {
  for await (const status of nc.status()) {
    if (status.type === 'disconnect' || status.type === 'reconnect') parentPort?.postMessage({ type: 'nats', status: status.type, server: status.server } satisfies BeatWorkerEvent);
  }
})();

parentPort?.on('message', (message: unknown) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  void nc.close().finally(() => parentPort?.close());
});
