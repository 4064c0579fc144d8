import { headers } from '@nats-io/transport-node';
import type { ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { WEBHOOK_HEADERS, WEBHOOK_DEAD_PREFIX } from '@signal/core';
import type { MessageGuard } from '@signal/operations';
import type { Logger } from 'pino';
import { storedEventSchema, type StoredEvent } from '../events/webhook-event.js';
import { metrics } from '../metrics/webhooks-metrics.js';
import type { Endpoint } from './endpoints.js';
import type { EndpointSender } from './sender.js';

const RESTART_MS = 1000;
const decoder = new TextDecoder();

export interface RetryPolicy {
  minMs: number;
  maxMs: number;
  periodMs: number;
}

/** Wait before the n-th retry (n from 1): doubling from minMs, capped at maxMs. */
export function backoffMs(policy: RetryPolicy, retry: number): number {
  return Math.min(policy.maxMs, policy.minMs * 2 ** Math.min(retry - 1, 30));
}

/**
 * Delivers one partition of one environment to one endpoint, through that pair's durable
 * consumer. The consumer lets one message be unacknowledged at a time (max_ack_pending 1) for
 * every dispatcher together, so a partition's events reach the endpoint one after the other in
 * stream order, retries included (a nak keeps the event pending): that is the per-channel and
 * per-user order. A dispatcher that dies mid-delivery leaves the event unacknowledged, and the
 * server hands it to another after ack_wait.
 */
export class PartitionWorker {
  private messages: ConsumerMessages | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly js: JetStreamClient,
    private readonly stream: string,
    private readonly consumer: string,
    private readonly endpoint: () => Endpoint | undefined,
    private readonly sender: EndpointSender,
    private readonly retry: RetryPolicy,
    private readonly guard: MessageGuard,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close();
    await this.running;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        const consumer = await this.js.consumers.get(this.stream, this.consumer);
        this.messages = await consumer.consume({ max_messages: 1 });
        for await (const msg of this.messages) {
          await this.handle(msg).catch((error: unknown) => {
            this.guard.drop('webhook-delivery', 'failed', error);
            msg.nak(this.retry.minMs);
          });
          if (this.stopped) break;
        }
      } catch (error) {
        if (!this.stopped) this.log.warn({ err: error, consumer: this.consumer }, 'webhook consumer failed; reopening it');
      }
      if (!this.stopped) await new Promise((resolve) => setTimeout(resolve, RESTART_MS));
    }
  }

  private async handle(msg: JsMsg): Promise<void> {
    const endpoint = this.endpoint();
    if (!endpoint) {
      msg.nak();
      return;
    }
    const event = parseEvent(msg);
    if (!event) {
      this.guard.drop('webhook-events', 'invalid');
      msg.term();
      return;
    }
    // A replayed event is for the endpoint its header names only (docs/webhooks.md#dead-letters).
    const onlyFor = msg.headers?.get(WEBHOOK_HEADERS.endpoint);
    if ((onlyFor && onlyFor !== endpoint.id) || !endpoint.events.has(event.type)) {
      msg.ack();
      return;
    }
    const result = await this.sender.send(event);
    if (result.ok) {
      msg.ack();
      metrics.delivered.inc({ type: event.type });
      metrics.latency.observe(Math.max(0, Date.now() - event.time) / 1000);
      return;
    }
    const age = Date.now() - msg.info.timestampNanos / 1e6;
    if (age >= this.retry.periodMs) {
      await this.deadLetter(msg, endpoint, result.error);
      return;
    }
    metrics.retried.inc();
    // Whole milliseconds: the server ignores a nak whose delay is not a whole number of nanoseconds.
    msg.nak(Math.ceil(Math.min(backoffMs(this.retry, msg.info.deliveryCount), Math.max(0, this.retry.periodMs - age))));
  }

  /** Moves the event to the dead-letter stream; if that fails it stays here and is tried again. */
  private async deadLetter(msg: JsMsg, endpoint: Endpoint, error: string): Promise<void> {
    const h = headers();
    h.set(WEBHOOK_HEADERS.endpoint, endpoint.id);
    h.set(WEBHOOK_HEADERS.subject, msg.subject);
    h.set(WEBHOOK_HEADERS.attempts, String(msg.info.deliveryCount));
    h.set(WEBHOOK_HEADERS.error, error);
    try {
      await this.js.publish(`${WEBHOOK_DEAD_PREFIX}.${endpoint.app}.${endpoint.env}.${endpoint.id}`, msg.data, { headers: h });
    } catch (cause) {
      this.log.warn({ err: cause, endpoint: endpoint.id }, 'moving an event to the dead-letter stream failed; keeping it');
      msg.nak(this.retry.minMs);
      return;
    }
    // No reason text: nats-server 2.9 ignores a +TERM that carries one, and would deliver the event again.
    msg.term();
    metrics.deadLettered.inc();
    this.log.warn({ app: endpoint.app, env: endpoint.env, endpoint: endpoint.id, attempts: msg.info.deliveryCount, error }, 'webhook event dead-lettered after WEBHOOK_RETRY_PERIOD_MS');
  }
}

function parseEvent(msg: JsMsg): StoredEvent | undefined {
  try {
    const parsed = storedEventSchema.safeParse(JSON.parse(decoder.decode(msg.data)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
