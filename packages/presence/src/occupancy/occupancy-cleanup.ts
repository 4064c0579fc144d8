import type { KV } from '@nats-io/kv';
import type { NodeLeftovers } from '../nodes/sweeper.js';
import { isWrongLastSequence } from '../store/wrong-last-sequence.js';
import { decodeOccupancy } from './occupancy-entry.js';
import { occupancyNodeFilter } from './occupancy-keys.js';

const PARALLEL_REMOVALS = 64;

/**
 * Removes the occupancy keys a gateway process left behind: those of a dead node (the sweep
 * calls `removeOf`), or of an earlier process with this node's id (at start). Every removal is
 * a compare-and-set at the revision read, so a key the node's live process rewrote meanwhile stays.
 */
export class OccupancyCleanup implements NodeLeftovers {
  constructor(private readonly kv: KV) {}

  removeOf(node: string, instance: string): Promise<number> {
    return this.removeWhere(node, (writer) => writer === instance);
  }

  /** Keys of `node` written by any process but `instance` (this one). */
  removeEarlier(node: string, instance: string): Promise<number> {
    return this.removeWhere(node, (writer) => writer !== instance);
  }

  private async removeWhere(node: string, which: (instance: string) => boolean): Promise<number> {
    const keys: string[] = [];
    for await (const key of await this.kv.keys(occupancyNodeFilter(node))) keys.push(key);
    let removed = 0;
    for (let i = 0; i < keys.length; i += PARALLEL_REMOVALS) {
      const results = await Promise.all(keys.slice(i, i + PARALLEL_REMOVALS).map((key) => this.removeIf(key, which)));
      removed += results.filter(Boolean).length;
    }
    return removed;
  }

  private async removeIf(key: string, which: (instance: string) => boolean): Promise<boolean> {
    const entry = await this.kv.get(key);
    if (!entry || entry.operation !== 'PUT') return false;
    // A value nobody can read counts for nobody; it goes too.
    const instance = decodeOccupancy(entry.value)?.instance;
    if (instance !== undefined && !which(instance)) return false;
    try {
      await this.kv.delete(key, { previousSeq: entry.revision });
      return true;
    } catch (error) {
      if (isWrongLastSequence(error)) return false;
      throw error;
    }
  }
}
