import { JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { SignalError, WEBHOOK_DEAD_PREFIX as DEAD_PREFIX, WEBHOOK_EVENTS_PREFIX as EVENTS_PREFIX, WEBHOOK_HEADERS, type Scope } from '@signal/core';

const REQUEST_TIMEOUT_MS = 5000;

export interface DeadLetter {
  /** Its sequence in the dead-letter stream: what a replay names, and the cursor of the next page. */
  id: number;
  endpoint: string;
  attempts: number;
  error: string;
  /** When it was dead-lettered, ms since the epoch. */
  deadAt: number;
  event: unknown;
}

/** A stored dead letter with where its replay goes. */
interface Stored extends DeadLetter {
  /** The events subject it came from (`signal_webhooks.<app>.<env>.<partition>`). */
  subject: string;
  data: Uint8Array;
}

/**
 * An environment's webhook dead letters in the dispatcher's dead-letter stream, read one at a
 * time with the stream's message-get (the next one at or after a sequence, on the environment's
 * subject only), so every read is bounded and no consumer is left behind. One environment's
 * reads and replays only ever match its own subject: `signal_webhooks_dead.<app>.<env>.…`.
 */
export class DeadLetters {
  private readonly stream: string;

  private constructor(
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    eventsStream: string,
    /** The ids of the environment's endpoints in the apps file now: a replay to one no longer there would be dropped by every dispatcher. */
    private readonly endpointsOf: (scope: Scope) => ReadonlySet<string>,
  ) {
    this.stream = `${eventsStream}_dead`;
  }

  static async open(nc: NatsConnection, eventsStream: string, endpointsOf: (scope: Scope) => ReadonlySet<string>): Promise<DeadLetters> {
    // No API check at start: the dispatcher creates the streams, and a read before it did is "none yet".
    const jsm = await jetstreamManager(nc, { timeout: REQUEST_TIMEOUT_MS, checkAPI: false });
    return new DeadLetters(jsm, jetstream(nc, { timeout: REQUEST_TIMEOUT_MS }), eventsStream, endpointsOf);
  }

  /** Up to `limit` dead letters of the scope (of one endpoint, if given) after `after`, oldest first. */
  async list(scope: Scope, endpoint: string | undefined, after: number, limit: number): Promise<DeadLetter[]> {
    const out: DeadLetter[] = [];
    let from = after + 1;
    while (out.length < limit) {
      const next = await this.next(scope, endpoint, from);
      if (!next) break;
      out.push(publicView(next));
      from = next.id + 1;
    }
    return out;
  }

  /**
   * Replays dead letters: each is stored in the events stream again, on its partition, for its
   * endpoint only, then removed from the dead letters, one after the other in the order given
   * (ascending ids keep each channel's and user's order). Its `Nats-Msg-Id` names the dead letter,
   * so replaying one twice (a retry after an answer was lost) stores it once.
   */
  async replay(scope: Scope, ids: readonly number[]): Promise<{ replayed: number[]; notFound: number[]; endpointGone: number[] }> {
    const replayed: number[] = [];
    const notFound: number[] = [];
    const endpointGone: number[] = [];
    const endpoints = this.endpointsOf(scope);
    for (const id of [...new Set(ids)].sort((a, b) => a - b)) {
      const stored = await this.get(scope, id);
      if (!stored) notFound.push(id);
      else if (!endpoints.has(stored.endpoint)) endpointGone.push(id);
      else {
        await this.replayOne(stored);
        replayed.push(id);
      }
    }
    return { replayed, notFound, endpointGone };
  }

  /** Replays the scope's (or one endpoint's) dead letters from the oldest, at most `max`; `more` when some remain. */
  async replayAll(scope: Scope, endpoint: string | undefined, max: number): Promise<{ replayed: number[]; endpointGone: number[]; more: boolean }> {
    const replayed: number[] = [];
    const endpointGone: number[] = [];
    const endpoints = this.endpointsOf(scope);
    let from = 1;
    for (;;) {
      const next = await this.next(scope, endpoint, from);
      if (!next) return { replayed, endpointGone, more: false };
      if (replayed.length + endpointGone.length >= max) return { replayed, endpointGone, more: true };
      if (endpoints.has(next.endpoint)) {
        await this.replayOne(next);
        replayed.push(next.id);
      } else endpointGone.push(next.id);
      from = next.id + 1;
    }
  }

  private async replayOne(stored: Stored): Promise<void> {
    const h = natsHeaders();
    h.set(WEBHOOK_HEADERS.endpoint, stored.endpoint);
    await nats(() => this.js.publish(stored.subject, stored.data, { headers: h, msgID: `replay-${this.stream}-${stored.id}` }), 'the events stream refused the replay');
    await nats(() => this.jsm.streams.deleteMessage(this.stream, stored.id, false), `dead letter ${stored.id} was replayed but not removed`).catch((error: unknown) => {
      // Gone already (removed by a replay meanwhile): what was asked is done.
      if (!(error instanceof SignalError && error.cause instanceof JetStreamApiError && error.cause.code === JetStreamApiCodes.NoMessageFound)) throw error;
    });
  }

  /** The dead letter with this id if it belongs to the scope (another environment's is "not found"). */
  private async get(scope: Scope, id: number): Promise<Stored | undefined> {
    const message = await this.read({ seq: id });
    const stored = message && decode(message);
    return stored && ownedBy(scope, undefined, message.subject) ? stored : undefined;
  }

  private async next(scope: Scope, endpoint: string | undefined, from: number): Promise<Stored | undefined> {
    const filter = `${DEAD_PREFIX}.${scope.app}.${scope.env}.${endpoint ?? '*'}`;
    for (let seq = from; ; ) {
      const message = await this.read({ seq, next_by_subj: filter });
      if (!message) return undefined;
      const stored = decode(message);
      // Only a message the dispatcher wrote well is listed; one it could not have written is skipped.
      if (stored && ownedBy(scope, endpoint, message.subject)) return stored;
      seq = message.seq + 1;
    }
  }

  /** A message of the dead-letter stream; none when there is none there, or no stream yet (no dead letter ever). */
  private read(query: { seq: number; next_by_subj?: string }): Promise<StoredMsg | undefined> {
    return nats(async () => (await this.jsm.streams.getMessage(this.stream, query)) ?? undefined, 'the dead-letter stream could not be read').catch((error: unknown) => {
      if (error instanceof SignalError && error.cause instanceof JetStreamApiError && error.cause.code === JetStreamApiCodes.StreamNotFound) return undefined;
      throw error;
    });
  }
}

/** A JetStream call whose failure (typed cause kept, for callers that branch on its code) is `unavailable`. */
async function nats<T>(call: () => Promise<T>, what: string): Promise<T> {
  try {
    return await call();
  } catch (cause) {
    throw new SignalError('unavailable', `webhook dead letters are unavailable: ${what} (${(cause as Error).message}); try again`, { cause });
  }
}

/** The subject is the scope's (and the endpoint's, if given): a dead letter never crosses environments. */
function ownedBy(scope: Scope, endpoint: string | undefined, subject: string): boolean {
  const parts = subject.split('.');
  return parts.length === 4 && parts[0] === DEAD_PREFIX && parts[1] === scope.app && parts[2] === scope.env && (endpoint === undefined || parts[3] === endpoint);
}

function decode(message: StoredMsg): Stored | undefined {
  const parts = message.subject.split('.');
  const subject = message.header.get(WEBHOOK_HEADERS.subject) ?? '';
  // The replay goes back to the partition it came from, of the same environment only.
  const target = subject.split('.');
  if (target.length !== 4 || target[0] !== EVENTS_PREFIX || target[1] !== parts[1] || target[2] !== parts[2] || !/^\d+$/.test(target[3]!)) return undefined;
  let event: unknown;
  try {
    event = JSON.parse(new TextDecoder().decode(message.data));
  } catch {
    return undefined;
  }
  return {
    id: message.seq,
    endpoint: message.header.get(WEBHOOK_HEADERS.endpoint) || parts[3]!,
    attempts: Number(message.header.get(WEBHOOK_HEADERS.attempts) || 0),
    error: message.header.get(WEBHOOK_HEADERS.error) ?? '',
    deadAt: message.time.getTime(),
    event,
    subject,
    data: message.data,
  };
}

function publicView({ id, endpoint, attempts, error, deadAt, event }: Stored): DeadLetter {
  return { id, endpoint, attempts, error, deadAt, event };
}
