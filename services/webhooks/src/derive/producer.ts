import { WEBHOOK_EVENTS_PREFIX } from '@signal/core';
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { MessageGuard } from '@signal/operations';
import type { Logger } from 'pino';
import { eventSubject, type WebhookEvent } from '../events/webhook-event.js';
import { metrics } from '../metrics/webhooks-metrics.js';
import type { Checkpoints } from './checkpoints.js';
import { SWEPT_BY_HEADER } from '@signal/presence';
import type { WebhookLog } from '../streams.js';
import { MemberDerivation, MessageDerivation, NodeSetDerivation, type Derivation, type LogRecord } from './derivation.js';

const PUBLISH_RETRY_MS = 500;
const RESTART_MS = 1000;
/** Events on their way to the stream at once (across partitions; one at a time within one). */
const WINDOW = 256;

export interface ProducerOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The log this producer reads. */
  log: WebhookLog;
  checkpoints: Checkpoints;
  partitions: number;
  checkpointMs: number;
  guard: MessageGuard;
  logger: Logger;
  /** Waited for before an event is stored, after the earlier events of its partition (ChannelOrder). */
  before?: (event: WebhookEvent, subject: string) => Promise<void>;
}

/**
 * Event ids: `<kind letter><log created, base 36>-<log sequence>`, unique across logs and
 * their re-creations; a presence shard's log past the first adds `_<shard>` to the log part.
 */
function derivationOf(log: WebhookLog, snapshot: unknown): Derivation {
  const created = Date.parse(log.info.created).toString(36);
  switch (log.kind) {
    case 'presence':
      return new MemberDerivation(`m${created}${log.id.slice('presence'.length)}`, snapshot);
    case 'online':
      return new NodeSetDerivation('user', `u${created}`, snapshot);
    case 'occupancy':
      return new NodeSetDerivation('channel', `c${created}`, snapshot);
    case 'messages':
      return new MessageDerivation(`k${created}`);
  }
}

/**
 * Turns one bucket's log into events in the events stream. Every dispatcher runs one per log: each
 * resumes from the newest checkpoint (a log position plus the derivation's state there) and
 * applies the same records in the same order, so each produces the same events with the same
 * ids, and the events stream keeps the first copy of each (`Nats-Msg-Id`, within
 * WEBHOOK_DEDUP_WINDOW_MS). Up to WINDOW events are on their way at once, but an event is sent
 * only once every earlier event of its partition is stored, and a failed one is retried before
 * anything after it in its partition, so each partition's order in the stream is the log's
 * order, and no event is skipped (docs/webhooks.md#exactly-one-event-per-transition).
 */
export class EventProducer {
  private messages: ConsumerMessages | undefined;
  /** Set by stop(): no more log records are read. */
  private closing = false;
  private running: Promise<void> | undefined;
  /** The last log record whose events are all stored. */
  private last = 0;
  /** The last log record applied to the derivation (its event may still be in flight). */
  private applied = 0;
  /** Per subject (partition), the last event being stored: the next one of it is sent once that is stored. */
  private readonly chains = new Map<string, Promise<void>>();
  /** Events sent or waiting for their partition, at most WINDOW. */
  private readonly inFlight = new Set<Promise<void>>();
  private derivation: Derivation | undefined;
  private savedAt = performance.now();
  /** The time of the last record applied, and how many records of the log were after it then. */
  private appliedTime = 0;
  private pending = Infinity;
  /** Called after each record applied (ChannelOrder re-checks its held events). */
  private readonly appliedListeners = new Set<() => void>();

  constructor(private readonly options: ProducerOptions) {}

  async start(): Promise<void> {
    const { log, checkpoints, logger } = this.options;
    const checkpoint = await checkpoints.load();
    this.last = checkpoint?.seq ?? 0;
    this.applied = this.last;
    this.derivation = derivationOf(log, checkpoint?.snapshot);
    const name = log.info.config.name;
    if (checkpoint !== undefined) {
      // Records after the checkpoint expired (WEBHOOK_LOG_MAX_AGE_MS) while no dispatcher ran.
      const { first_seq: first, messages } = (await this.options.jsm.streams.info(name)).state;
      if (messages > 0 && first > checkpoint.seq + 1) {
        metrics.logGaps.inc();
        logger.error({ log: name, checkpoint: checkpoint.seq, first }, 'derivation log records after the checkpoint expired; events of that span are missing');
      }
    }
    this.running = this.follow(name, this.derivation);
    logger.info({ log: name, from: this.last + 1 }, 'deriving webhook events');
  }

  /**
   * Reads the log from the record after the last one applied, for as long as the process runs:
   * when the reading ends (the ordered consumer gave up, NATS was away too long), it is opened
   * again where it stopped, so the derivation's state and position always match.
   */
  private async follow(name: string, derivation: Derivation): Promise<void> {
    const { js, logger } = this.options;
    while (!this.closing) {
      try {
        const consumer = await js.consumers.get(name, { deliver_policy: 'by_start_sequence', opt_start_seq: this.applied + 1 });
        this.messages = await consumer.consume({ max_messages: 256 });
        await this.run(this.messages, derivation);
      } catch (error) {
        if (!this.closing) logger.warn({ err: error, log: name }, 'reading the derivation log failed; reopening it');
      }
      if (!this.closing) {
        logger.warn({ log: name, from: this.applied + 1 }, 'derivation log reading ended; reopening it');
        await new Promise((resolve) => setTimeout(resolve, RESTART_MS));
      }
    }
  }

