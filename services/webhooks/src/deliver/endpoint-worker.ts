import { setTimeout as delay } from 'node:timers/promises';
import { headers } from '@nats-io/transport-node';
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { WEBHOOK_HEADERS, WEBHOOK_DEAD_PREFIX } from '@signal/core';
import type { MessageGuard } from '@signal/operations';
import type { Logger } from 'pino';
import { storedEventSchema, type StoredEvent } from '../events/webhook-event.js';
import { metrics } from '../metrics/webhooks-metrics.js';
import type { Endpoint } from './endpoints.js';
import type { EndpointSender } from './sender.js';

const RESTART_MS = 1000;
/** How often a send waits to be sure of its lease again (after a stall), until the lease is renewed or lost. */
const FENCE_RECHECK_MS = 100;
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

export interface EndpointWorkerOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  consumer: string;
  /** The endpoint as the apps file says now; undefined once it is removed. */
  endpoint: () => Endpoint | undefined;
  /** Whether this dispatcher surely still owns the endpoint (EndpointLeases.holds): checked before every request. */
  owns: () => boolean;
  sender: EndpointSender;
  retry: RetryPolicy;
  batchMax: number;
  maxPending: number;
  /** The consumer's ack wait (WEBHOOK_LEASE_MS): held events are marked in progress four times per period. */
  ackWaitMs: number;
  guard: MessageGuard;
  log: Logger;
}

/** One partition's events of the endpoint, in stream order: those in the request being tried, then those waiting. */
interface Lane {
  readonly subject: string;
  readonly trying: Held[];
  readonly queue: JsMsg[];
  /** Set while drain() runs, cleared by it in the same turn it finds nothing to send: a message received after that starts it again. */
  busy: boolean;
  done: Promise<void>;
  failures: number;
}

interface Held {
  readonly msg: JsMsg;
  readonly event: StoredEvent;
}

/**
 * Delivers one endpoint, on the dispatcher that owns it (EndpointLeases), through the endpoint's
 * durable consumer: up to WEBHOOK_MAX_PENDING of its events unacknowledged at once, sorted into
 * lanes by partition (the subject's last token). A lane has one request in flight at a time,
 * carrying every event waiting in it (up to WEBHOOK_BATCH_MAX), in stream order, so a channel's or
 * a user's events arrive in order while a busy partition is not held to one event per round
 * trip. A failed request is tried again with backoff, with whatever has queued behind it added;
 * the events stay unacknowledged meanwhile (marked in progress), so a successor gets them after
 * this process dies. Events the endpoint does not want are acknowledged as they come.
 */
export class EndpointWorker {
  private messages: ConsumerMessages | undefined;
  private readonly lanes = new Map<string, Lane>();
  /** Every message received and not yet acknowledged, terminated or given back. */
  private readonly held = new Set<JsMsg>();
  private keepAlive: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;

  constructor(private readonly options: EndpointWorkerOptions) {}

  start(): void {
    // A timer callback must not throw: working() publishes, and throws on a closed connection
    // (the events then come back after the ack wait, as after a crash).
    this.keepAlive = setInterval(() => {
      this.options.guard.run('webhook-delivery', () => {
        for (const msg of this.held) msg.working();
      });
    }, this.options.ackWaitMs / 4);
    this.keepAlive.unref();
    this.running = this.loop();
  }

  /**
   * Stops taking events, lets requests in flight finish (acknowledged if they succeed), and gives
   * every other held event back, in stream order, for the next owner.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    await this.messages?.close();
    await this.running;
    await Promise.all([...this.lanes.values()].map((lane) => lane.done));
    clearInterval(this.keepAlive);
    this.options.guard.run('webhook-delivery', () => {
      for (const msg of [...this.held].sort((a, b) => a.seq - b.seq)) msg.nak();
    });
    this.held.clear();
  }

  private async loop(): Promise<void> {
    const { js, jsm, stream, consumer: name, ackWaitMs, maxPending, log } = this.options;
    // A previous owner's unacknowledged events come back only when their ack wait passes; taking
    // new ones before that would put later events of a partition ahead of them.
    const pending = await jsm.consumers.info(stream, name).then((info) => info.num_ack_pending, () => 0);
    if (pending > 0) {
      log.info({ consumer: name, pending, waitMs: ackWaitMs }, 'webhook endpoint taken over with events in flight; waiting for them to come back first');
      await this.sleep(ackWaitMs);
    }
    while (!this.stopped) {
      try {
        const consumer = await js.consumers.get(stream, name);
        // Pull requests that end within the ack wait: one left by a dead owner would otherwise keep
        // taking the endpoint's events (redeliveries included) into the void until it expires.
        this.messages = await consumer.consume({ max_messages: maxPending, expires: Math.max(1000, ackWaitMs) });
        // stop() came while it was being opened, and closed nothing.
        if (this.stopped) await this.messages.close();
        for await (const msg of this.messages) {
          if (this.stopped) break;
          this.receive(msg);
        }
      } catch (error) {
        if (!this.stopped) log.warn({ err: error, consumer: name }, 'webhook consumer failed; reopening it');
      }
      if (!this.stopped) await this.sleep(RESTART_MS);
    }
  }

  private receive(msg: JsMsg): void {
    this.held.add(msg);
    let lane = this.lanes.get(msg.subject);
    if (!lane) {
      lane = { subject: msg.subject, trying: [], queue: [], busy: false, done: Promise.resolve(), failures: 0 };
      this.lanes.set(msg.subject, lane);
    }
    lane.queue.push(msg);
    if (!lane.busy) {
      lane.busy = true;
      lane.done = this.drain(lane);
    }
  }

  /** Sends the lane's events until it is empty (or the worker stops); never rejects. */
  private async drain(lane: Lane): Promise<void> {
    for (;;) {
      try {
        await this.sendAll(lane);
        return;
      } catch (error) {
        this.options.guard.drop('webhook-delivery', 'failed', error);
        await this.sleep(RESTART_MS);
      }
    }
  }

