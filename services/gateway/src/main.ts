#!/usr/bin/env node
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { AppRegistry, ConfigError, loadAppsFile } from '@signal/core';
import { createLogger, scrubSecrets, startOperations } from '@signal/operations';
import {
  LivenessWatch,
  NodeRegistry,
  PresenceStore,
  Sweeper,
  limitsFrom,
  openPresenceBuckets,
  storeSettingsFrom,
  timingFrom,
} from '@signal/presence';
import uWS from 'uWebSockets.js';
import { presenceEventRule } from './auth/permissions.js';
import { loadGatewayConfig } from './config/gateway-config.js';
import { Hub } from './core/hub.js';
import { registry as metricsRegistry } from './metrics/gateway-metrics.js';
import { exportHubStats } from './metrics/hub-metrics.js';
import { PresenceNode, newInstanceId } from './presence/presence-node.js';
import { PresenceService } from './presence/presence-service.js';
import { CLOSE_GOING_AWAY } from './server/close-codes.js';
import { instrumentWebSockets } from './server/instrument-websockets.js';
import { watchSlowConsumers } from './server/slow-consumers.js';
import { websocketLimits } from './server/websocket-limits.js';
import { registerJsonRpcRoutes } from './surfaces/jsonrpc/routes.js';
import { registerSocketIoRoutes } from './surfaces/socketio/routes.js';

async function main(): Promise<void> {
  const config = loadGatewayConfig();
  const log = createLogger('gateway', config.LOG_LEVEL);
  const registry = new AppRegistry(loadAppsFile(config.APPS_FILE));
  const node = config.NODE_ID ?? randomNodeId();
  const ops = await startOperations(config, log, metricsRegistry);

  const nc = await connect({
    servers: config.NATS_URL.split(',').map((s) => s.trim()),
    name: `signal-gateway-${node}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
  });
  log.info({ server: nc.getServer() }, 'nats connected');
  ops.watchNats(nc);

  const buckets = await openPresenceBuckets(nc, storeSettingsFrom(config));
  if (buckets.mismatches.length > 0) {
    log.warn({ bucket: config.PRESENCE_BUCKET, differences: buckets.mismatches }, 'presence bucket exists with other settings; using it as it is');
  }
  const store = new PresenceStore(nc, buckets.participants, config.PRESENCE_BUCKET);
  const nodeRegistry = new NodeRegistry(buckets.nodes, node, newInstanceId());

  const app = uWS.App();
  const sockets = instrumentWebSockets(app, ops.readiness);
  const hub = new Hub(nc, app, node);
  hub.setPresenceEventRule(presenceEventRule(registry));
  exportHubStats(hub.stats);
  const presence = new PresenceService(hub, store, { node, instance: () => nodeRegistry.instance, limits: limitsFrom(config) }, log);
  const presenceNode = new PresenceNode({
    nc,
    node,
    registry: nodeRegistry,
    watch: new LivenessWatch(buckets.nodes),
    sweeper: new Sweeper(nc, store, buckets.nodes, node),
    store,
    presence,
    timing: timingFrom(config),
    log,
  });
  await presenceNode.start();
  ops.readiness.register('presence', () => presenceNode.readiness());
  registerJsonRpcRoutes(app, hub, presence, registry, websocketLimits(config), config.TOKEN_EXPIRY, log);
  registerSocketIoRoutes(
    app,
    hub,
    registry,
    websocketLimits(config),
    {
      authTimeoutMs: config.STELACE_AUTH_TIMEOUT_MS,
      pingIntervalMs: config.SOCKETIO_PING_INTERVAL_MS,
      pingTimeoutMs: config.SOCKETIO_PING_TIMEOUT_MS,
    },
    log,
  );
  app.get('/healthz', (res) => {
    res.writeHeader('content-type', 'application/json').end('{"status":"ok"}');
  });
  app.any('/*', (res) => {
    res.writeStatus('404 Not Found').writeHeader('content-type', 'application/json').end('{"error":"no such path"}');
  });

  const listenSocket = await new Promise<uWS.us_listen_socket>((resolve, reject) =>
    app.listen(config.HOST, config.PORT, (socket) =>
      socket ? resolve(socket) : reject(new ConfigError(`cannot listen on ${config.HOST}:${config.PORT}; is PORT in use?`)),
    ),
  );
  const port = uWS.us_socket_local_port(listenSocket);
  watchSlowConsumers(sockets, config.MAX_BACKPRESSURE_BYTES, log);
  ops.shutdown.add('stop-intake', 'websocket listener', () => uWS.us_listen_socket_close(listenSocket));
  ops.shutdown.add('close-clients', 'websockets', () => sockets.closeAll(CLOSE_GOING_AWAY.code, CLOSE_GOING_AWAY.reason));
  // Participants leave cleanly (entries removed, leaves announced) before the NATS connection goes.
  ops.shutdown.add('release', 'presence entries', () => presence.drain());
  ops.shutdown.add('release', 'presence heartbeat', () => presenceNode.stop());
  ops.readiness.markStarted();
  log.info({ port, adminPort: ops.adminPort, node, nats: nc.getServer() }, 'ready');
}

function randomNodeId(): string {
  return randomBytes(8).toString('hex').slice(0, 10);
}

main().catch((error: unknown) => {
  const message = error instanceof ConfigError ? error.message : (error as Error)?.stack ?? String(error);
  process.stderr.write(`gateway failed to start: ${scrubSecrets(message)}\n`);
  process.exit(1);
});
