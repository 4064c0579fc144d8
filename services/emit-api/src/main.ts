#!/usr/bin/env node
import { AppRegistry, ConfigError, LiveApps, loadAppsFile } from '@signal/core';
import { MessageGuard, connectNats, reloadAppsFile, createLogger, scrubSecrets, startOperations } from '@signal/operations';
import {
  jetStreamPresenceStore,
  LivenessWatch,
  RevocationWriter,
  liveInstances,
  occupancySettingsFrom,
  openOccupancyBucket,
  openPresenceBucketsAtStart,
  openRevocationBucket,
  revocationSettingsFrom,
  storeSettingsFrom,
  waitAtStart,
} from '@signal/presence';
import { HistoryStore } from '@signal/history';
import { loadEmitConfig } from './config/emit-config.js';
import { createHttpServer } from './http/http-server.js';
import { instrumentRequests } from './http/instrument-requests.js';
import { KeyRateLimit } from './http/key-rate-limit.js';
import { Router } from './http/router.js';
import { deadLettersRoute, replayDeadLettersRoute } from './routes/webhook-dead-letters.js';
import { DeadLetters } from './webhooks/dead-letters.js';
import { sendJson } from './http/respond.js';
import { addHttpShutdown } from './lifecycle/http-shutdown.js';
import { metrics, registry as metricsRegistry } from './metrics/emit-metrics.js';
import { channelTokensRoute } from './routes/channel-tokens.js';
import { channelsRoute } from './routes/channels.js';
import { addConsole } from './routes/console.js';
import { nodesRoute } from './routes/nodes.js';
import { disconnectRoute } from './routes/disconnect.js';
import { occupancyRoute } from './routes/occupancy.js';
import { historyRoute } from './routes/history.js';
import { participantsRoute } from './routes/participants.js';
import { revocationsRoute } from './routes/revocations.js';
import { signalsRoute } from './routes/signals.js';
import { stelaceSignalRoute } from './routes/stelace-signal.js';
import { tokensRoute } from './routes/tokens.js';

/** How long a read of the presence buckets may take before the request fails with `unavailable`. */
const READ_TIMEOUT_MS = 5000;

