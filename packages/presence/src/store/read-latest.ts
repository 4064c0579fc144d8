import { createInbox, type NatsConnection } from '@nats-io/transport-node';
import { SignalError, jetStreamDelivery } from '@signal/core';

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
 * server for five minutes; presence reads on every join, so this one cleans up at once.)
 */
export interface ReadWindow {
  /** Only writes from this revision on, instead of every key's latest. */
  readonly from?: number;
  /** Ignore writes after this revision. */
  readonly until?: number;
  /** Operations and revisions only: values come back empty. */
  readonly headersOnly?: boolean;
}

export async function readLatest(
  nc: NatsConnection,
  bucket: string,
  filter: string,
  timeoutMs: number,
  window: ReadWindow = {},
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
      const delivery = jetStreamDelivery(msg.reply);
      if (!delivery || !msg.subject.startsWith(subjectPrefix)) return;
      const key = msg.subject.slice(subjectPrefix.length);
      const operation = msg.headers?.get(OPERATION_HEADER);
      const previous = latest.get(key);
      const inWindow = window.until === undefined || delivery.sequence <= window.until;
      if (inWindow && (!previous || previous.revision < delivery.sequence)) {
        latest.set(key, {
          key,
          revision: delivery.sequence,
          deleted: operation === 'DEL' || operation === 'PURGE',
          value: msg.data,
          storedAt: delivery.storedAt,
        });
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
        deliver_subject: inbox,
        ...(window.from === undefined
          ? { deliver_policy: 'last_per_subject' }
          : { deliver_policy: 'by_start_sequence', opt_start_seq: Math.max(1, window.from) }),
        ...(window.headersOnly ? { headers_only: true } : {}),
        filter_subject: `${subjectPrefix}${filter}`,
        ack_policy: 'none',
        replay_policy: 'instant',
        mem_storage: true,
        num_replicas: 1,
        // Removed by the server soon even if the delete below is lost.
        inactive_threshold: 5_000_000_000,
      },
    };
    const reply = await nc.request(`$JS.API.CONSUMER.CREATE.${stream}`, JSON.stringify(request), { timeout: timeoutMs });
    const answer = reply.json<{ name?: string; num_pending?: number; error?: { description?: string } }>();
    if (answer.error || answer.name === undefined) {
      throw new SignalError('unavailable', `presence store could not be read: ${answer.error?.description ?? 'no consumer'}`);
    }
    consumer = answer.name;
    expected = answer.num_pending ?? 0;
    check();
    await done;
    if (!complete()) {
      throw new SignalError('unavailable', `presence store did not answer within ${timeoutMs} ms; try again`);
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
