import type { NatsConnection } from '@nats-io/transport-node';
import { headers } from '@nats-io/transport-node';
import { JetStreamApiError, jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { SignalError, type Scope } from '@signal/core';
import { ALL_PARTICIPANTS, channelKeyFilter, nodeKeyFilter, participantKey } from './keys.js';
import { encodeParticipant, type ParticipantValue, type StoredParticipant } from './participant-entry.js';
import { followChannel } from './channel-feed.js';
import { RevisionConflict, SWEPT_BY_HEADER, byJoinOrder, type ChannelFeed, type ChannelRecord, type FeedListener, type PresenceStore } from './presence-store.js';
import { readLatest, scanLatest, toChannelRecord } from './read-latest.js';
import { MarkerPurge } from '../kv/marker-purge.js';
import { isWrongLastSequence } from './wrong-last-sequence.js';
import type { PresenceShard } from './buckets.js';
import { ShardedPresenceStore } from './sharded-store.js';
import { DEFAULT_RETRY_DELAYS, retryTransient, type RetryObserver, type RetryPolicy } from '../faults/transient.js';

const READ_TIMEOUT_MS = 5000;
/** JetStream API error codes: the stream is at max_bytes; a message is over max_msg_size. */
const JS_MAX_BYTES = 10077;
const JS_VALUE_TOO_BIG = 10054;

/** The presence store on a JetStream KV bucket: what the services run on. */
export class JetStreamPresenceStore implements PresenceStore {
  private readonly js: JetStreamClient;
  private readonly retry: RetryPolicy;
  private readonly markers: MarkerPurge;

  /**
   * `retryDeadlineMs`: how long each operation retries transient JetStream errors
   * (PRESENCE_RETRY_DEADLINE_MS); `onRetry` is told of each retry, for metrics.
   */
  constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    readonly bucket: string,
    retryDeadlineMs = 0,
    private readonly onRetry?: RetryObserver,
  ) {
    this.js = jetstream(nc);
    this.retry = { deadlineMs: retryDeadlineMs, ...DEFAULT_RETRY_DELAYS };
    this.markers = new MarkerPurge(nc, bucket, retryDeadlineMs, onRetry);
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
    const data = encodeParticipant(value);
    return this.guard(() => this.kv.update(key, data, revision), key, async () => {
      const latest = await this.kv.get(key);
      return latest?.operation === 'PUT' && sameBytes(latest.value, data) ? latest.revision : undefined;
    });
  }

  /**
   * Deletes an entry only if it is still at `revision`, and returns the delete marker's
   * revision: the leave event carries it so every node orders it after the entry's writes.
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
    }, key, async () => {
      const latest = await this.kv.get(key);
      return latest && latest.operation !== 'PUT' && latest.revision > revision ? latest.revision : undefined;
    });
  }

  /** The latest record of every key of a channel, removed ones included (with their revisions). */
  async readChannel(scope: Scope, channel: string): Promise<ChannelRecord[]> {
    return this.read(channelKeyFilter(scope, channel));
  }

  /**
   * Follows a channel: an ephemeral push consumer on the channel's keys delivers every key's
   * latest record, then every write as it is stored, until `close`.
   */
  follow(scope: Scope, channel: string, listener: FeedListener): ChannelFeed {
    const feed = followChannel(this.nc, this.bucket, channelKeyFilter(scope, channel), listener);
    // A failed opening is opened again by the next ready(): retrying it rides out an election.
    return { ready: () => this.retrying(() => feed.ready()), reopen: () => feed.reopen(), close: () => feed.close() };
  }

  /** The participants of a channel, earliest joiner first. */
  async participants(scope: Scope, channel: string): Promise<StoredParticipant[]> {
    return (await this.readPresent(channelKeyFilter(scope, channel))).sort(byJoinOrder);
  }

  /** Every entry a gateway node holds. */
  async entriesOfNode(node: string): Promise<StoredParticipant[]> {
    return this.readPresent(nodeKeyFilter(node));
  }

  /** Every entry in the bucket, for the janitor. */
  async allEntries(): Promise<StoredParticipant[]> {
    return this.readPresent(ALL_PARTICIPANTS);
  }

  /**
   * Drops delete markers older than `olderThanMs`. They are only needed while a leave may
   * still be in flight somewhere; kept forever they would grow the bucket by one per join.
   */
  purgeRemoved(olderThanMs: number): Promise<number> {
    return this.markers.purge(olderThanMs);
  }

  private async read(filter: string): Promise<ChannelRecord[]> {
    return (await this.retrying(() => readLatest(this.nc, this.bucket, filter, READ_TIMEOUT_MS))).flatMap((record) => toChannelRecord(record) ?? []);
  }

  /** The present entries under `filter`; delete markers are passed over, not kept (see scanLatest). */
  private readPresent(filter: string): Promise<StoredParticipant[]> {
    return this.retrying(async () => {
      const present: StoredParticipant[] = [];
      await scanLatest(this.nc, this.bucket, filter, READ_TIMEOUT_MS, (record) => {
        const entry = record.deleted ? undefined : toChannelRecord(record);
        if (entry?.present) present.push(entry.participant);
      });
      return present;
    });
  }

  private retrying<T>(operation: () => Promise<T>): Promise<T> {
    return retryTransient(operation, this.retry, this.onRetry);
  }

  /**
   * Runs a write with retries of transient errors and turns JetStream's refusals into ours.
   * A compare-and-set write retried after a transient failure may find its own earlier attempt
   * landed (the answer was lost, not the write): `recover` then tells, from the key's latest
   * record, the revision that attempt got, and the write counts as done instead of conflicting.
   */
  private async guard<T>(write: () => Promise<T>, key?: string, recover?: () => Promise<T | undefined>): Promise<T> {
    let retried = false;
    try {
      return await retryTransient(write, this.retry, (error, attempt) => {
        retried = true;
        this.onRetry?.(error, attempt);
      });
    } catch (error) {
      if (key !== undefined && isWrongLastSequence(error)) {
        const recovered = retried && recover ? await recover().catch(() => undefined) : undefined;
        if (recovered !== undefined) return recovered;
        throw new RevisionConflict(key);
      }
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

/**
 * The store on the presence buckets: one JetStreamPresenceStore per shard, behind a
 * ShardedPresenceStore when there are several (PRESENCE_SHARDS).
 */
export function jetStreamPresenceStore(nc: NatsConnection, shards: readonly PresenceShard[], retryDeadlineMs = 0, onRetry?: RetryObserver): PresenceStore {
  const stores = shards.map((shard) => new JetStreamPresenceStore(nc, shard.kv, shard.bucket, retryDeadlineMs, onRetry));
  return stores.length === 1 ? stores[0]! : new ShardedPresenceStore(stores);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
