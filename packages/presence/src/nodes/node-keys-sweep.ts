import type { NatsConnection } from '@nats-io/transport-node';
import { headers } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { SWEPT_BY_HEADER } from '../store/presence-store.js';
import { readLatest } from '../store/read-latest.js';
import { isWrongLastSequence } from '../store/wrong-last-sequence.js';

const READ_TIMEOUT_MS = 5000;
const PARALLEL_REMOVALS = 64;
const decoder = new TextDecoder();

/**
 * A bucket keyed per gateway node (`…<node>` as the last token, value `{instance}`), such as
 * `signal_online`: a sweep deletes the keys a dead process wrote, each with a compare-and-set
 * on the revision read, so a key the node's successor rewrote meanwhile stays.
 */
export class NodeKeysSweep {
  private readonly js: JetStreamClient;

  constructor(
    private readonly nc: NatsConnection,
    private readonly bucket: string,
    private readonly nodeFilter: (node: string) => string,
    /** This node: named in each delete marker (SWEPT_BY_HEADER), so readers of the history know it was a sweep. */
    private readonly self: string,
  ) {
    this.js = jetstream(nc);
  }

  /** Deletes the node's keys whose writer `instance` matches `which`; returns how many. */
  async sweep(node: string, which: (instance: string | undefined) => boolean): Promise<number> {
    const records = await readLatest(this.nc, this.bucket, this.nodeFilter(node), READ_TIMEOUT_MS);
    const due = records.filter((record) => !record.deleted && which(instanceOf(record.value)));
    let removed = 0;
    for (let i = 0; i < due.length; i += PARALLEL_REMOVALS) {
      const results = await Promise.all(due.slice(i, i + PARALLEL_REMOVALS).map((record) => this.remove(record.key, record.revision)));
      removed += results.filter(Boolean).length;
    }
    return removed;
  }

  private async remove(key: string, revision: number): Promise<boolean> {
    const h = headers();
    h.set('KV-Operation', 'DEL');
    h.set(SWEPT_BY_HEADER, this.self);
    try {
      await this.js.publish(`$KV.${this.bucket}.${key}`, undefined, { headers: h, expect: { lastSubjectSequence: revision } });
      return true;
    } catch (error) {
      if (isWrongLastSequence(error)) return false;
      throw error;
    }
  }
}

function instanceOf(data: Uint8Array): string | undefined {
  try {
    const value = JSON.parse(decoder.decode(data)) as { instance?: unknown };
    return typeof value.instance === 'string' ? value.instance : undefined;
  } catch {
    return undefined;
  }
}
