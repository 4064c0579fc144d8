import type { QueuedIterator } from '@nats-io/transport-node';
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { decodeNodeRecord, type NodeRecord } from './node-record.js';

/**
 * What isolates the handling of each watched entry (`MessageGuard` of @signal/operations,
 * matched by shape so this package needs no logger or metrics).
 */
export interface EntryGuard {
  wrap<A = void, B = void>(source: string, handler: (a: A, b: B) => void): (a: A, b: B) => void;
  drop(source: string, reason: 'invalid' | 'failed', error?: unknown): void;
}

/** The label dropped heartbeat records are counted under. */
const SOURCE = 'heartbeat';

export interface ObservedNode {
  readonly record: NodeRecord;
  readonly revision: number;
  /** Local monotonic time (ms) when this node's revision last moved. */
  changedAt: number;
}

/**
 * Follows every node's heartbeat record. Liveness is judged by when *this* process last saw
 * a record change, on its own monotonic clock: no two machines' clocks are ever compared.
 */
export class LivenessWatch {
  private readonly nodes = new Map<string, ObservedNode>();
  private iterator: QueuedIterator<KvWatchEntry> | undefined;
  private stopped = false;

  private readonly handle: (entry: KvWatchEntry) => void;

  constructor(
    private readonly kv: KV,
    private readonly guard: EntryGuard,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.handle = guard.wrap(SOURCE, (entry: KvWatchEntry) => this.apply(entry));
  }

  async start(): Promise<void> {
    this.stopped = false;
    const iterator = await this.kv.watch();
    this.iterator = iterator;
    // A record that cannot be read is dropped and the watch goes on; if the iterator itself
    // fails, the watch stops showing our own beats and the presence node reopens it.
    void (async () => {
      for await (const entry of iterator) this.handle(entry);
    })().catch((error: unknown) => this.guard.drop(SOURCE, 'failed', error));
  }

  /** Re-opens the watch (after a reconnect, or when it stopped showing our own beats). */
  async restart(): Promise<void> {
    this.iterator?.stop();
    this.iterator = undefined;
    if (!this.stopped) await this.start();
  }

  stop(): void {
    this.stopped = true;
    this.iterator?.stop();
  }

  /** After a gap in what we could see (our own NATS outage), nobody is judged on it. */
  forgiveAll(): void {
    const now = this.now();
    for (const observed of this.nodes.values()) observed.changedAt = now;
  }

  observed(): ObservedNode[] {
    return [...this.nodes.values()];
  }

  get(node: string): ObservedNode | undefined {
    return this.nodes.get(node);
  }

  private apply(entry: KvWatchEntry): void {
    if (entry.operation !== 'PUT') {
      this.nodes.delete(entry.key);
      return;
    }
    const record = decodeNodeRecord(entry.value);
    if (!record) return this.guard.drop(SOURCE, 'invalid');
    const previous = this.nodes.get(entry.key);
    if (previous?.revision === entry.revision) return;
    this.nodes.set(entry.key, { record, revision: entry.revision, changedAt: this.now() });
  }
}
