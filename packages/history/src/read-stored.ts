import { createInbox, type NatsConnection } from '@nats-io/transport-node';
import { SignalError, jetStreamDelivery } from '@signal/core';

/** One stored message, as stored. */
export interface StoredMessage {
  /** Its stream sequence: the message's offset. */
  readonly seq: number;
  /** The stream subject it was stored under (a channel's, a user's or a device's). */
  readonly subject: string;
  /** When the stream stored it, ms since epoch (server clock). */
  readonly storedAt: number;
  readonly data: Uint8Array;
}

export interface ReadRange {
  /** The first stream sequence to read (the oldest stored message after it when it is gone). */
  readonly from: number;
  /** Stop after this many messages. */
  readonly limit: number;
  readonly timeoutMs: number;
}

/** What a read found: the messages (at most `limit`, in stream order), and how many were stored from `from` on in all. */
export interface StoredRead {
  readonly messages: StoredMessage[];
  readonly pending: number;
}

/**
 * Reads the stored messages of one subject from a sequence on, in order, in one request: an
 * ephemeral push consumer streams them to an inbox, and the consumer-create answer says how
 * many there are (messages stored later are not waited for: the caller gets those live). The
 * consumer is deleted at once (and expires on the server soon if that delete is lost). One
 * subject per read: several filter subjects in one consumer need NATS 2.10.
 */
export async function readStored(nc: NatsConnection, stream: string, subject: string, range: ReadRange): Promise<StoredRead> {
  const inbox = createInbox();
  const messages: StoredMessage[] = [];
  let expected: number | undefined;
  let consumer: string | undefined;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const complete = () => expected !== undefined && messages.length >= Math.min(expected, range.limit);
  const sub = nc.subscribe(inbox, {
    callback: (error, msg) => {
      if (error || complete()) return;
      const delivery = jetStreamDelivery(msg.reply);
      if (!delivery || msg.subject !== subject) return;
      messages.push({ seq: delivery.sequence, subject: msg.subject, storedAt: delivery.storedAt, data: msg.data });
      if (complete()) finish();
    },
  });
  const timer = setTimeout(finish, range.timeoutMs);
  try {
    const request = {
      stream_name: stream,
      config: {
        deliver_subject: inbox,
        deliver_policy: 'by_start_sequence',
        opt_start_seq: Math.max(1, range.from),
        filter_subject: subject,
        ack_policy: 'none',
        replay_policy: 'instant',
        mem_storage: true,
        num_replicas: 1,
        inactive_threshold: 5_000_000_000,
      },
    };
    const reply = await nc.request(`$JS.API.CONSUMER.CREATE.${stream}`, JSON.stringify(request), { timeout: range.timeoutMs });
    const answer = reply.json<{ name?: string; num_pending?: number; error?: { description?: string } }>();
    if (answer.error || answer.name === undefined) {
      throw new SignalError('unavailable', `history could not be read: ${answer.error?.description ?? 'no consumer'}; try again`);
    }
    consumer = answer.name;
    expected = answer.num_pending ?? 0;
    if (complete()) finish();
    await done;
    if (!complete()) throw new SignalError('unavailable', `history did not answer within ${range.timeoutMs} ms; try again`);
    return { messages: messages.slice(0, Math.min(expected, range.limit)), pending: expected };
  } catch (error) {
    if (error instanceof SignalError) throw error;
    throw new SignalError('unavailable', `history is unreachable: ${(error as Error).message}; try again`, { cause: error });
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
    if (consumer !== undefined) {
      nc.request(`$JS.API.CONSUMER.DELETE.${stream}.${consumer}`, undefined, { timeout: range.timeoutMs }).catch(() => undefined);
    }
  }
}