  private async sendAll(lane: Lane): Promise<void> {
    for (;;) {
      const endpoint = this.options.endpoint();
      if (!this.stopped && endpoint) this.fill(lane, endpoint);
      if (this.stopped || !endpoint || lane.trying.length === 0) {
        // In the same turn as the check: a message received from now on starts a lane again. An
        // empty lane is dropped, so subjects written by anyone allowed on the stream cannot pile lanes up.
        lane.busy = false;
        if (lane.trying.length === 0 && lane.queue.length === 0) this.lanes.delete(lane.subject);
        return;
      }
      if (!this.options.owns()) {
        await this.sleep(FENCE_RECHECK_MS);
        continue;
      }
      const result = await this.options.sender.send(lane.trying.map((h) => h.event));
      if (result.ok) {
        const now = Date.now();
        for (const { msg, event } of lane.trying.splice(0)) {
          this.settle(msg).ack();
          metrics.delivered.inc({ type: event.type });
          metrics.latency.observe(Math.max(0, now - event.time) / 1000);
        }
        lane.failures = 0;
        continue;
      }
      lane.failures++;
      await this.expire(lane, endpoint, result.error);
      if (lane.trying.length === 0) continue;
      metrics.retried.inc(lane.trying.length);
      // Counted across owners too: a successor goes on with the spacing where its predecessor was.
      const retry = lane.failures + lane.trying[0]!.msg.info.deliveryCount - 1;
      await this.sleep(Math.min(backoffMs(this.options.retry, retry), Math.max(0, this.options.retry.periodMs - ageMs(lane.trying[0]!.msg))));
    }
  }

  /** Moves waiting events into the request, up to WEBHOOK_BATCH_MAX; the unwanted and the malformed are settled on the way. */
  private fill(lane: Lane, endpoint: Endpoint): void {
    while (lane.queue.length > 0 && lane.trying.length < this.options.batchMax) {
      const msg = lane.queue.shift()!;
      const event = parseEvent(msg);
      if (!event) {
        this.options.guard.drop('webhook-events', 'invalid');
        this.settle(msg).term();
        continue;
      }
      // A replayed event is for the endpoint its header names only (docs/webhooks.md#dead-letters).
      const onlyFor = msg.headers?.get(WEBHOOK_HEADERS.endpoint);
      if ((onlyFor && onlyFor !== endpoint.id) || !endpoint.events.has(event.type)) {
        this.settle(msg).ack();
        continue;
      }
      lane.trying.push({ msg, event });
    }
  }

  /** Moves the events older than WEBHOOK_RETRY_PERIOD_MS to the dead-letter stream; one that cannot be moved stays. */
  private async expire(lane: Lane, endpoint: Endpoint, error: string): Promise<void> {
    const expired = lane.trying.filter((h) => ageMs(h.msg) >= this.options.retry.periodMs);
    for (const held of expired) {
      if (await this.deadLetter(held.msg, endpoint, error, lane.failures)) lane.trying.splice(lane.trying.indexOf(held), 1);
    }
  }

  private async deadLetter(msg: JsMsg, endpoint: Endpoint, error: string, failures: number): Promise<boolean> {
    const attempts = failures + msg.info.deliveryCount - 1;
    const h = headers();
    h.set(WEBHOOK_HEADERS.endpoint, endpoint.id);
    h.set(WEBHOOK_HEADERS.subject, msg.subject);
    h.set(WEBHOOK_HEADERS.attempts, String(attempts));
    h.set(WEBHOOK_HEADERS.error, error);
    try {
      await this.options.js.publish(`${WEBHOOK_DEAD_PREFIX}.${endpoint.app}.${endpoint.env}.${endpoint.id}`, msg.data, { headers: h });
    } catch (cause) {
      this.options.log.warn({ err: cause, endpoint: endpoint.id }, 'moving an event to the dead-letter stream failed; keeping it');
      return false;
    }
    // No reason text: nats-server 2.9 ignores a +TERM that carries one, and would deliver the event again.
    this.settle(msg).term();
    metrics.deadLettered.inc();
    this.options.log.warn({ app: endpoint.app, env: endpoint.env, endpoint: endpoint.id, attempts, error }, 'webhook event dead-lettered after WEBHOOK_RETRY_PERIOD_MS');
    return true;
  }

  /** The message leaves the held set: it is about to be acknowledged or terminated. */
  private settle(msg: JsMsg): JsMsg {
    this.held.delete(msg);
    return msg;
  }

  /** Waits `ms`, or less if the worker stops. */
  private sleep(ms: number): Promise<void> {
    return delay(ms, undefined, { signal: this.stopping.signal }).catch(() => undefined);
  }
}

/** How long ago the event was stored. */
function ageMs(msg: JsMsg): number {
  return Date.now() - msg.info.timestampNanos / 1e6;
}

function parseEvent(msg: JsMsg): StoredEvent | undefined {
  try {
    const parsed = storedEventSchema.safeParse(JSON.parse(decoder.decode(msg.data)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
