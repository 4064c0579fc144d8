import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { decodeOccupancy, type KV, type NodeKeysSweep, type OccupancyCounts } from '@signal/presence';
import type { NatsConnection } from '@nats-io/transport-node';
import { OccupancyWriter } from '../src/occupancy/occupancy-writer.js';

/**
 * The writer's contract with everything that reads the occupancy stream (webhooks derive
 * occupied/vacated from it): put at once on 0→1, delete at once on →0, at most one update per
 * second in between, one write per key in flight, in order. Played on a recording KV with fake time.
 */
const scope = { app: 'acme', env: 'test' as const };

interface Write {
  op: 'put' | 'delete';
  key: string;
  counts?: OccupancyCounts;
  at: number;
}

class RecordingKv {
  readonly writes: Write[] = [];
  /** When set, writes wait until `release()`; when failing, they reject. */
  holding = false;
  failing = false;
  private held: Array<() => void> = [];

  put(key: string, data: Uint8Array): Promise<number> {
    const value = decodeOccupancy(data)!;
    return this.record({ op: 'put', key, counts: { connections: value.connections, participants: value.participants }, at: performance.now() });
  }

  delete(key: string): Promise<void> {
    return this.record({ op: 'delete', key, at: performance.now() }).then(() => undefined);
  }

  release(): void {
    for (const go of this.held.splice(0)) go();
  }

  private record(write: Write): Promise<number> {
    if (this.failing) return Promise.reject(new Error('nats is away'));
    this.writes.push(write);
    if (!this.holding) return Promise.resolve(this.writes.length);
    return new Promise((resolve) => this.held.push(() => resolve(this.writes.length)));
  }
}

const noStatus = { status: () => (async function* () {})() } as unknown as NatsConnection;
const noCleanup = { sweep: () => Promise.resolve(0) } as unknown as NodeKeysSweep;
const counts = (connections: number, participants = 0): OccupancyCounts => ({ connections, participants });

let kv: RecordingKv;
let writer: OccupancyWriter;

beforeEach(async () => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
  kv = new RecordingKv();
  writer = new OccupancyWriter({
    nc: noStatus,
    kv: kv as unknown as KV,
    node: 'n1',
    instance: () => 'i1',
    cleanup: noCleanup,
    ensureBucket: () => Promise.resolve(),
    log: pino({ level: 'silent' }),
  });
  await writer.start();
});
afterEach(async () => {
  await writer.drain();
  vi.useRealTimers();
});

/** Lets the writes' promise callbacks run, then moves fake time on. */
async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

describe('occupancy writer', () => {
  it('puts at once when a channel becomes occupied and deletes at once when it is vacated', async () => {
    writer.changed(scope, 'room', counts(1));
    await advance(0);
    expect(kv.writes).toEqual([{ op: 'put', key: 'acme.test.room.n1', counts: counts(1), at: 0 }]);
    await advance(200);
    writer.changed(scope, 'room', counts(0));
    await advance(0);
    // Within the second after the put, yet at once: vacating is never throttled.
    expect(kv.writes.map((w) => [w.op, w.at])).toEqual([['put', 0], ['delete', 200]]);
  });

  it('folds changes in between into at most one put per second, and writes nothing when the count came back', async () => {
    writer.changed(scope, 'room', counts(1));
    for (let n = 2; n <= 9; n++) {
      await advance(100);
      writer.changed(scope, 'room', counts(n, 1));
    }
    await advance(300);
    const puts = kv.writes.filter((w) => w.op === 'put');
    expect(puts.map((w) => [w.counts, w.at])).toEqual([[counts(1), 0], [counts(9, 1), 1000]]);

    // Up and back down within the window: the bucket already holds it.
    writer.changed(scope, 'room', counts(10, 1));
    writer.changed(scope, 'room', counts(9, 1));
    await advance(2000);
    expect(kv.writes).toHaveLength(2);
    for (let i = 1; i < puts.length; i++) expect(puts[i]!.at - puts[i - 1]!.at).toBeGreaterThanOrEqual(1000);
  });

  it('keeps one write per key in flight, so the stream has them in the order they were decided', async () => {
    kv.holding = true;
    writer.changed(scope, 'room', counts(1));
    writer.changed(scope, 'room', counts(0));
    writer.changed(scope, 'room', counts(1));
    await advance(0);
    expect(kv.writes.map((w) => w.op)).toEqual(['put']);
    kv.holding = false;
    kv.release();
    await advance(0);
    // The put ended with the channel occupied again, as written: nothing more to do.
    expect(kv.writes.map((w) => w.op)).toEqual(['put']);

    kv.holding = true;
    writer.changed(scope, 'other', counts(2));
    writer.changed(scope, 'other', counts(0));
    await advance(0);
    kv.holding = false;
    kv.release();
    await advance(0);
    expect(kv.writes.filter((w) => w.key.includes('.other.')).map((w) => w.op)).toEqual(['put', 'delete']);
  });

  it('retries a failed write once per second, and still deletes a channel whose put may have landed', async () => {
    kv.failing = true;
    writer.changed(scope, 'room', counts(3));
    await advance(500);
    kv.failing = false;
    writer.changed(scope, 'room', counts(0));
    await advance(0);
    expect(kv.writes).toEqual([]);
    await advance(600);
    expect(kv.writes.map((w) => [w.op, w.at])).toEqual([['delete', 1000]]);
  });

  it('on shutdown waits for the writes in flight, then deletes each key still written, once', async () => {
    writer.changed(scope, 'room', counts(1));
    writer.changed(scope, 'other', counts(2));
    await advance(0);
    kv.holding = true;
    writer.changed(scope, 'room', counts(0));
    await advance(0);
    const drained = writer.drain();
    await advance(0);
    expect(kv.writes.map((w) => `${w.op} ${w.key}`)).toEqual(['put acme.test.room.n1', 'put acme.test.other.n1', 'delete acme.test.room.n1']);
    kv.holding = false;
    kv.release();
    await drained;
    expect(kv.writes.map((w) => `${w.op} ${w.key}`)).toEqual([
      'put acme.test.room.n1',
      'put acme.test.other.n1',
      'delete acme.test.room.n1',
      'delete acme.test.other.n1',
    ]);
  });
});
