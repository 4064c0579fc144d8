import type { NatsConnection } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import { publishLeave, scopeOfKey } from '../events/presence-events.js';
import { nodeOfKey } from '../store/keys.js';
import type { StoredParticipant } from '../store/participant-entry.js';
import { RevisionConflict, type PresenceStore } from '../store/presence-store.js';
import { encodeNodeRecord } from './node-record.js';
import type { ObservedNode } from './liveness-watch.js';
import { isWrongLastSequence } from '../store/wrong-last-sequence.js';
import { DEFAULT_RETRY_DELAYS, retryTransient, type RetryObserver } from '../faults/transient.js';
import type { NodeKeysSweep } from './node-keys-sweep.js';

const PARALLEL_REMOVALS = 64;

/**
 * Removes the entries of gateway processes that are gone and announces their `leave`s.
 * Every removal is a compare-and-set on the entry's revision, so two sweepers never both
 * announce a leave, and an entry rewritten since it was read (its node came back) stays.
 */
export class Sweeper {
  constructor(
    private readonly nc: NatsConnection,
    private readonly store: PresenceStore,
    private readonly nodes: KV,
    private readonly self: string,
    /** How long a claim retries transient JetStream errors; the entries' removals retry in the store. */
    private readonly retryMs = 0,
    private readonly onRetry?: RetryObserver,
    /** Other per-node buckets (signal_online, signal_occupancy) swept with the participants, before the record goes. */
    private readonly companions: readonly NodeKeysSweep[] = [],
  ) {}

  /**
   * Claims a silent node by rewriting its record at the revision we last saw: if it beat in
   * the meantime, or another node claimed it first, the claim fails and we leave it alone.
   */
  async claim(observed: ObservedNode): Promise<number | undefined> {
    try {
      return await retryTransient(
        () => this.nodes.update(observed.record.node, encodeNodeRecord({ ...observed.record, sweptBy: this.self }), observed.revision),
        { deadlineMs: this.retryMs, ...DEFAULT_RETRY_DELAYS },
        this.onRetry,
      );
    } catch (error) {
      if (isWrongLastSequence(error)) return undefined;
      throw error;
    }
  }

  /** Sweeps a claimed node's entries, then drops its record (unless it changed meanwhile). */
  async sweepClaimed(observed: ObservedNode, claimRevision: number): Promise<number> {
    const { node, instance } = observed.record;
    const removed = await this.sweepNode(node, (entry) => entry.instance === instance);
    await this.sweepCompanions(node, (writer) => writer === instance);
    await this.nodes.delete(node, { previousSeq: claimRevision }).catch(() => undefined);
    return removed;
  }

  /** Sweeps the entries of one node id that match `which`. */
  async sweepNode(node: string, which: (entry: StoredParticipant) => boolean): Promise<number> {
    return this.removeAll((await this.store.entriesOfNode(node)).filter(which));
  }

  /** Deletes a node's keys in the companion buckets whose writer instance matches `which`. */
  async sweepCompanions(node: string, which: (instance: string | undefined) => boolean): Promise<void> {
    for (const companion of this.companions) await companion.sweep(node, which);
  }

  /**
   * Entries whose writer is not a registered live process: left behind by a crash between
   * writing an entry and a sweep, for instance. Only entries seen orphaned, unchanged, in two
   * runs in a row are removed, so a node that is just starting up is never mistaken for one.
   * Returns this run's orphans, to pass to the next run.
   */
  async sweepOrphans(live: ReadonlyMap<string, string>, previous: ReadonlySet<string>): Promise<{ orphans: Set<string>; removed: number }> {
    const entries = await this.store.allEntries();
    const orphans = new Set<string>();
    const confirmed: StoredParticipant[] = [];
    for (const entry of entries) {
      const node = nodeOfKey(entry.key);
      if (node !== undefined && live.get(node) === entry.instance) continue;
      const id = `${entry.key}@${entry.revision}`;
      orphans.add(id);
      if (previous.has(id)) confirmed.push(entry);
    }
    return { orphans, removed: await this.removeAll(confirmed) };
  }

  private async removeAll(entries: StoredParticipant[]): Promise<number> {
    let removed = 0;
    for (let i = 0; i < entries.length; i += PARALLEL_REMOVALS) {
      const batch = entries.slice(i, i + PARALLEL_REMOVALS);
      const results = await Promise.all(batch.map((entry) => this.remove(entry)));
      removed += results.filter(Boolean).length;
    }
    return removed;
  }

  private async remove(entry: StoredParticipant): Promise<boolean> {
    const scope = scopeOfKey(entry.key);
    if (!scope) return false;
    let revision: number;
    try {
      revision = await this.store.remove(entry.key, entry.revision, this.self);
    } catch (error) {
      if (error instanceof RevisionConflict) return false;
      throw error;
    }
    publishLeave(this.nc, scope, entry.channel, entry.address, revision);
    return true;
  }
}
