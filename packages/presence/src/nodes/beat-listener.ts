import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { EntryGuard } from './liveness-watch.js';

/**
 * The plain-NATS subject a gateway beats on: `_signal.beat.<bucket>.<node>`. Per bucket, so
 * two deployments sharing NATS with different PRESENCE_BUCKETs never judge each other.
 */
export function beatSubject(bucket: string, node: string): string {
  return `_signal.beat.${bucket}.${node}`;
}

const SOURCE = 'heartbeat';
/** Node ids are 4-32 of a-z and 0-9 (NODE_ID); anything else on the subject is dropped. */
const NODE_ID = /^[a-z0-9]{4,32}$/;
/** Beats of nodes unheard for this many timeouts are forgotten, so the map cannot grow without bound. */
const FORGET_AFTER_TIMEOUTS = 20;

/**
 * When this process last heard each gateway's plain-NATS beat, on its own monotonic clock.
 * Beats are cheap core-NATS messages sent by each gateway's beat worker thread, so they keep
 * coming while a gateway's main thread is busy, and stop the instant its process dies.
 * A node never heard counts as silent since this listener started (or was last forgiven).
 */
export class BeatListener {
  private readonly heard = new Map<string, number>();
  private subscription: Subscription | undefined;
  private floor: number;

  constructor(
    private readonly nc: NatsConnection,
    private readonly bucket: string,
    guard: EntryGuard,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.floor = now();
    this.handle = guard.wrap(SOURCE, (subject: string) => this.apply(subject));
  }

  private readonly handle: (subject: string) => void;

  start(): void {
    this.floor = this.now();
    this.subscription = this.nc.subscribe(beatSubject(this.bucket, '*'), { callback: (_error, msg) => this.handle(msg.subject) });
  }

  stop(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
  }

  /** How long `node` has not been heard (0 while forgiven). */
  silentFor(node: string): number {
    return Math.max(0, this.now() - Math.max(this.heard.get(node) ?? 0, this.floor));
  }

  /**
   * After a gap in what this process could hear (its own NATS outage, its own stall), nobody is
   * judged on it. `graceMs` forgives for that much longer: after a NATS node died, the other
   * gateways connected to it reconnect at their own pace (a busy process notices the dead socket
   * later), and their beats stop meanwhile.
   */
  forgiveAll(graceMs = 0): void {
    this.floor = this.now() + graceMs;
  }

  /** Drops nodes silent for much longer than any timeout (their records are long swept). */
  prune(timeoutMs: number): void {
    const cutoff = this.now() - timeoutMs * FORGET_AFTER_TIMEOUTS;
    for (const [node, at] of this.heard) if (at < cutoff) this.heard.delete(node);
  }

  private apply(subject: string): void {
    const node = subject.slice(subject.lastIndexOf('.') + 1);
    if (!NODE_ID.test(node)) return;
    this.heard.set(node, this.now());
  }
}
