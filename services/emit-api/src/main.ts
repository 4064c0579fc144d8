#!/usr/bin/env node
import { createServer } from 'node:http';
import { connect } from '@nats-io/transport-node';
import { AppRegistry, ConfigError, loadAppsFile } from '@signal/core';
import { createLogger, scrubSecrets, startOperations } from '@signal/operations';
import { PresenceStore, openPresenceBuckets, storeSettingsFrom } from '@signal/presence';
import { loadEmitConfig } from './config/emit-config.js';
import { instrumentRequests } from './http/instrument-requests.js';
import { Router } from './http/router.js';
import { sendJson } from './http/respond.js';
import { addHttpShutdown } from './lifecycle/http-shutdown.js';
import { registry as metricsRegistry } from './metrics/emit-metrics.js';
import { channelTokensRoute } from './routes/channel-tokens.js';
import { participantsRoute } from './routes/participants.js';
import { signalsRoute } from './routes/signals.js';
import { stelaceSignalRoute } from './routes/stelace-signal.js';
import { tokensRoute } from './routes/tokens.js';

async function main(): Promise<void> {
  const config = loadEmitConfig();
  const log = createLogger('emit-api', config.LOG_LEVEL);
  const registry = new AppRegistry(loadAppsFile(config.APPS_FILE));
  const ops = await startOperations(config, log, metricsRegistry);
  const nc = await connect({
    servers: config.NATS_URL.split(',').map((s) => s.trim()),
    name: 'signal-emit-api',
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
  });
  log.info({ server: nc.getServer() }, 'nats connected');
  ops.watchNats(nc);
  const buckets = await openPresenceBuckets(nc, storeSettingsFrom(config));
  const presence = new PresenceStore(nc, buckets.participants, config.PRESENCE_BUCKET);

  const router = new Router(log)
    .on('GET', '/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' }))
    .on('GET', '/v1/channels/:channel/participants', participantsRoute(registry, presence))
    .on('POST', '/v1/signals', signalsRoute(nc, registry, { maxBodyBytes: config.MAX_BODY_BYTES, maxBatch: config.MAX_BATCH }))
    .on('POST', '/signal', stelaceSignalRoute(nc, registry, { maxBodyBytes: config.MAX_BODY_BYTES, deliveryTimeoutMs: config.DELIVERY_TIMEOUT_MS }))
    .on(
      'POST',
      '/v1/tokens',
      tokensRoute(registry, {
        maxBodyBytes: config.MAX_BODY_BYTES,
        maxTtlSeconds: config.MAX_TOKEN_TTL_SECONDS,
        audience: config.GATEWAY_PUBLIC_URL,
      }),
    )
    .on('POST', '/v1/channel-tokens', channelTokensRoute(registry, { maxBodyBytes: config.MAX_BODY_BYTES, maxTtlSeconds: config.MAX_TOKEN_TTL_SECONDS }));

  const server = createServer(instrumentRequests((req) => router.routeOf(req), ops.readiness, (req, res) => void router.handle(req, res)));
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new ConfigError(`cannot listen on ${config.HOST}:${config.PORT}: ${error.message}`)));
    server.listen(config.PORT, config.HOST, resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  addHttpShutdown(ops.shutdown, server);
  ops.readiness.markStarted();
  log.info({ port, adminPort: ops.adminPort, nats: nc.getServer() }, 'ready');
}

main().catch((error: unknown) => {
  const message = error instanceof ConfigError ? error.message : (error as Error)?.stack ?? String(error);
  process.stderr.write(`emit-api failed to start: ${scrubSecrets(message)}\n`);
  process.exit(1);
});
