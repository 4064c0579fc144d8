import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { MessageGuard } from '@signal/operations';
import type { Logger } from 'pino';
import { eventSubject, type WebhookEvent } from '../events/webhook-event.js';
import { metrics } from '../metrics/webhooks-metrics.js';
import { EVENTS_PREFIX } from '../streams.js';
import type { Checkpoints } from './checkpoints.js';
import { SWEPT_BY_HEADER } from '@signal/presence';
import type { WebhookLog } from '../streams.js';
import { MemberDerivation, NodeSetDerivation, type Derivation, type LogRecord } from './derivation.js';

const PUBLISH_RETRY_MS = 500;

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
}

/** Event ids: `<kind letter><log created, base 36>-<bucket sequence>`, unique across logs and their re-creations. */
function derivationOf(log: WebhookLog, snapshot: unknown): Derivation {
  const created = Date.parse(log.info.created).toString(36);
  switch (log.kind) {
    case 'presence':
      return new MemberDerivation(`m${created}`, snapshot);
    case 'online':
      return new NodeSetDerivation('user', `u${created}`, snapshot);
    case 'occupancy':
      return new NodeSetDerivation('channel', `c${created}`, snapshot);
  }
}

/**
 * Turns one bucket's log into events in the events stream. Every dispatcher runs one per log: each
 * resumes from the newest checkpoint (a log position plus the derivation's state there) and
 * applies the same records in the same order, so each produces the same events with the same
 * ids, and the events stream keeps the first copy of each (`Nats-Msg-Id`, within
 * WEBHOOK_DEDUP_WINDOW_MS). Events are published one at a time, each stored before the next is
 * sent: a failed publish is retried before anything after it, so the stream's order is the
 * log's order, and no event is skipped (docs/webhooks.md#exactly-one-event-per-transition).
 */
export class EventProducer {
  private messages: ConsumerMessages | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;
  private last = 0;
  private derivation: Derivation | undefined;

  constructor(private readonly options: ProducerOptions) {}

  async start(): Promise<void> {
    const { js, log, checkpoints, logger } = this.options;
    const checkpoint = await checkpoints.load();
    this.last = checkpoint?.seq ?? 0;
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
    const consumer = await js.consumers.get(name, { deliver_policy: 'by_start_sequence', opt_start_seq: this.last + 1 });
    this.messages = await consumer.consume({ max_messages: 256 });
    this.running = this.run(this.messages, this.derivation);
    logger.info({ log: name, from: this.last + 1 }, 'deriving webhook events');
  }

  /** Stops reading the log and saves where it got to. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close();
    await this.running;
    if (this.derivation && this.last > 0) await this.options.checkpoints.save(this.last, this.derivation.snapshot()).catch(() => undefined);
  }

  private async run(messages: ConsumerMessages, derivation: Derivation): Promise<void> {
    const { checkpoints, checkpointMs, logger: log } = this.options;
    let savedAt = performance.now();
    for await (const msg of messages) {
      if (this.stopped) break;
      if (msg.seq <= this.last) continue;
      const event = this.apply(derivation, msg);
      if (event) await this.publish(event);
      if (this.stopped) break;
      this.last = msg.seq;
      metrics.derivationLag.set(msg.info.pending);
      if (performance.now() - savedAt >= checkpointMs) {
        savedAt = performance.now();
        await checkpoints.save(this.last, derivation.snapshot()).catch((error: unknown) => log.warn({ err: error }, 'saving a derivation checkpoint failed; will try again'));
      }
    }
  }

  private apply(derivation: Derivation, msg: JsMsg): WebhookEvent | undefined {
    let event: WebhookEvent | undefined;
    const prefix = `$KV.${this.options.log.bucket}.`;
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

  /** Stores the event, retrying until it is stored (or the process stops): nothing after it goes first. */
  private async publish(event: WebhookEvent): Promise<void> {
    const { js, partitions, logger: log } = this.options;
    const subject = eventSubject(EVENTS_PREFIX, event, partitions);
    const data = JSON.stringify(event);
    let failing = false;
    while (!this.stopped) {
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
