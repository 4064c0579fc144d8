import { createInbox, errors, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { JetStreamApiError, type ApiError } from '@nats-io/jetstream';
import { SignalError } from '@signal/core';
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
  const stream = `KV_${bucket}`;
  const subjectPrefix = `$KV.${bucket}.`;
  const inbox = createInbox();
  const latest = new Map<string, LatestRecord>();
  let expected: number | undefined;
  let lastPending: number | undefined;
  let received = 0;
  let consumer: string | undefined;

  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  // The first `expected` deliveries are the snapshot; writes made since follow them, so under
  // constant churn the pending count may never reach zero, but the count always does.
  const complete = () => expected !== undefined && (received >= expected || lastPending === 0);
  const check = () => {
    if (complete()) finish();
  };
  const sub = nc.subscribe(inbox, {
    callback: (error, msg) => {
      if (error) return;
      const delivery = deliveryOf(msg);
      if (!delivery || !msg.subject.startsWith(subjectPrefix)) return;
      const key = msg.subject.slice(subjectPrefix.length);
      const previous = latest.get(key);
      if (!previous || previous.revision < delivery.sequence) latest.set(key, recordOf(key, msg, delivery));
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
        deliver_subject: inbox,
        deliver_policy: 'last_per_subject',
        filter_subject: `${subjectPrefix}${filter}`,
        ack_policy: 'none',
        replay_policy: 'instant',
        mem_storage: true,
        num_replicas: 1,
        // Removed by the server soon even if the delete below is lost.
        inactive_threshold: 5_000_000_000,
        ...(options.headersOnly ? { headers_only: true } : {}),
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
    expected = answer.num_pending ?? 0;
    check();
    await done;
    if (!complete()) {
      throw new SignalError('unavailable', `presence store did not answer within ${timeoutMs} ms; try again`, { cause: new errors.TimeoutError() });
    }
    return [...latest.values()];
  } catch (error) {
    if (error instanceof SignalError) throw error;
    throw new SignalError('unavailable', `presence store is unreachable: ${(error as Error).message}`, { cause: error });
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
    if (consumer !== undefined) {
      nc.request(`$JS.API.CONSUMER.DELETE.${stream}.${consumer}`, undefined, { timeout: timeoutMs }).catch(() => undefined);
    }
  }
}

/** What a JetStream delivery's reply subject says about it. */
export interface Delivery {
  /** Stream sequence: the record's revision. */
  readonly sequence: number;
  /** The consumer's own count of deliveries: a gap in it means a message was lost. */
  readonly delivered: number;
  readonly pending: number;
  readonly storedAt: number;
}

/** A delivered message of the bucket as a record. */
export function recordOf(key: string, msg: Msg, delivery: Delivery): LatestRecord {
  const operation = msg.headers?.get(OPERATION_HEADER);
  return { key, revision: delivery.sequence, deleted: operation === 'DEL' || operation === 'PURGE', value: msg.data, storedAt: delivery.storedAt };
}

/** A record as presence sees it; undefined for a value that is not a participant (a stray write must not break listing). */
export function toChannelRecord(record: LatestRecord): ChannelRecord | undefined {
  if (record.deleted) return { present: false, key: record.key, revision: record.revision };
  const value = decodeParticipant(record.value);
  return value ? { present: true, participant: { ...value, key: record.key, revision: record.revision } } : undefined;
}

/**
 * Sequences, timestamp and pending count from a JetStream delivery's reply subject, in both the
 * old (`$JS.ACK.<stream>.<consumer>.<n>.<sseq>.<dseq>.<ts>.<pending>`) and the newer form
 * that adds domain and account hash after `ACK`.
 */
export function deliveryOf(msg: Msg): Delivery | undefined {
  const tokens = msg.reply?.split('.');
  if (!tokens || tokens[0] !== '$JS' || tokens[1] !== 'ACK') return undefined;
  const offset = tokens.length === 9 ? 0 : tokens.length >= 11 ? 2 : -1;
  if (offset < 0) return undefined;
  const sequence = Number(tokens[5 + offset]);
  const delivered = Number(tokens[6 + offset]);
  const pending = Number(tokens[8 + offset]);
  const storedAt = Math.floor(Number(tokens[7 + offset]) / 1e6);
  return Number.isSafeInteger(sequence) && Number.isSafeInteger(delivered) && Number.isSafeInteger(pending)
    ? { sequence, delivered, pending, storedAt }
    : undefined;
}
