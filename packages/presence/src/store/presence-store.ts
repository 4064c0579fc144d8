import type { NatsConnection } from '@nats-io/transport-node';
import { headers } from '@nats-io/transport-node';
import { JetStreamApiError, jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { SignalError, type Scope } from '@signal/core';
import { ALL_PARTICIPANTS, channelKeyFilter, nodeKeyFilter, participantKey } from './keys.js';
import {
  decodeParticipant,
  encodeParticipant,
  type ParticipantValue,
  type StoredParticipant,
} from './participant-entry.js';
import { readLatest } from './read-latest.js';
import { isWrongLastSequence } from './wrong-last-sequence.js';

const READ_TIMEOUT_MS = 5000;
/** Marker purges the janitor keeps in flight at once. */
const PURGES_IN_FLIGHT = 64;
/** JetStream API error codes: the stream is at max_bytes; a message is over max_msg_size. */
const JS_MAX_BYTES = 10077;
const JS_VALUE_TOO_BIG = 10054;

/** A key's latest record: a participant, or the revision at which it was removed. */
export type ChannelRecord =
  | { readonly present: true; readonly participant: StoredParticipant }
  | { readonly present: false; readonly key: string; readonly revision: number };

/** Header of a delete marker written by a sweep of a dead gateway process: the sweeping node. */
export const SWEPT_BY_HEADER = 'Signal-Swept-By';

/** Revision conflicts: the entry changed since it was read (someone else swept or rewrote it). */
export class RevisionConflict extends Error {
  constructor(key: string) {
    super(`presence entry ${key} changed concurrently`);
  }
}

/** Every write and read of participant entries. */
export class PresenceStore {
  private readonly js: JetStreamClient;

  constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    readonly bucket: string,
  ) {
    this.js = jetstream(nc);
  }

  keyOf(scope: Scope, channel: string, route: string): string {
    return participantKey(scope, channel, route);
  }

  /** Writes an entry and returns its revision. */
  async put(key: string, value: ParticipantValue): Promise<number> {
    return this.guard(() => this.kv.put(key, encodeParticipant(value)));
  }

  /** Rewrites an entry only if it is still at `revision`; RevisionConflict otherwise. */
  async update(key: string, value: ParticipantValue, revision: number): Promise<number> {
    return this.guard(() => this.kv.update(key, encodeParticipant(value), revision), key);
  }

  /**
   * Deletes an entry only if it is still at `revision`, and returns the delete marker's
   * revision: the leave event carries it so every node orders it after the entry's writes.
   * A sweep names the sweeping node in `sweptBy`, kept in the delete marker's headers, so
   * whoever reads the bucket's history (the webhooks dispatcher) knows the leave was a sweep.
   */
  async remove(key: string, revision: number, sweptBy?: string): Promise<number> {
    const h = headers();
    h.set('KV-Operation', 'DEL');
    if (sweptBy !== undefined) h.set(SWEPT_BY_HEADER, sweptBy);
    return this.guard(async () => {
      const ack = await this.js.publish(`$KV.${this.bucket}.${key}`, undefined, {
        headers: h,
        expect: { lastSubjectSequence: revision },
      });
      return ack.seq;
    }, key);
  }

  /** The latest record of every key of a channel, removed ones included (with their revisions). */
  async readChannel(scope: Scope, channel: string): Promise<ChannelRecord[]> {
    return this.read(channelKeyFilter(scope, channel));
  }

  /**
   * Whether `limit` entries of a channel other than `key` were present when `key` was written
   * at `revision`: `earlier` (a read of the channel) brought forward by every write since it.
   * Revisions number every write to the bucket, so when fewer writes happened since `earlier`
   * than it had free places, the answer is no without asking; otherwise only those writes are
   * fetched, headers only, which stays cheap on a big channel.
   */
  async fullBefore(scope: Scope, channel: string, earlier: readonly ChannelRecord[], key: string, revision: number, limit: number): Promise<boolean> {
    const present = new Map<string, boolean>();
    let seen = 0;
    for (const record of earlier) {
      const recordKey = record.present ? record.participant.key : record.key;
      if (recordKey !== key) present.set(recordKey, record.present);
      seen = Math.max(seen, record.present ? record.participant.revision : record.revision);
    }
    const countPresent = () => [...present.values()].filter(Boolean).length;
    const writesSince = revision - seen - 1;
    if (countPresent() + writesSince < limit) return false;
    const since = await readLatest(this.nc, this.bucket, channelKeyFilter(scope, channel), READ_TIMEOUT_MS, {
      from: seen + 1,
      until: revision - 1,
      headersOnly: true,
    });
    for (const record of since) if (record.key !== key) present.set(record.key, !record.deleted);
    return countPresent() >= limit;
  }

  /** The participants of a channel, earliest joiner first. */
  async participants(scope: Scope, channel: string): Promise<StoredParticipant[]> {
    return present(await this.readChannel(scope, channel)).sort((a, b) => a.joinedAt - b.joinedAt || a.revision - b.revision);
  }

  /** Every entry a gateway node holds. */
  async entriesOfNode(node: string): Promise<StoredParticipant[]> {
    return present(await this.read(nodeKeyFilter(node)));
  }

  /** Every entry in the bucket, for the janitor. */
  async allEntries(): Promise<StoredParticipant[]> {
    return present(await this.read(ALL_PARTICIPANTS));
  }

  /**
   * Drops delete markers older than `olderThanMs`. They are only needed while a leave may
   * still be in flight somewhere; kept forever they would grow the bucket by one per join.
   */
  async purgeRemoved(olderThanMs: number): Promise<number> {
    const records = await readLatest(this.nc, this.bucket, ALL_PARTICIPANTS, READ_TIMEOUT_MS);
    const cutoff = Date.now() - olderThanMs;
    const due = records.filter((record) => record.deleted && record.storedAt <= cutoff);
    let purged = 0;
    // Many purges in flight, not one at a time: one request per round trip purged fewer markers
    // per pass than connection churn leaves (every leave is a marker), so they piled up without
    // bound and every join, which reads its channel's markers too, got slower (bench/memory-soak.mjs).
    for (let i = 0; i < due.length; i += PURGES_IN_FLIGHT) {
      const replies = await Promise.all(
        due.slice(i, i + PURGES_IN_FLIGHT).map((record) => {
          // Bounded by the marker's sequence: a value written to the key since stays.
          const request = { filter: `$KV.${this.bucket}.${record.key}`, seq: record.revision + 1 };
          return this.guard(() => this.nc.request(`$JS.API.STREAM.PURGE.KV_${this.bucket}`, JSON.stringify(request)));
        }),
      );
      for (const reply of replies) purged += reply.json<{ purged?: number }>().purged ?? 0;
    }
    return purged;
  }

  private async read(filter: string): Promise<ChannelRecord[]> {
    const records = await readLatest(this.nc, this.bucket, filter, READ_TIMEOUT_MS);
    const out: ChannelRecord[] = [];
    for (const record of records) {
      if (record.deleted) {
        out.push({ present: false, key: record.key, revision: record.revision });
        continue;
      }
      const value = decodeParticipant(record.value);
      if (value) out.push({ present: true, participant: { ...value, key: record.key, revision: record.revision } });
    }
    return out;
  }

  private async guard<T>(write: () => Promise<T>, key?: string): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (key !== undefined && isWrongLastSequence(error)) throw new RevisionConflict(key);
      if (error instanceof JetStreamApiError && error.code === JS_MAX_BYTES) {
        throw new SignalError('limit_exceeded', 'presence storage is full (PRESENCE_MAX_BYTES); try again later', { cause: error, data: { limit: 'PRESENCE_MAX_BYTES' } });
      }
      if (error instanceof JetStreamApiError && error.code === JS_VALUE_TOO_BIG) {
        throw new SignalError('limit_exceeded', "the entry is over the presence bucket's largest value (PRESENCE_MAX_STATE_BYTES); send a smaller state", {
          cause: error,
          field: 'state',
          data: { limit: 'PRESENCE_MAX_STATE_BYTES' },
        });
      }
      throw new SignalError('unavailable', `presence store write failed: ${(error as Error).message}; try again`, { cause: error });
    }
  }
}

function present(records: ChannelRecord[]): StoredParticipant[] {
  return records.flatMap((r) => (r.present ? [r.participant] : []));
}