async function main(): Promise<void> {
  const config = loadEmitConfig();
  const log = createLogger('emit-api', config.LOG_LEVEL);
  // Every route holds `registry` (LiveApps); a reload swaps the file inside it, in one place.
  const registry = new LiveApps(new AppRegistry(loadAppsFile(config.APPS_FILE)));
  const ops = await startOperations(config, log, metricsRegistry);
  const nc = await connectNats(config, 'signal-emit-api', {}, log);
  log.info({ server: nc.getServer() }, 'nats connected');
  ops.watchNats(nc);
  const storeSettings = storeSettingsFrom(config);
  const buckets = await openPresenceBucketsAtStart(nc, storeSettings, log);
  const presence = jetStreamPresenceStore(nc, buckets.shards, storeSettings.retryDeadlineMs);
  const occupancy = await waitAtStart('the occupancy bucket', () => openOccupancyBucket(nc, occupancySettingsFrom(config, storeSettings)), log);
  // Which gateway processes are live (heartbeat records nobody claimed): only their counts are summed.
  const guard = new MessageGuard({ log, count: (source, reason) => metrics.droppedMessages.inc({ source, reason }) });
  const liveness = new LivenessWatch(buckets.nodes, guard);
  await liveness.start();
  ops.shutdown.add('release', 'heartbeat watch', () => liveness.stop());
  // After a NATS outage the watch is opened again: its consumer may be gone, records changed meanwhile.
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type !== 'reconnect') continue;
      await liveness.restart().catch((error: unknown) => log.warn({ err: error }, 'heartbeat watch could not be reopened after a reconnect; occupancy reads may count stale gateways'));
    }
  })();
  const revocationBucket = await waitAtStart('the revocation bucket', () => openRevocationBucket(nc, revocationSettingsFrom(config)), log);
  if (revocationBucket.mismatches.length > 0) {
    log.warn({ bucket: config.REVOCATION_BUCKET, differences: revocationBucket.mismatches }, 'revocation bucket exists with other settings; using it as it is');
  }
  const revocations = new RevocationWriter(revocationBucket.kv, revocationBucket.maxAgeMs);

  const history = new HistoryStore(nc, registry, {
    replicas: config.HISTORY_REPLICAS,
    readTimeoutMs: config.HISTORY_READ_TIMEOUT_MS,
    create: true,
    onMismatch: (stream, differences) => log.warn({ stream, differences }, 'history stream exists with another window; using it as it is (docs/recovery.md)'),
  });
  // The emit-api creates the history streams (gateways may not); one that fails now is tried again before its first use.
  const prepareHistory = (apps: AppRegistry) =>
    void history.prepare(apps.environmentsWithHistory()).then((failures) => {
      for (const { scope, error } of failures) log.warn({ app: scope.app, env: scope.env, err: error.message }, 'history stream not ready yet');
    });
  prepareHistory(registry.current);
  const keys = { registry, rateLimit: new KeyRateLimit({ perSecond: config.RATE_LIMIT_PER_KEY, burst: config.RATE_LIMIT_BURST }) };
  const body = { maxBytes: config.MAX_BODY_BYTES, maxDepth: config.MAX_JSON_DEPTH };
  const deadLetters = await DeadLetters.open(nc, config.WEBHOOK_STREAM, (scope) => registry.current.webhookEndpointIds(scope));
  const router = new Router(log)
    .on('GET', '/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' }))
    .on('GET', '/v1/channels/:channel/participants', participantsRoute(keys, presence))
    .on('GET', '/v1/channels/:channel/occupancy', occupancyRoute(keys, occupancy.kv, () => liveInstances(liveness.observed())))
    .on('GET', '/v1/channels/:channel/history', historyRoute(keys, history))
    .on('POST', '/v1/signals', signalsRoute(nc, keys, history, { body, maxBatch: config.MAX_BATCH }))
    .on('POST', '/signal', stelaceSignalRoute(nc, keys, { body, deliveryTimeoutMs: config.DELIVERY_TIMEOUT_MS }))
    .on(
      'POST',
      '/v1/tokens',
      tokensRoute(keys, {
        body,
        maxTtlSeconds: config.MAX_TOKEN_TTL_SECONDS,
        audience: config.GATEWAY_PUBLIC_URL,
      }),
    )
    .on('POST', '/v1/channel-tokens', channelTokensRoute(keys, { body, maxTtlSeconds: config.MAX_TOKEN_TTL_SECONDS }))
    .on('POST', '/v1/revocations', revocationsRoute(keys, revocations, { body }))
    .on('POST', '/v1/disconnect', disconnectRoute(nc, keys, { body }))
    .on('GET', '/v1/channels', channelsRoute(nc, keys, { bucket: config.OCCUPANCY_BUCKET, readTimeoutMs: READ_TIMEOUT_MS, live: () => liveInstances(liveness.observed()) }))
    .on('GET', '/v1/webhooks/dead-letters', deadLettersRoute(keys, deadLetters))
    .on('POST', '/v1/webhooks/dead-letters/replay', replayDeadLettersRoute(keys, deadLetters, { body }))
    .on('GET', '/v1/nodes', nodesRoute(nc, keys, { bucket: config.PRESENCE_BUCKET, nodeTimeoutMs: config.PRESENCE_NODE_TIMEOUT_MS, readTimeoutMs: READ_TIMEOUT_MS }));
  addConsole(router, config, registry, body);

  const server = createHttpServer(
    {
      headersTimeoutMs: config.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: config.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: config.MAX_HTTP_CONNECTIONS,
    },
    instrumentRequests((req) => router.routeOf(req), ops.readiness, (req, res) => void router.handle(req, res)),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new ConfigError(`cannot listen on ${config.HOST}:${config.PORT}: ${error.message}`)));
    server.listen(config.PORT, config.HOST, resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  addHttpShutdown(ops.shutdown, server);
  reloadAppsFile(config, ops.shutdown, {
    apps: registry,
    log,
    count: (result) => metrics.appsReloads.inc({ result }),
    onReload: (_previous, next) => prepareHistory(next),
  });
  ops.readiness.markStarted();
  log.info({ port, adminPort: ops.adminPort, nats: nc.getServer() }, 'ready');
}

main().catch((error: unknown) => {
  const message = error instanceof ConfigError ? error.message : (error as Error)?.stack ?? String(error);
  process.stderr.write(`emit-api failed to start: ${scrubSecrets(message)}\n`);
  process.exit(1);
});
