import type { QueuedIterator } from '@nats-io/transport-node';
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { decodeNodeRecord, type NodeRecord } from './node-record.js';

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

  constructor(
    private readonly kv: KV,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async start(): Promise<void> {
    this.stopped = false;
    const iterator = await this.kv.watch();
    this.iterator = iterator;
    void (async () => {
      for await (const entry of iterator) this.apply(entry);
    })();
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
    if (!record) return;
    const previous = this.nodes.get(entry.key);
    if (previous?.revision === entry.revision) return;
    this.nodes.set(entry.key, { record, revision: entry.revision, changedAt: this.now() });
  }
}
