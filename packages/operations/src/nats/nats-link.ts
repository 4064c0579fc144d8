import type { NatsConnection } from '@nats-io/transport-node';
import { SignalError } from '@signal/core';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { totalCounter } from '../metrics/metrics-registry.js';
import type { CheckResult } from '../readiness/readiness.js';

export interface NatsLinkOptions {
  log: Logger;
  registry: Registry;
  /** The connection closed for good without us asking (e.g. authorization revoked). */
  onLost: (error: Error | undefined) => void;
}

const links = new WeakMap<NatsConnection, NatsLink>();

/**
 * What the service knows about its NATS connection: whether it is up right now, how often it
 * dropped. nats.js reconnects and resubscribes by itself; while it is away, publishes would
 * pile up in its buffer and go out late or never, so callers refuse them instead
 * (assertNatsConnected).
 */
export class NatsLink {
  private connected = true;
  private downSince: number | undefined;
  private closing = false;
  private disconnects = 0;
  private reconnects = 0;

  static watch(nc: NatsConnection, options: NatsLinkOptions): NatsLink {
    const link = new NatsLink(nc, options);
    links.set(nc, link);
    return link;
  }

  private constructor(
    private readonly nc: NatsConnection,
    private readonly options: NatsLinkOptions,
  ) {
    const { registry } = options;
    const isConnected = () => this.isConnected;
    new Gauge({
      name: 'signal_nats_connected',
      help: '1 while the NATS connection is up, 0 while it is reconnecting',
      registers: [registry],
      collect() {
        this.set(isConnected() ? 1 : 0);
      },
    });
    totalCounter(registry, 'signal_nats_disconnects_total', 'Times the NATS connection dropped', () => this.disconnects);
    totalCounter(registry, 'signal_nats_reconnects_total', 'Times the NATS connection came back (subscriptions are restored with it)', () => this.reconnects);
    totalCounter(registry, 'signal_nats_messages_in_total', 'Messages received from NATS', () => nc.stats().inMsgs);
    totalCounter(registry, 'signal_nats_messages_out_total', 'Messages published to NATS', () => nc.stats().outMsgs);
    totalCounter(registry, 'signal_nats_bytes_in_total', 'Payload bytes received from NATS', () => nc.stats().inBytes);
    totalCounter(registry, 'signal_nats_bytes_out_total', 'Payload bytes published to NATS', () => nc.stats().outBytes);
    void this.follow();
    void nc.closed().then((error) => {
      this.connected = false;
      if (!this.closing) options.onLost(error ?? undefined);
    });
  }

  get isConnected(): boolean {
    return this.connected && !this.nc.isClosed() && !this.nc.isDraining();
  }

  /** Readiness check: not ready while NATS is away. */
  check = (): CheckResult => {
    if (this.isConnected) return { ready: true, detail: `connected to ${this.nc.getServer()}` };
    const since = this.downSince === undefined ? '' : ` for ${Math.round((Date.now() - this.downSince) / 1000)} s`;
    return { ready: false, detail: `NATS unreachable${since}; reconnecting` };
  };

  /** Throws `unavailable` (503 / JSON-RPC -32050) rather than queue a message that may go out late or never. */
  assertConnected(): void {
    if (!this.isConnected) {
      throw new SignalError('unavailable', 'the message bus (NATS) is unreachable; nothing was sent; retry in a few seconds');
    }
  }

  /** Drains when connected (pending publishes go out, subscriptions end cleanly); closes at once otherwise. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.nc.isClosed()) return;
    if (this.isConnected) await this.nc.drain();
    else await this.nc.close();
  }

  private async follow(): Promise<void> {
    const { log } = this.options;
    for await (const status of this.nc.status()) {
      switch (status.type) {
        case 'disconnect':
          if (!this.connected) break;
          this.connected = false;
          this.downSince = Date.now();
          this.disconnects++;
          log.warn({ server: status.server }, 'nats disconnected; reconnecting');
          break;
        case 'reconnect':
          this.connected = true;
          this.reconnects++;
          log.info({ server: status.server, downMs: Date.now() - (this.downSince ?? Date.now()) }, 'nats reconnected');
          this.downSince = undefined;
          break;
        case 'error':
          log.error({ err: status.error }, 'nats error');
          break;
        case 'ldm':
          log.warn({ server: status.server }, 'nats server entering lame duck mode; will move to another');
          break;
        default:
          break;
      }
    }
  }
}

/**
 * For code that publishes (hub, emit routes): refuses while the connection is known to be
 * down. A connection nobody watches is judged by what nats.js itself exposes.
 */
export function assertNatsConnected(nc: NatsConnection): void {
  const link = links.get(nc);
  if (link) return link.assertConnected();
  if (nc.isClosed() || nc.isDraining()) {
    throw new SignalError('unavailable', 'the message bus (NATS) connection is closed; nothing was sent');
  }
}
