import { createInbox, errors, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { JetStreamApiError, type ApiError } from '@nats-io/jetstream';
import { SignalError, jetStreamDelivery, type JetStreamDelivery } from '@signal/core';
import { decodeParticipant } from './participant-entry.js';
import type { ChannelRecord } from './presence-store.js';

/** The latest record of one key: its value, or a delete marker. */
export interface LatestRecord {
  readonly key: string;
  readonly revision: number;
  readonly deleted: boolean;
  readonly value: Uint8Array;
  /** When the server stored it, ms since epoch (server clock). */
  readonly storedAt: number;
}

const OPERATION_HEADER = 'KV-Operation';

/**
 * Reads the latest record of every key matching `filter` in one request: an ephemeral push
 * consumer with `last_per_subject` streams them to an inbox, and the consumer-create answer
 * says how many to expect. Delete markers are returned too, with their revisions: a reader
 * that reconciles with live events needs them to know a key is gone, and since when.
 * (nats.js's own KV listing costs a stream-info round trip and leaves a consumer on the
 * server for five minutes; this one cleans up at once.) Joins do not read: they follow
 * their channel (channel-feed.ts).
 */
export async function readLatest(
  nc: NatsConnection,
  bucket: string,
  filter: string,
  timeoutMs: number,
  /** `headersOnly`: keys, revisions and operations without values, for readers that only count or purge. */
  options: { readonly headersOnly?: boolean } = {},
): Promise<LatestRecord[]> {
  const records: LatestRecord[] = [];
  await scanLatest(nc, bucket, filter, timeoutMs, (record) => records.push(record), options);
  return records;
}

/**
 * What readLatest reads, handed to `onRecord` one record at a time and kept by nobody: a reader
 * that wants a few of many keys (a node's own entries among every delete marker of the last
 * minute) holds only those. Each key comes once, as it was when the read started; a record's
 * `value` is a view of the connection's read buffer, to decode (or copy) during the call.
 */
export function scanLatest(
  nc: NatsConnection,
  bucket: string,
  filter: string,
  timeoutMs: number,
  onRecord: (record: LatestRecord) => void,
  options: { readonly headersOnly?: boolean } = {},
): Promise<void> {
  const config = { deliver_policy: 'last_per_subject', filter_subject: `$KV.${bucket}.${filter}`, ...(options.headersOnly ? { headers_only: true } : {}) };
  return readConsumer(nc, bucket, config, Number.POSITIVE_INFINITY, timeoutMs, onRecord);
}

/**
 * Up to `most` messages of the bucket in the order stored, from stream sequence `from` (the
 * first one there is if older ones are gone), headers only, each handed to `onRecord`: a page
 * of the stream. It is one pull of `most` messages from a pull consumer without acks, so a page
 * costs what it holds, whatever follows it in the stream. (A push consumer capped by
 * `max_ack_pending`, never acknowledged, did the same, but nats-server 2.9.10 kept about 115
 * bytes per message it had delivered after the consumer was deleted: 1.2 GB over a million
 * soak cycles, bench/README.md.)
 */
export function scanStoredFrom(nc: NatsConnection, bucket: string, from: number, most: number, timeoutMs: number, onRecord: (record: LatestRecord) => void): Promise<void> {
  const config = {
    deliver_policy: 'by_start_sequence',
    opt_start_seq: Math.max(1, from),
    // No filter: the bucket's stream holds its keys only, and a filter costs the server a match
    // per message it counts (for every page) and delivers.
    headers_only: true,
  };
  return readConsumer(nc, bucket, config, most, timeoutMs, onRecord, 'pull');
}

/**
 * One read through an ephemeral consumer on the bucket's stream, created with `config` and
 * deleted at the end: `num_pending` deliveries, `most` at the most, are awaited (fewer if the pending
 * count reaches zero first: a message removed before its turn is skipped, or the server says
 * a pull found no more), each handed to `onRecord`; what comes after them is not part of the read.
 * A `push` consumer delivers to an inbox as soon as it exists; a `pull` one delivers one batch
 * of `most` when asked (`CONSUMER.MSG.NEXT`, no wait).
 */
async function readConsumer(
  nc: NatsConnection,
  bucket: string,
  config: Record<string, unknown>,
  most: number,
  timeoutMs: number,
  onRecord: (record: LatestRecord) => void,
  mode: 'push' | 'pull' = 'push',
): Promise<void> {
  const stream = `KV_${bucket}`;
  const subjectPrefix = `$KV.${bucket}.`;
  const inbox = createInbox();
  let expected: number | undefined;
  let lastPending: number | undefined;
  let received = 0;
  let consumer: string | undefined;
  let failure: unknown;
  /** A pull's end: the server's status that it has no more (404, 408). */
  let ended = false;

  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  // Under constant churn the pending count may never reach zero, but the count always does.
  const complete = () => expected !== undefined && (received >= expected || lastPending === 0 || ended);
  const check = () => {
    if (complete()) finish();
  };
  const sub = nc.subscribe(inbox, {
    callback: (error, msg) => {
      if (error || complete() || failure !== undefined) return;
      if (mode === 'pull' && (msg.headers?.code ?? 0) >= 400) {
        ended = true;
        check();
        return;
      }
      const delivery = jetStreamDelivery(msg.reply);
      if (!delivery || !msg.subject.startsWith(subjectPrefix)) return;
      try {
        onRecord(recordOf(msg.subject.slice(subjectPrefix.length), msg, delivery));
      } catch (error) {
        // Raised by the reader: it ends the read, and the read rejects with it.
        failure = error;
        finish();
        return;
      }
      lastPending = delivery.pending;
      received++;
      check();
    },
  });
  const timer = setTimeout(finish, timeoutMs);
  try {
    const request = {
      stream_name: stream,
      config: {
        ...(mode === 'push' ? { deliver_subject: inbox } : {}),
        ack_policy: 'none',
        replay_policy: 'instant',
        mem_storage: true,
        num_replicas: 1,
        // Removed by the server soon even if the delete below is lost.
        inactive_threshold: 5_000_000_000,
        ...config,
      },
    };
    const reply = await nc.request(`$JS.API.CONSUMER.CREATE.${stream}`, JSON.stringify(request), { timeout: timeoutMs });
    const answer = reply.json<{ name?: string; num_pending?: number; error?: ApiError }>();
    if (answer.error || answer.name === undefined) {
      // The API error as its typed cause, so retries decide on its code (faults/transient.ts).
      const cause = answer.error ? new JetStreamApiError(answer.error) : undefined;
      throw new SignalError('unavailable', `presence store could not be read: ${answer.error?.description ?? 'no consumer'}`, { cause });
    }
    consumer = answer.name;
    expected = Math.min(answer.num_pending ?? 0, most);
    if (mode === 'pull' && expected > 0) nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, JSON.stringify({ batch: most, no_wait: true }), { reply: inbox });
    check();
    await done;
    if (failure !== undefined) throw failure;
    if (!complete()) {
      throw new SignalError('unavailable', `presence store did not answer within ${timeoutMs} ms; try again`, { cause: new errors.TimeoutError() });
    }
  } catch (error) {
    if (error instanceof SignalError || error === failure) throw error;
    throw new SignalError('unavailable', `presence store is unreachable: ${(error as Error).message}`, { cause: error });
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
    if (consumer !== undefined) {
      nc.request(`$JS.API.CONSUMER.DELETE.${stream}.${consumer}`, undefined, { timeout: timeoutMs }).catch(() => undefined);
    }
  }
}

const NO_VALUE = new Uint8Array(0);

/** A delivered message of the bucket as a record. */
export function recordOf(key: string, msg: Msg, delivery: JetStreamDelivery): LatestRecord {
  const operation = msg.headers?.get(OPERATION_HEADER);
  const deleted = operation === 'DEL' || operation === 'PURGE';
  // A marker's empty data is still a view of the read buffer it came in: not kept, so a reader
  // holding many markers does not hold every buffer they arrived in.
  return { key, revision: delivery.sequence, deleted, value: deleted ? NO_VALUE : msg.data, storedAt: delivery.storedAt };
}

/** A record as presence sees it; undefined for a value that is not a participant (a stray write must not break listing). */
export function toChannelRecord(record: LatestRecord): ChannelRecord | undefined {
  if (record.deleted) return { present: false, key: record.key, revision: record.revision };
  const value = decodeParticipant(record.value);
  if (!value) return undefined;
  // The decoded value is this record's own: completed in place, not copied (a feed decodes thousands at a time).
  const participant = Object.assign(value, { key: record.key, revision: record.revision });
  return { present: true, participant };
}

