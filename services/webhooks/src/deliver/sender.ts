import type { Logger } from 'pino';
import type { StoredEvent } from '../events/webhook-event.js';
import { metrics } from '../metrics/webhooks-metrics.js';
import type { Endpoint } from './endpoints.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signatures } from './signature.js';

export type SendResult = { ok: true } | { ok: false; error: string };

interface Waiting {
  events: StoredEvent[];
  resolve: (result: SendResult) => void;
}

/** At most one warning per endpoint this often; it says how many requests failed since the last. */
const WARN_EVERY_MS = 10_000;

export interface SenderOptions {
  batchMax: number;
  lingerMs: number;
  timeoutMs: number;
}

/**
 * Sends one endpoint's events, several per request: the runs of events handed in within
 * WEBHOOK_BATCH_LINGER_MS of the first (each run from another partition: a partition has one in
 * flight) go out together, up to WEBHOOK_BATCH_MAX events. A run is never split over two
 * requests, so its order holds; the request succeeds or fails as a whole.
 */
export class EndpointSender {
  private waiting: Waiting[] = [];
  private waitingEvents = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastWarnAt = -Infinity;
  private failedSince = 0;

  constructor(
    private readonly endpoint: () => Endpoint,
    private readonly options: SenderOptions,
    private readonly log: Logger,
  ) {}

  /** Sends a run of consecutive events of one partition (at most WEBHOOK_BATCH_MAX) in one request. */
  send(events: StoredEvent[]): Promise<SendResult> {
    return new Promise((resolve) => {
      if (this.waitingEvents + events.length > this.options.batchMax) this.flush();
      this.waiting.push({ events, resolve });
      this.waitingEvents += events.length;
      if (this.waitingEvents >= this.options.batchMax) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.options.lingerMs);
    });
  }

  private flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.waiting;
    this.waiting = [];
    this.waitingEvents = 0;
    if (batch.length === 0) return;
    void this.post(batch.flatMap((w) => w.events)).then((result) => {
      for (const w of batch) w.resolve(result);
    });
  }

  private async post(events: StoredEvent[]): Promise<SendResult> {
    const endpoint = this.endpoint();
    const body = JSON.stringify({ events });
    const timestamp = Math.floor(Date.now() / 1000);
    try {
      const response = await fetch(endpoint.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'signal-webhooks',
          [TIMESTAMP_HEADER]: String(timestamp),
          [SIGNATURE_HEADER]: signatures(endpoint.secrets, timestamp, body),
        },
        body,
        // A redirect is a failure: following it would send the signed events somewhere unconfigured.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      await response.body?.cancel().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) {
        metrics.requests.inc({ result: 'ok' });
        return { ok: true };
      }
      metrics.requests.inc({ result: 'status' });
      return this.failed(endpoint, `status ${response.status}`);
    } catch (error) {
      metrics.requests.inc({ result: 'error' });
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      const message = (error as Error).name === 'TimeoutError' ? `no answer within ${this.options.timeoutMs} ms` : (cause ?? (error as Error).message);
      return this.failed(endpoint, message);
    }
  }

  private failed(endpoint: Endpoint, error: string): SendResult {
    this.failedSince++;
    const now = performance.now();
    if (now - this.lastWarnAt >= WARN_EVERY_MS) {
      // The URL's host may be a secret of its own; the endpoint's id names it in logs.
      this.log.warn({ app: endpoint.app, env: endpoint.env, endpoint: endpoint.id, error, failed: this.failedSince }, 'webhook requests are failing; retrying with backoff');
      this.lastWarnAt = now;
      this.failedSince = 0;
    }
    return { ok: false, error };
  }
}