  /**
   * Stops reading the log, waits for the events of what it read to be stored (within the
   * shutdown deadline), and saves that position, so a successor starts right after it.
   */
  async stop(): Promise<void> {
    this.closing = true;
    await this.messages?.close();
    await this.running;
    await this.flush();
    if (this.derivation && this.last > 0) await this.options.checkpoints.save(this.last, this.derivation.snapshot()).catch(() => undefined);
  }

  private async run(messages: ConsumerMessages, derivation: Derivation): Promise<void> {
    const { checkpoints, checkpointMs, partitions, logger: log } = this.options;
    for await (const msg of messages) {
      if (this.closing) break;
      if (msg.seq <= this.applied) continue;
      const event = this.apply(derivation, msg);
      if (event) {
        if (this.inFlight.size >= WINDOW) await Promise.race(this.inFlight);
        this.enqueue(eventSubject(WEBHOOK_EVENTS_PREFIX, event, partitions), event);
      }
      this.applied = msg.seq;
      this.appliedTime = Math.floor(msg.info.timestampNanos / 1e6);
      this.pending = msg.info.pending;
      for (const listener of this.appliedListeners) listener();
      metrics.derivationLag.set({ log: this.options.log.id }, msg.info.pending);
      if (this.closing) break;
      if (performance.now() - this.savedAt >= checkpointMs) {
        await this.flush();
        this.savedAt = performance.now();
        await checkpoints.save(this.last, derivation.snapshot()).catch((error: unknown) => log.warn({ err: error }, 'saving a derivation checkpoint failed; will try again'));
      }
    }
  }

  /** Whether every record of the log stored at or before `time` has been applied (or, as far as known, every record). */
  appliedThrough(time: number): boolean {
    return this.appliedTime >= time || this.pending === 0;
  }

  /** Whether the derivation (a member derivation) holds a member of the channel added at or before `time`. */
  hasMemberSince(app: string, env: string, channel: string, time: number): boolean {
    return this.derivation instanceof MemberDerivation && this.derivation.hasMemberSince(app, env, channel, time);
  }

  /** Calls `listener` after every record applied until the returned function is called. */
  onApplied(listener: () => void): () => void {
    this.appliedListeners.add(listener);
    return () => void this.appliedListeners.delete(listener);
  }

  /** Resolves once every event applied so far of this subject is stored. */
  stored(subject: string): Promise<void> {
    return this.chains.get(subject) ?? Promise.resolve();
  }

  /** Stores the event once every earlier event of its subject is stored. */
  private enqueue(subject: string, event: WebhookEvent): void {
    const before = this.options.before;
    const previous = this.chains.get(subject) ?? Promise.resolve();
    const stored = (before ? previous.then(() => before(event, subject)) : previous).then(() => this.publish(subject, event));
    this.chains.set(subject, stored);
    this.inFlight.add(stored);
    void stored.finally(() => {
      this.inFlight.delete(stored);
      if (this.chains.get(subject) === stored) this.chains.delete(subject);
    });
  }

  /** Waits until every event applied so far is stored; then the position they cover is `last`. */
  private async flush(): Promise<void> {
    await Promise.all(this.inFlight);
    this.last = this.applied;
  }

  private apply(derivation: Derivation, msg: JsMsg): WebhookEvent | undefined {
    let event: WebhookEvent | undefined;
    const prefix = this.options.log.prefix;
    if (!msg.subject.startsWith(prefix)) return undefined;
    this.options.guard.run('derivation-log', () => {
      const operation = msg.headers?.get('KV-Operation');
      const record: LogRecord = {
        seq: msg.seq,
        time: Math.floor(msg.info.timestampNanos / 1e6),
        key: msg.subject.slice(prefix.length),
        removed: operation === 'DEL' || operation === 'PURGE',
        swept: (msg.headers?.get(SWEPT_BY_HEADER) ?? '') !== '',
        data: msg.data,
      };
      event = derivation.apply(record);
    });
    return event;
  }

  /**
   * Stores the event, retrying until it is stored (a shutdown that cannot wait ends the process
   * by its deadline; the next start replays from the last checkpoint): nothing after it in its
   * partition goes first.
   */
  private async publish(subject: string, event: WebhookEvent): Promise<void> {
    const { js, logger: log } = this.options;
    const data = JSON.stringify(event);
    let failing = false;
    for (;;) {
      try {
        const ack = await js.publish(subject, data, { msgID: event.id });
        if (!ack.duplicate) metrics.produced.inc({ type: event.type });
        if (failing) log.info('storing webhook events works again');
        return;
      } catch (error) {
        if (!failing) log.warn({ err: error, event: event.id }, 'storing a webhook event failed; retrying');
        failing = true;
        await new Promise((resolve) => setTimeout(resolve, PUBLISH_RETRY_MS));
      }
    }
  }
}
