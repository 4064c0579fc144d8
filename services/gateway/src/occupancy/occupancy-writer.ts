import type { NatsConnection } from '@nats-io/transport-node';
import type { Scope } from '@signal/core';
import {
  NO_OCCUPANCY,
  OCCUPANCY_REFRESH_MS,
  encodeOccupancy,
  isEmpty,
  occupancyKey,
  sameCounts,
  type KV,
  type NodeKeysSweep,
  type OccupancyCounts,
} from '@signal/presence';
import type { Logger } from 'pino';
import { occupancyMetrics, occupancyStats } from './occupancy-metrics.js';

/** Least time between two writes of one channel's counts, but for becoming occupied or vacated. */
export const OCCUPANCY_THROTTLE_MS = 1000;
/** How often pending throttled writes are looked at. */
const TICK_MS = 100;
/** How often live keys are checked for a refresh (OCCUPANCY_REFRESH_MS). */
const REFRESH_CHECK_MS = 60_000;
/** Throttled writes in flight at most; becoming occupied or vacated is never held back. */
const MAX_IN_FLIGHT = 256;
/**
 * What a put that failed may have left: perhaps the key, perhaps not. It differs from any real
 * counts, so the put is retried, and it counts as written, so a vacated channel is still deleted.
 */
const UNKNOWN: OccupancyCounts = { connections: -1, participants: -1 };

interface Slot {
  readonly key: string;
  /** The counts this gateway has now. */
  desired: OccupancyCounts;
  /** What the bucket holds for it, as far as this gateway knows; undefined: no key. */
  written: OccupancyCounts | undefined;
  writing: boolean;
  /** Performance time of the last write, successful or not. */
  lastWriteAt: number;
}

export interface OccupancyWriterDeps {
  nc: NatsConnection;
  kv: KV;
  node: string;
  /** The current process instance (it changes when this node re-registers after being swept). */
  instance: () => string;
  /** Sweeps this node's keys in the occupancy bucket (as the sweep of a dead node does). */
  cleanup: NodeKeysSweep;
  /** Creates the bucket where it is missing (a restarted nats-server with memory storage lost it). */
  ensureBucket: () => Promise<void>;
  log: Logger;
}

/**
 * Keeps this gateway's key of each channel in the occupancy bucket equal to its local counts:
 * put at once when a channel becomes occupied here, deleted at once when it is vacated, and
 * updated in between at most once per OCCUPANCY_THROTTLE_MS. One write per channel is in
 * flight at a time, so the bucket sees them in the order they were decided.
 */
export class OccupancyWriter {
  private readonly slots = new Map<string, Slot>();
  private readonly dirty = new Set<Slot>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly writes = new Set<Promise<void>>();
  private writtenInstance: string;
  private failing = false;
  private stopped = false;

  constructor(private readonly deps: OccupancyWriterDeps) {
    this.writtenInstance = deps.instance();
  }

  /** Removes what an earlier process with this node id left (before any connection is taken). */
  async start(): Promise<void> {
    const { cleanup, node, log } = this.deps;
    const removed = await cleanup.sweep(node, (writer) => writer !== this.writtenInstance);
    if (removed > 0) log.info({ removed }, 'removed occupancy keys left by an earlier process with this node id');
    this.timers.push(setInterval(() => this.tick(), TICK_MS), setInterval(() => this.refreshOld(), REFRESH_CHECK_MS));
    void this.followConnection();
  }

  /** The local counts of a channel changed. */
  changed(scope: Scope, channel: string, counts: OccupancyCounts): void {
    const key = occupancyKey(scope, channel, this.deps.node);
    let slot = this.slots.get(key);
    if (!slot) {
      if (isEmpty(counts)) return;
      slot = { key, desired: NO_OCCUPANCY, written: undefined, writing: false, lastWriteAt: -Infinity };
      this.slots.set(key, slot);
      occupancyStats.channels = this.slots.size;
    }
    slot.desired = counts;
    this.schedule(slot);
  }

  /**
   * On shutdown, after every socket closed: waits for the writes in flight (the deletes of the
   * channels those closes vacated), then removes every key still written, once, and stops.
   */
  async drain(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    await Promise.allSettled(this.writes);
    const held = [...this.slots.values()].filter((slot) => slot.written !== undefined);
    await Promise.all(held.map((slot) => this.deps.kv.delete(slot.key).catch(() => undefined)));
  }

