import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { isWrongLastSequence } from '@signal/presence';
import { z } from 'zod';

/** Below NATS's default max_payload (1 MiB), with room for headers. */
const CHUNK_BYTES = 512 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const headSchema = z.object({ seq: z.number().int().nonnegative(), chunks: z.number().int().positive() });

export interface Checkpoint {
  /** The last log record the snapshot includes. */
  readonly seq: number;
  readonly snapshot: unknown;
}

/**
 * A derivation's saved position and state, in a KV bucket shared by the derivations (each
 * under its own `name`): the snapshot's JSON in chunks (`<name>.chunk.<seq>.<n>`), then
 * `<name>.head` naming them, written with a compare-and-set so that among
 * dispatchers saving at once only a newer position ever replaces an older one. A reader
 * follows `head`, so it never sees half of a snapshot.
 */
export class Checkpoints {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    private readonly bucket: string,
    private readonly name: string,
  ) {}

  static async openBucket(nc: NatsConnection, bucket: string, replicas: number, storage: 'memory' | 'file'): Promise<KV> {
    return new Kvm(jetstream(nc)).create(bucket, { history: 1, replicas, storage, description: 'signal webhooks: derivation checkpoints' });
  }

  static of(nc: NatsConnection, kv: KV, bucket: string, name: string): Checkpoints {
    return new Checkpoints(nc, kv, bucket, name);
  }

  async load(): Promise<Checkpoint | undefined> {
    const head = await this.kv.get(`${this.name}.head`);
    if (!head || head.operation !== 'PUT') return undefined;
    const { seq, chunks } = headSchema.parse(head.json());
    let text = '';
    for (let i = 0; i < chunks; i++) {
      const chunk = await this.kv.get(`${this.name}.chunk.${seq}.${i}`);
      if (!chunk || chunk.operation !== 'PUT') throw new Error(`checkpoint at ${seq} misses chunk ${i}`);
      text += decoder.decode(chunk.value);
    }
    return { seq, snapshot: JSON.parse(text) as unknown };
  }

  /** Saves unless a checkpoint at or after `seq` is already there; true when this one is now the head. */
  async save(seq: number, snapshot: unknown): Promise<boolean> {
    const head = await this.kv.get(`${this.name}.head`);
    const current = head?.operation === 'PUT' ? headSchema.safeParse(head.json()) : undefined;
    if (current?.success && current.data.seq >= seq) return false;
    const bytes = encoder.encode(JSON.stringify(snapshot));
    const chunks = Math.max(1, Math.ceil(bytes.length / CHUNK_BYTES));
    for (let i = 0; i < chunks; i++) await this.kv.put(`${this.name}.chunk.${seq}.${i}`, bytes.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES));
    const value = JSON.stringify({ seq, chunks });
    try {
      if (head) await this.kv.update(`${this.name}.head`, value, head.revision);
      else await this.kv.create(`${this.name}.head`, value);
    } catch (error) {
      await this.purgeChunks(seq);
      if (isWrongLastSequence(error)) return false;
      throw error;
    }
    if (current?.success) await this.purgeChunks(current.data.seq);
    return true;
  }

  /** Removes a superseded snapshot's chunks and their markers in one request. */
  private async purgeChunks(seq: number): Promise<void> {
    await this.nc.request(`$JS.API.STREAM.PURGE.KV_${this.bucket}`, JSON.stringify({ filter: `$KV.${this.bucket}.${this.name}.chunk.${seq}.>` }));
  }
}
