#!/usr/bin/env node
import { jetstream } from '@nats-io/jetstream';
import { AppRegistry, ConfigError, LiveApps, loadAppsFile, type Environment } from '@signal/core';
import { shardOfChannel } from '@signal/presence';
import { MessageGuard, connectNats, createLogger, reloadAppsFile, scrubSecrets, startOperations } from '@signal/operations';
import { loadWebhooksConfig } from './config/webhooks-config.js';
import { Checkpoints } from './derive/checkpoints.js';
import { ChannelOrder } from './derive/channel-order.js';
import { EventProducer } from './derive/producer.js';
import { Dispatcher } from './deliver/dispatcher.js';
import { metrics, registry as metricsRegistry } from './metrics/webhooks-metrics.js';
import { openLeaseBucket, openWebhookStreams } from './streams.js';

async function main(): Promise<void> {
  const config = loadWebhooksConfig();
  const logger = createLogger('webhooks', config.LOG_LEVEL);
  const apps = new LiveApps(new AppRegistry(loadAppsFile(config.APPS_FILE)));
  const ops = await startOperations(config, logger, metricsRegistry);
  const nc = await connectNats(config, 'signal-webhooks');
  logger.info({ server: nc.getServer() }, 'nats connected');
  ops.watchNats(nc);
  const guard = new MessageGuard({ log: logger, count: (source, reason) => metrics.dropped.inc({ source, reason }) });
  const js = jetstream(nc);
  const streams = await openWebhookStreams(nc, config);
  if (streams.mismatches.length > 0) logger.warn({ differences: streams.mismatches }, 'webhook streams or watched buckets have other settings than configured or advised; using them as they are');

  // Consumers first: events produced from now on reach every endpoint the file names.
  const leases = await openLeaseBucket(nc, streams.leases, config);
  if (leases.mismatches.length > 0) logger.warn({ bucket: streams.leases, differences: leases.mismatches }, 'the webhook leases bucket has other settings than configured; using it as it is');
  const dispatcher = new Dispatcher({
    js,
    jsm: streams.jsm,
    stream: streams.events,
    leases: leases.kv,
    leaseMs: config.WEBHOOK_LEASE_MS,
    maxPending: config.WEBHOOK_MAX_PENDING,
    sender: { batchMax: config.WEBHOOK_BATCH_MAX, lingerMs: config.WEBHOOK_BATCH_LINGER_MS, timeoutMs: config.WEBHOOK_TIMEOUT_MS },
    retry: { minMs: config.WEBHOOK_RETRY_MIN_MS, maxMs: config.WEBHOOK_RETRY_MAX_MS, periodMs: config.WEBHOOK_RETRY_PERIOD_MS },
    guard,
    log: logger,
  });
  await dispatcher.apply(apps.current);
  dispatcher.start();
  ops.shutdown.add('stop-intake', 'webhook deliveries', () => dispatcher.stop());

  const checkpointBucket = await Checkpoints.openBucket(nc, streams.state, config.WEBHOOK_REPLICAS, config.WEBHOOK_STORAGE);
  // The presence producers first (one per shard, in shard order): the occupancy one holds each
  // channel_vacated behind the member_removed events of the channel's shard.
  const presenceProducers: EventProducer[] = [];
  const order = new ChannelOrder(
    (app, env, channel) => presenceProducers[shardOfChannel({ app, env: env as Environment }, channel, config.PRESENCE_SHARDS)],
    config.WEBHOOK_ORDER_WAIT_MS,
  );
  for (const log of [...streams.logs].sort((a, b) => Number(b.kind === 'presence') - Number(a.kind === 'presence'))) {
    const producer = new EventProducer({
      js,
      jsm: streams.jsm,
      log,
      checkpoints: Checkpoints.of(nc, checkpointBucket, streams.state, log.id),
      partitions: config.WEBHOOK_PARTITIONS,
      checkpointMs: config.WEBHOOK_CHECKPOINT_MS,
      guard,
      logger,
      ...(log.kind === 'occupancy' ? { before: order.before } : {}),
    });
    await producer.start();
    if (log.kind === 'presence') presenceProducers.push(producer);
    ops.shutdown.add('stop-intake', `webhook events from ${log.source}`, () => producer.stop());
  }

  reloadAppsFile(config, ops.shutdown, {
    apps,
    log: logger,
    count: (result) => metrics.appsReloads.inc({ result }),
    onReload: (_previous, next) => void dispatcher.apply(next),
  });
  ops.readiness.markStarted();
  logger.info({ adminPort: ops.adminPort, nats: nc.getServer() }, 'ready');
}

main().catch((error: unknown) => {
  const message = error instanceof ConfigError ? error.message : (error as Error)?.stack ?? String(error);
  process.stderr.write(`webhooks failed to start: ${scrubSecrets(message)}\n`);
  process.exit(1);
});
