import { createInbox, errors, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { JetStreamApiError, type ApiError } from '@nats-io/jetstream';
import { SignalError, jetStreamDelivery } from '@signal/core';
import type { ChannelFeed, FeedListener } from './presence-store.js';
import { recordOf, toChannelRecord } from './read-latest.js';

/** How long opening a feed (the consumer and the channel's current records) may take. */
const OPEN_TIMEOUT_MS = 5000;
/** The server's idle heartbeat on a quiet feed. */
const HEARTBEAT_MS = 2000;
/** Silence after which a feed is taken for broken (its consumer gone) and opened again. */
const SILENCE_MS = 3 * HEARTBEAT_MS;
const STATUS_CONTROL = 100;

/** Every open feed, checked by one shared timer rather than a timer each: a node may follow thousands of channels. */
const feeds = new Set<JetStreamChannelFeed>();
let watchdog: NodeJS.Timeout | undefined;

function track(feed: JetStreamChannelFeed): void {
  feeds.add(feed);
  watchdog ??= setInterval(() => {
    for (const each of feeds) each.check();
  }, HEARTBEAT_MS).unref();
}

function untrack(feed: JetStreamChannelFeed): void {
  feeds.delete(feed);
  if (feeds.size === 0 && watchdog) {
    clearInterval(watchdog);
    watchdog = undefined;
  }
}

/**
 * Follows the keys under `filter` with an ephemeral push consumer (`last_per_subject`, then
 * every new write), which lives as long as the feed: one consumer per followed channel and
 * node, not one per read. Lost deliveries are noticed by the consumer's own sequence (on
 * messages and on idle heartbeats), a vanished consumer by silence; either way the feed opens
 * again from every key's latest record.
 */
export function followChannel(nc: NatsConnection, bucket: string, filter: string, listener: FeedListener): ChannelFeed {
  const feed = new JetStreamChannelFeed(nc, bucket, filter, listener);
  feed.reopen();
  return feed;
}

class JetStreamChannelFeed implements ChannelFeed {
  private readonly stream: string;
  private readonly subjectPrefix: string;
  private sub: Subscription | undefined;
  private consumer: string | undefined;
  private opening: Promise<void> | undefined;
  private opened = false;
  private failed = false;
  private closed = false;
  /** Bumped by every (re)open: deliveries of an earlier consumer are ignored. */
  private generation = 0;
  /** Ends the wait of an opening that a newer one replaced. */
  private abandon: (() => void) | undefined;
  /** The consumer's sequence of the last delivery taken. */
  private delivered = 0;
  private heardAt = 0;

  constructor(
    private readonly nc: NatsConnection,
    bucket: string,
    private readonly filter: string,
    private readonly listener: FeedListener,
  ) {
    this.stream = `KV_${bucket}`;
    this.subjectPrefix = `$KV.${bucket}.`;
  }

  async ready(): Promise<void> {
    for (;;) {
      if (this.closed) throw new SignalError('unavailable', 'the presence feed of this channel was closed; try again');
      if (this.failed || !this.opening) this.reopen();
      const generation = this.generation;
      try {
        await this.opening;
      } catch (error) {
        if (generation === this.generation) throw error;
      }
      // Opened again meanwhile: wait for the newer opening.
      if (generation === this.generation && this.opened) return;
    }
  }

  reopen(): void {
    if (this.closed) return;
    this.teardown();
    const generation = ++this.generation;
    this.failed = false;
    this.opened = false;
    track(this);
    this.opening = this.open(generation).then(
      () => {
        if (generation === this.generation) this.opened = true;
      },
      (error: unknown) => {
        if (generation === this.generation) this.failed = true;
        throw error;
      },
    );
    // Whoever waits on ready() sees a failure; an unawaited open must not crash the process.
    this.opening.catch(() => undefined);
  }

  close(): void {
    this.closed = true;
    this.generation++;
    this.teardown();
    untrack(this);
  }

  /** Called by the shared timer: a silent feed is broken, a failed one is retried. */
  check(): void {
    if (this.closed) return;
    if (this.failed || (this.opened && performance.now() - this.heardAt > SILENCE_MS)) this.reopen();
  }

  private async open(generation: number): Promise<void> {
    const inbox = createInbox();
    let expected: number | undefined;
    let lastPending: number | undefined;
    let received = 0;
    let finish!: () => void;
    const snapshot = new Promise<void>((resolve) => (finish = resolve));
    this.abandon = finish;
    // The first `expected` deliveries are every key's latest record; writes made since follow.
    const check = () => {
      if (expected !== undefined && (received >= expected || lastPending === 0)) finish();
    };
    this.delivered = 0;
    this.heardAt = performance.now();
    this.sub = this.nc.subscribe(inbox, {
      callback: (error, msg) => {
        if (error || generation !== this.generation) return;
        this.heardAt = performance.now();
        if (msg.headers?.code === STATUS_CONTROL) {
          this.control(msg);
          return;
        }
        const delivery = jetStreamDelivery(msg.reply);
        if (!delivery || !msg.subject.startsWith(this.subjectPrefix)) return;
        if (delivery.delivered !== this.delivered + 1) {
          this.reopen();
          return;
        }
        this.delivered = delivery.delivered;
        const record = toChannelRecord(recordOf(msg.subject.slice(this.subjectPrefix.length), msg, delivery));
        if (record) this.listener.record(record, expected === undefined || received < expected);
        received++;
        lastPending = delivery.pending;
        check();
      },
    });
    const request = {
      stream_name: this.stream,
      config: {
        deliver_subject: inbox,
        deliver_policy: 'last_per_subject',
        filter_subject: `${this.subjectPrefix}${this.filter}`,
        ack_policy: 'none',
        replay_policy: 'instant',
        mem_storage: true,
        num_replicas: 1,
        flow_control: true,
        idle_heartbeat: HEARTBEAT_MS * 1_000_000,
      },
    };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SignalError('unavailable', `presence store did not answer within ${OPEN_TIMEOUT_MS} ms; try again`, { cause: new errors.TimeoutError() })), OPEN_TIMEOUT_MS);
    });
    try {
      const reply = await Promise.race([this.nc.request(`$JS.API.CONSUMER.CREATE.${this.stream}`, JSON.stringify(request), { timeout: OPEN_TIMEOUT_MS }), timeout]);
      const answer = reply.json<{ name?: string; num_pending?: number; error?: ApiError }>();
      if (answer.error || answer.name === undefined) {
        // The API error as its typed cause, so retries decide on its code (faults/transient.ts).
        const cause = answer.error ? new JetStreamApiError(answer.error) : undefined;
        throw new SignalError('unavailable', `presence store could not be read: ${answer.error?.description ?? 'no consumer'}; try again`, { cause });
      }
      if (generation !== this.generation) {
        this.deleteConsumer(answer.name);
        return;
      }
      this.consumer = answer.name;
      expected = answer.num_pending ?? 0;
      check();
      await Promise.race([snapshot, timeout]);
    } catch (error) {
      if (error instanceof SignalError) throw error;
      throw new SignalError('unavailable', `presence store is unreachable: ${(error as Error).message}; try again`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Flow control is answered (a reply, which the gateway's NATS permissions allow). An idle
   * heartbeat that reports more deliveries than we took means some were lost; one that says the
   * consumer stalled (a flow-control answer lost) too: either way the feed reads again.
   */
  private control(msg: Msg): void {
    if (msg.reply) {
      msg.respond();
      return;
    }
    const stalled = msg.headers?.get('Nats-Consumer-Stalled');
    const last = Number(msg.headers?.get('Nats-Last-Consumer'));
    if (this.opened && (stalled || (Number.isSafeInteger(last) && last > this.delivered))) this.reopen();
  }

  private teardown(): void {
    this.abandon?.();
    this.abandon = undefined;
    this.sub?.unsubscribe();
    this.sub = undefined;
    if (this.consumer !== undefined) this.deleteConsumer(this.consumer);
    this.consumer = undefined;
  }

  private deleteConsumer(name: string): void {
    // Removed by the server soon after its subscriber went, even if this request is lost.
    this.nc.request(`$JS.API.CONSUMER.DELETE.${this.stream}.${name}`, undefined, { timeout: OPEN_TIMEOUT_MS }).catch(() => undefined);
  }
}
