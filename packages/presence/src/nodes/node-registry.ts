import type { KV } from '@nats-io/kv';
import { SignalError } from '@signal/core';
import { RevisionConflict } from '../store/presence-store.js';
import { decodeNodeRecord, encodeNodeRecord, type NodeRecord } from './node-record.js';
import { isWrongLastSequence } from '../store/wrong-last-sequence.js';
import { DEFAULT_RETRY_DELAYS, retryTransient, type RetryObserver } from '../faults/transient.js';

/** Thrown by `beat()` when another node has claimed this one: it was declared dead and swept. */
export class NodeSwept extends Error {
  constructor(node: string) {
    super(`node ${node} was declared dead and swept by another node`);
  }
}

/** This node's own heartbeat record. */
export class NodeRegistry {
  private revision = 0;
  /** The process's start, kept when it registers again as a new instance after being swept. */
  private readonly startedAt = Date.now();

  /**
   * `connections` is read at every beat, for operators (`signal nodes`); nothing decides on it.
   * `retryMs`: how long one beat retries transient JetStream errors (at most a beat interval,
   * so beats never pile up); `onRetry` is told of each retry, for metrics.
   */
  constructor(
    private readonly kv: KV,
    readonly node: string,
    private currentInstance: string,
    private readonly connections: () => number = () => 0,
    private readonly retryMs = 0,
    private readonly onRetry?: RetryObserver,
    /** PRESENCE_SHARDS, in the record so a gateway started with another count can tell (shard-agreement.ts). */
    private readonly shards = 1,
  ) {}

  get instance(): string {
    return this.currentInstance;
  }

  /**
   * Writes this node's record (unconditionally: a record of the same node id belongs to a
   * process that is gone, since node ids are unique among running gateways). Returns that
   * earlier record, whose entries the caller sweeps.
   */
  async register(instance = this.currentInstance): Promise<NodeRecord | undefined> {
    this.currentInstance = instance;
    const earlier = await this.call(() => this.kv.get(this.node));
    this.revision = await this.call(() => this.kv.put(this.node, encodeNodeRecord(this.record())));
    const previous = earlier && earlier.operation === 'PUT' ? decodeNodeRecord(earlier.value) : undefined;
    return previous && previous.instance !== instance ? previous : undefined;
  }

  /** Moves the record on, only if nobody else changed it since the last beat. */
  async beat(): Promise<void> {
    const data = encodeNodeRecord(this.record());
    let retried = false;
    try {
      this.revision = await retryTransient(() => this.kv.update(this.node, data, this.revision), { deadlineMs: this.retryMs, ...DEFAULT_RETRY_DELAYS }, (error, attempt) => {
        retried = true;
        this.onRetry?.(error, attempt);
      });
    } catch (error) {
      if (!isWrongLastSequence(error)) throw error;
      // A retried beat may conflict with its own earlier attempt, which landed but whose answer was lost.
      const latest = retried ? await this.kv.get(this.node).catch(() => null) : null;
      if (latest?.operation === 'PUT' && new TextDecoder().decode(latest.value) === new TextDecoder().decode(data)) {
        this.revision = latest.revision;
        return;
      }
      throw new NodeSwept(this.node);
    }
  }

  /** Removes the record on a clean shutdown, so nobody waits for it to time out. */
  async deregister(): Promise<void> {
    await this.kv.delete(this.node, { previousSeq: this.revision }).catch(() => undefined);
  }

  private record(): NodeRecord {
    return { node: this.node, instance: this.currentInstance, beatAt: Date.now(), startedAt: this.startedAt, connections: this.connections(), beats: true, shards: this.shards };
  }

  private async call<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (error) {
      if (error instanceof RevisionConflict) throw error;
      throw new SignalError('unavailable', `presence node registry: ${(error as Error).message}`, { cause: error });
    }
  }
}
