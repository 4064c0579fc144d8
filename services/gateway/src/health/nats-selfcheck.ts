import { randomBytes } from 'node:crypto';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { selfCheckSubject } from '@signal/core';
import type { LivenessResult, MessageGuard } from '@signal/operations';

export interface NatsSelfCheckOptions {
  nc: NatsConnection;
  node: string;
  /** Whether the client believes it is connected (NatsLink). */
  isConnected: () => boolean;
  guard: MessageGuard;
  intervalMs: number;
  stallTimeoutMs: number;
}

/**
 * Proves end to end that this gateway still receives from NATS: every `intervalMs` it
 * publishes a small message to a subject of its own and expects it back. If nothing has come
 * back for `stallTimeoutMs` while the client says it is connected, the input is stalled (a
 * read loop that stopped, a link that delivers nothing, a subscription the server lost) and
 * only a restart helps: liveness fails. While the client knows it is disconnected, the clock
 * does not run: that is an outage, readiness reports it, and a restart would not help.
 */
export class NatsSelfCheck {
  private readonly subject: string;
  /** Only our own messages count: another process started with the same NODE_ID shares the subject. */
  private readonly token = randomBytes(8).toString('hex');
  private readonly payload: Uint8Array;
  private subscription: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** When the input last proved to work, or the client last knew it was disconnected. */
  private lastProof = performance.now();
  /** Why the server ended our subscription (e.g. a permissions violation), shown in /healthz. */
  private refused: string | undefined;

  constructor(private readonly options: NatsSelfCheckOptions) {
    this.subject = selfCheckSubject(options.node);
    this.payload = new TextEncoder().encode(this.token);
  }

  start(): void {
    const { nc, guard, intervalMs } = this.options;
    this.subscription = nc.subscribe(this.subject, {
      callback: guard.wrap('selfcheck', (error: Error | null, msg: Msg) => {
        if (error) this.refused = error.message;
        else this.received(msg);
      }),
    });
    this.timer = setInterval(guard.wrap('selfcheck', () => this.tick()), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.subscription?.unsubscribe();
  }

  /** For /healthz. */
  check = (): LivenessResult => {
    if (!this.options.isConnected()) return { alive: true, detail: 'NATS disconnected: an outage, reported by /readyz, not a stall' };
    const silentMs = Math.round(performance.now() - this.lastProof);
    if (silentMs <= this.options.stallTimeoutMs) return { alive: true };
    return {
      alive: false,
      detail:
        `NATS input stalled: no self-check message came back for ${silentMs} ms while connected (NATS_STALL_TIMEOUT_MS=${this.options.stallTimeoutMs})` +
        (this.refused === undefined ? '' : `; the server refused the self-check subscription (${this.refused}): allow the gateway to publish and subscribe to ${this.subject}`),
    };
  };

  private tick(): void {
    if (!this.options.isConnected()) {
      this.lastProof = performance.now();
      return;
    }
    this.options.nc.publish(this.subject, this.payload);
  }

  private received(msg: Msg): void {
    if (msg.string() === this.token) this.lastProof = performance.now();
  }
}
