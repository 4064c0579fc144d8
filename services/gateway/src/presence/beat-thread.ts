import { Worker } from 'node:worker_threads';
import type { NatsEnv } from '@signal/operations';
import type { Logger } from 'pino';
import type { BeatWorkerData, BeatWorkerEvent } from './beat-worker.js';

const WORKER_ENTRY = new URL('./beat-worker.js', import.meta.url);
/** Pause before a beat worker that died (it should not) is started again. */
const RESTART_DELAY_MS = 1000;
/** How long a stopping worker may take to close its NATS connection before it is terminated. */
const STOP_GRACE_MS = 2000;

export interface BeatThreadOptions {
  nats: NatsEnv;
  node: string;
  subject: string;
  beatMs: number;
  maxStallMs: number;
  log: Logger;
}

/**
 * This gateway's plain-NATS beat, sent from a worker thread (`beat-worker.ts`). The main thread
 * proves it is alive by bumping a shared counter every beat interval; the worker stops beating
 * once the counter has not moved for `maxStallMs`.
 */
export class BeatThread {
  private readonly progress = new Int32Array(new SharedArrayBuffer(4));
  private worker: Worker | undefined;
  private bump: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: BeatThreadOptions) {}

  start(): void {
    this.stopped = false;
    this.bump = setInterval(() => Atomics.add(this.progress, 0, 1), this.options.beatMs);
    this.bump.unref();
    this.spawn();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.bump);
    const worker = this.worker;
    if (!worker) return;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.postMessage('stop');
    // A worker still connecting (NATS down) would not close in time: it holds nothing to hand over.
    const grace = setTimeout(() => void worker.terminate(), STOP_GRACE_MS);
    await exited;
    clearTimeout(grace);
  }

  private spawn(): void {
    const { nats, node, subject, beatMs, maxStallMs, log } = this.options;
    // Only the NATS variables cross to the worker, not the whole configuration.
    const natsOnly = Object.fromEntries(Object.entries(nats).filter(([name]) => name.startsWith('NATS_'))) as unknown as NatsEnv;
    const data: BeatWorkerData = { nats: natsOnly, name: `signal-gateway-${node}-beat`, subject, beatMs, maxStallMs, progress: this.progress.buffer as SharedArrayBuffer };
    const worker = new Worker(WORKER_ENTRY, { workerData: data });
    this.worker = worker;
    worker.on('message', (event: BeatWorkerEvent) => {
      if (event.type === 'nats') log.info({ server: event.server }, `presence beat connection: ${event.status}`);
      else if (event.type === 'stalled') log.error({ silentMs: event.silentMs }, 'main thread stalled past PRESENCE_MAX_STALL_MS; presence beats stopped, other nodes will sweep this one');
      else log.warn('main thread runs again; presence beats resumed');
    });
    worker.on('error', (error) => log.error({ err: error }, 'presence beat worker failed'));
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = undefined;
      if (this.stopped) return;
      log.warn({ restartInMs: RESTART_DELAY_MS }, 'presence beat worker exited; starting it again');
      setTimeout(() => {
        if (!this.stopped) this.spawn();
      }, RESTART_DELAY_MS).unref();
    });
  }
}
