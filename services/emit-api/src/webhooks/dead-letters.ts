import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { SignalError, WEBHOOK_DEAD_PREFIX as DEAD_PREFIX, WEBHOOK_EVENTS_PREFIX as EVENTS_PREFIX, WEBHOOK_HEADERS, type Scope } from '@signal/core';

/** JetStream: no message at or after that sequence; stream not found. */
const JS_NO_MESSAGE = 10037;
const JS_STREAM_NOT_FOUND = 10059;
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

interface RawMessage {
  subject: string;
  seq: number;
  hdrs?: string;
  data?: string;
  time: string;
}

/**
 * An environment's webhook dead letters in the dispatcher's dead-letter stream, read one at a
 * time with the stream's message-get (the next one at or after a sequence, on the environment's
 * subject only), so every read is bounded and no consumer is left behind. One environment's
 * reads and replays only ever match its own subject: `signal_webhooks_dead.<app>.<env>.…`.
 */
export class DeadLetters {
  private readonly stream: string;

  constructor(
    private readonly nc: NatsConnection,
    eventsStream: string,
    /** The ids of the environment's endpoints in the apps file now: a replay to one no longer there would be dropped by every dispatcher. */
    private readonly endpointsOf: (scope: Scope) => ReadonlySet<string>,
  ) {
    this.stream = `${eventsStream}_dead`;
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
    h.set('Nats-Msg-Id', `replay-${this.stream}-${stored.id}`);
    const ack = await this.request(stored.subject, stored.data, h);
    if (typeof ack.seq !== 'number') throw unavailable(`the events stream refused the replay (${ack.error?.description ?? 'no sequence'})`);
    const deleted = await this.request(`$JS.API.STREAM.MSG.DELETE.${this.stream}`, JSON.stringify({ seq: stored.id, no_erase: true }));
    if (deleted.error && deleted.error.err_code !== JS_NO_MESSAGE) throw unavailable(`dead letter ${stored.id} was replayed but not removed (${deleted.error.description}); a replay again is delivered once`);
  }

  /** The dead letter with this id if it belongs to the scope (another environment's is "not found"). */
  private async get(scope: Scope, id: number): Promise<Stored | undefined> {
    const answer = await this.request(`$JS.API.STREAM.MSG.GET.${this.stream}`, JSON.stringify({ seq: id }));
    if (answer.error) return this.absent(answer.error);
    const stored = decode(answer.message!);
    return stored && ownedBy(scope, undefined, answer.message!.subject) ? stored : undefined;
  }

  private async next(scope: Scope, endpoint: string | undefined, from: number): Promise<Stored | undefined> {
    const filter = `${DEAD_PREFIX}.${scope.app}.${scope.env}.${endpoint ?? '*'}`;
    for (let seq = from; ; ) {
      const answer = await this.request(`$JS.API.STREAM.MSG.GET.${this.stream}`, JSON.stringify({ seq, next_by_subj: filter }));
      if (answer.error) return this.absent(answer.error);
      const stored = decode(answer.message!);
      // Only a message the dispatcher wrote well is listed; one it could not have written is skipped.
      if (stored && ownedBy(scope, endpoint, answer.message!.subject)) return stored;
      seq = answer.message!.seq + 1;
    }
  }

  private absent(error: { err_code?: number; description?: string }): undefined {
    if (error.err_code === JS_NO_MESSAGE || error.err_code === JS_STREAM_NOT_FOUND) return undefined;
    throw unavailable(error.description ?? 'the dead-letter stream answered with an error');
  }

  private async request(subject: string, data: Uint8Array | string, h?: MsgHdrs): Promise<{ seq?: number; message?: RawMessage; error?: { err_code?: number; description?: string } }> {
    try {
      return (await this.nc.request(subject, data, { timeout: REQUEST_TIMEOUT_MS, ...(h ? { headers: h } : {}) })).json();
    } catch (error) {
      throw unavailable((error as Error).message);
    }
  }
}

function unavailable(why: string): SignalError {
  return new SignalError('unavailable', `webhook dead letters are unavailable: ${why}; try again`);
}

/** The subject is the scope's (and the endpoint's, if given): a dead letter never crosses environments. */
function ownedBy(scope: Scope, endpoint: string | undefined, subject: string): boolean {
  const parts = subject.split('.');
  return parts.length === 4 && parts[0] === DEAD_PREFIX && parts[1] === scope.app && parts[2] === scope.env && (endpoint === undefined || parts[3] === endpoint);
}

function decode(message: RawMessage): Stored | undefined {
  const parts = message.subject.split('.');
  const head = parseHeaders(message.hdrs);
  const subject = head.get(WEBHOOK_HEADERS.subject.toLowerCase()) ?? '';
  // The replay goes back to the partition it came from, of the same environment only.
  const target = subject.split('.');
  if (target.length !== 4 || target[0] !== EVENTS_PREFIX || target[1] !== parts[1] || target[2] !== parts[2] || !/^\d+$/.test(target[3]!)) return undefined;
  const data = Buffer.from(message.data ?? '', 'base64');
  let event: unknown;
  try {
    event = JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
  return {
    id: message.seq,
    endpoint: head.get(WEBHOOK_HEADERS.endpoint.toLowerCase()) ?? parts[3]!,
    attempts: Number(head.get(WEBHOOK_HEADERS.attempts.toLowerCase()) ?? 0),
    error: head.get(WEBHOOK_HEADERS.error.toLowerCase()) ?? '',
    deadAt: Date.parse(message.time),
    event,
    subject,
    data,
  };
}

function publicView({ id, endpoint, attempts, error, deadAt, event }: Stored): DeadLetter {
  return { id, endpoint, attempts, error, deadAt, event };
}

/** The NATS/1.0 header block of a stored message, names lower-cased. */
function parseHeaders(encoded: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!encoded) return out;
  for (const line of Buffer.from(encoded, 'base64').toString('utf8').split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) out.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return out;
}
