import type { ConsumerInfo, JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { AppRegistry } from '@signal/core';
import type { MessageGuard } from '@signal/operations';
import type { Logger } from 'pino';
import { consumerName, deleteConsumer, ensureEndpointConsumer } from './endpoint-consumer.js';
import { EndpointLeases, type LeaseHolder } from './endpoint-leases.js';
import { EndpointWorker, type RetryPolicy } from './endpoint-worker.js';
import { endpointsOf, type Endpoint } from './endpoints.js';
import { EndpointSender, type SenderOptions } from './sender.js';

export interface DispatcherOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  /** The leases bucket (`<WEBHOOK_STREAM>_leases`). */
  leases: KV;
  /** WEBHOOK_LEASE_MS. */
  leaseMs: number;
  /** WEBHOOK_MAX_PENDING. */
  maxPending: number;
  sender: SenderOptions;
  retry: RetryPolicy;
  guard: MessageGuard;
  log: Logger;
}

/**
 * Keeps one durable consumer per endpoint the apps file names (created by every dispatcher, so the
 * events from then on are kept for it whichever runs), and delivers the endpoints whose lease
 * this dispatcher holds (EndpointLeases), one EndpointWorker each. After a reload, new endpoints
 * get theirs, removed ones are stopped and their consumers deleted, and changed events or secrets
 * apply to the next request.
 */
export class Dispatcher implements LeaseHolder {
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly workers = new Map<string, EndpointWorker>();
  /** Workers being stopped, so that a second stop of the same endpoint waits for the first. */
  private readonly stopping = new Map<string, Promise<void>>();
  private readonly leases: EndpointLeases;
  private reconciling: Promise<void> = Promise.resolve();

  constructor(private readonly options: DispatcherOptions) {
    this.leases = new EndpointLeases({ kv: options.leases, leaseMs: options.leaseMs, holder: this, log: options.log });
  }

  /** Applies the registry's endpoints; reloads run one after the other. The first also starts the leases. */
  apply(registry: AppRegistry): Promise<void> {
    this.reconciling = this.reconciling.then(() => this.reconcile(registry)).catch((error: unknown) => {
      this.options.log.error({ err: error }, 'applying webhook endpoints failed; they apply at the next reload');
    });
    return this.reconciling;
  }

  start(): void {
    this.leases.start();
  }

  /** Hands every endpoint over to the other dispatchers, each once its requests in flight are answered. */
  async stop(): Promise<void> {
    await this.reconciling;
    await this.leases.stop();
  }

  acquired(key: string): void {
    const { js, jsm, stream, maxPending, leaseMs, sender: senderOptions, retry, guard, log } = this.options;
    const endpoint = this.endpoints.get(key);
    if (!endpoint || this.workers.has(key)) return;
    const current = () => this.endpoints.get(key);
    const worker = new EndpointWorker({
      js,
      jsm,
      stream,
      consumer: consumerName(endpoint),
      endpoint: current,
      owns: () => this.leases.holds(key),
      sender: new EndpointSender(() => current() ?? endpoint, senderOptions, log),
      retry,
      batchMax: senderOptions.batchMax,
      maxPending,
      ackWaitMs: leaseMs,
      guard,
      log,
    });
    this.workers.set(key, worker);
    worker.start();
  }

  lost(key: string): Promise<void> {
    const worker = this.workers.get(key);
    if (worker) {
      this.workers.delete(key);
      this.stopping.set(
        key,
        worker.stop().finally(() => this.stopping.delete(key)),
      );
    }
    return this.stopping.get(key) ?? Promise.resolve();
  }

  private async reconcile(registry: AppRegistry): Promise<void> {
    const { jsm, stream, maxPending, leaseMs, log } = this.options;
    const wanted = endpointsOf(registry);
    let consumers: Promise<ConsumerInfo[]> | undefined;
    // Listed once per reload, and only when an endpoint is new (to find a previous version's consumers).
    const existing = () => (consumers ??= listConsumers(jsm, stream));
    for (const [key, endpoint] of wanted) {
      if (!this.endpoints.has(key)) {
        await ensureEndpointConsumer(jsm, stream, endpoint, { maxPending, ackWaitMs: leaseMs }, existing);
        log.info({ app: endpoint.app, env: endpoint.env, endpoint: endpoint.id, events: [...endpoint.events] }, 'webhook endpoint active');
      }
      this.endpoints.set(key, endpoint);
    }
    const removed = [...this.endpoints].filter(([key]) => !wanted.has(key));
    for (const [key] of removed) this.endpoints.delete(key);
    // Stops the removed endpoints' workers (a handover to nobody) before their consumers go.
    await this.leases.want(this.endpoints.keys());
    for (const [key, endpoint] of removed) {
      await this.lost(key);
      await deleteConsumer(jsm, stream, consumerName(endpoint));
      log.info({ app: endpoint.app, env: endpoint.env, endpoint: endpoint.id }, 'webhook endpoint removed');
    }
  }
}

async function listConsumers(jsm: JetStreamManager, stream: string): Promise<ConsumerInfo[]> {
  const out: ConsumerInfo[] = [];
  for await (const info of jsm.consumers.list(stream)) out.push(info);
  return out;
}