  /** Writes now what must not wait (becoming occupied or vacated); everything else waits for the tick. */
  private schedule(slot: Slot): void {
    if (slot.writing || this.stopped) return;
    const occupied = !isEmpty(slot.desired);
    if (!occupied && slot.written === undefined) {
      this.forget(slot);
      return;
    }
    if (occupied !== (slot.written !== undefined) && !this.failing) {
      this.dirty.delete(slot);
      this.write(slot);
      return;
    }
    if (slot.written === undefined || !sameCounts(slot.desired, slot.written)) this.dirty.add(slot);
    else this.dirty.delete(slot);
  }

  private tick(): void {
    if (this.deps.instance() !== this.writtenInstance) this.rewriteAll();
    const now = performance.now();
    for (const slot of this.dirty) {
      if (this.writes.size >= MAX_IN_FLIGHT) return;
      if (slot.writing || now - slot.lastWriteAt < OCCUPANCY_THROTTLE_MS) continue;
      this.dirty.delete(slot);
      this.write(slot);
    }
  }

  /** Starts a write, tracked until it settles (drain waits for it). */
  private write(slot: Slot): void {
    const done = this.perform(slot).finally(() => this.writes.delete(done));
    this.writes.add(done);
  }

  private async perform(slot: Slot): Promise<void> {
    const { kv, node, log } = this.deps;
    const target = slot.desired;
    const instance = this.deps.instance();
    const op = isEmpty(target) ? 'delete' : 'put';
    slot.writing = true;
    try {
      if (op === 'delete') await kv.delete(slot.key);
      else await kv.put(slot.key, encodeOccupancy({ node, instance, ...target, updatedAt: Date.now() }));
      // Written under an instance that was swept meanwhile: the sweep may have removed it.
      slot.written = op === 'delete' || instance !== this.deps.instance() ? undefined : target;
      occupancyMetrics.writes.inc({ op, result: 'ok' });
      if (this.failing) log.info('occupancy writes work again');
      this.failing = false;
    } catch (error) {
      occupancyMetrics.writes.inc({ op, result: 'failed' });
      if (op === 'put') slot.written = UNKNOWN;
      // Once per outage, not once per write; the write is retried, throttled.
      if (!this.failing) log.warn({ err: error }, 'occupancy write failed; retrying once per second per channel');
      this.failing = true;
    } finally {
      slot.writing = false;
      slot.lastWriteAt = performance.now();
    }
    if (this.failing) this.dirty.add(slot);
    else this.schedule(slot);
  }

  /**
   * This node was swept (declared dead while it was frozen or cut off) and registered again
   * as a new process: the sweep removed its keys, so every occupied channel is written again.
   */
  private rewriteAll(): void {
    this.writtenInstance = this.deps.instance();
    this.deps.log.info('occupancy: this node registered again; writing its counts again');
    for (const slot of this.slots.values()) {
      if (!isEmpty(slot.desired)) slot.written = undefined;
      this.schedule(slot);
    }
  }

  /** Live keys are rewritten before the bucket's max age would drop them. */
  private refreshOld(): void {
    const now = performance.now();
    for (const slot of this.slots.values()) {
      if (slot.written !== undefined && now - slot.lastWriteAt >= OCCUPANCY_REFRESH_MS) {
        slot.written = undefined;
        this.dirty.add(slot);
      }
    }
  }

  /** After a NATS outage the bucket may have lost writes, or be gone: recreate it and write every count again. */
  private async followConnection(): Promise<void> {
    for await (const status of this.deps.nc.status()) {
      if (this.stopped) return;
      if (status.type !== 'reconnect') continue;
      try {
        await this.deps.ensureBucket();
      } catch (error) {
        this.deps.log.warn({ err: error }, 'occupancy bucket could not be opened after a reconnect; writes retry');
      }
      this.failing = false;
      for (const slot of this.slots.values()) {
        if (!isEmpty(slot.desired)) slot.written = undefined;
        this.schedule(slot);
      }
    }
  }

  private forget(slot: Slot): void {
    this.dirty.delete(slot);
    this.slots.delete(slot.key);
    occupancyStats.channels = this.slots.size;
  }
}
