import { WEBHOOK_EVENTS_PREFIX } from '@signal/core';
import { JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { AppRegistry } from '@signal/core';
import type { MessageGuard } from '@signal/operations';
import type { Logger } from 'pino';
import { endpointsOf, type Endpoint } from './endpoints.js';
import { PartitionWorker, type RetryPolicy } from './partition-worker.js';
import { EndpointSender, type SenderOptions } from './sender.js';

/** JetStream: consumer not found. */
const JS_CONSUMER_NOT_FOUND = 10014;
const NS = 1_000_000;

export interface DispatcherOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  partitions: number;
  sender: SenderOptions;
  retry: RetryPolicy;
  guard: MessageGuard;
  log: Logger;
}

interface Running {
  endpoint: Endpoint;
  workers: PartitionWorker[];
}

/**
 * Keeps one durable consumer and one worker per endpoint and partition, as the apps file says:
 * at start and after every reload, new endpoints get theirs (from the events produced from then
 * on), removed ones lose theirs, and changed events or secrets apply to the next request.
 * Every dispatcher does the same, and the server shares each consumer's messages among them.
 */
export class Dispatcher {
  private readonly running = new Map<string, Running>();
  private reconciling: Promise<void> = Promise.resolve();

  constructor(private readonly options: DispatcherOptions) {}

  /** Applies the registry's endpoints; reloads run one after the other. */
  apply(registry: AppRegistry): Promise<void> {
    this.reconciling = this.reconciling.then(() => this.reconcile(registry)).catch((error: unknown) => {
      this.options.log.error({ err: error }, 'applying webhook endpoints failed; they apply at the next reload');
    });
    return this.reconciling;
  }

  async stop(): Promise<void> {
    await this.reconciling;
    await Promise.all([...this.running.values()].flatMap((r) => r.workers.map((w) => w.stop())));
    this.running.clear();
  }

  private async reconcile(registry: AppRegistry): Promise<void> {
    const wanted = endpointsOf(registry);
    for (const [key, run] of this.running) {
      if (wanted.has(key)) continue;
      this.running.delete(key);
      await Promise.all(run.workers.map((w) => w.stop()));
      for (let p = 0; p < this.options.partitions; p++) await this.deleteConsumer(consumerName(run.endpoint, p));
      this.options.log.info({ app: run.endpoint.app, env: run.endpoint.env, endpoint: run.endpoint.id }, 'webhook endpoint removed');
    }
    for (const [key, endpoint] of wanted) {
      const run = this.running.get(key);
      if (run) {
        run.endpoint = endpoint;
        continue;
      }
      await this.startEndpoint(key, endpoint);
    }
  }

  private async startEndpoint(key: string, endpoint: Endpoint): Promise<void> {
    const { js, jsm, stream, partitions, sender: senderOptions, retry, guard, log } = this.options;
    const run: Running = { endpoint, workers: [] };
    const current = () => this.running.get(key)?.endpoint;
    const sender = new EndpointSender(() => run.endpoint, senderOptions, log);
    for (let p = 0; p < partitions; p++) {
      const name = consumerName(endpoint, p);
      const config = {
        durable_name: name,
        filter_subject: `${WEBHOOK_EVENTS_PREFIX}.${endpoint.app}.${endpoint.env}.${p}`,
        ack_policy: 'explicit',
        // One event of the partition in flight for this endpoint, across every dispatcher: the order.
        max_ack_pending: 1,
        // A request may wait for its batch and then for its answer; past that the dispatcher is presumed dead.
        ack_wait: (senderOptions.lingerMs + senderOptions.timeoutMs + 5000) * NS,
        max_deliver: -1,
        deliver_policy: 'new',
      } as const;
      try {
        await jsm.consumers.add(stream, config);
      } catch (error) {
        // Exists with other settings (an older WEBHOOK_TIMEOUT_MS): keep its position, take the new settings.
        if (!(error instanceof JetStreamApiError)) throw error;
        await jsm.consumers.update(stream, name, { ack_wait: config.ack_wait, max_ack_pending: 1 });
      }
      run.workers.push(new PartitionWorker(js, stream, name, current, sender, retry, guard, log));
    }
    this.running.set(key, run);
    for (const worker of run.workers) worker.start();
    log.info({ app: endpoint.app, env: endpoint.env, endpoint: endpoint.id, events: [...endpoint.events] }, 'webhook endpoint active');
  }

  private async deleteConsumer(name: string): Promise<void> {
    try {
      await this.options.jsm.consumers.delete(this.options.stream, name);
    } catch (error) {
      if (!(error instanceof JetStreamApiError) || error.code !== JS_CONSUMER_NOT_FOUND) throw error;
    }
  }
}

/** `wh_<app>_<env>_<endpoint id>_<partition>`: app ids are `[a-z0-9_-]`, so this is a valid, unique consumer name. */
function consumerName(endpoint: Endpoint, partition: number): string {
  return `wh_${endpoint.app}_${endpoint.env}_${endpoint.id}_${partition}`;
}
