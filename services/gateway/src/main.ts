#!/usr/bin/env node
import { randomBytes } from 'node:crypto';
import { AppRegistry, ConfigError, LiveApps, loadAppsFile } from '@signal/core';
import { MessageGuard, coalesceWrites, connectNats, createLogger, reloadAppsFile, scrubSecrets, startOperations } from '@signal/operations';
import {
  BeatListener,
  LivenessWatch,
  MarkerPurge,
  NodeKeysSweep,
  NodeRegistry,
  jetStreamPresenceStore,
  Sweeper,
  beatSubject,
  limitsFrom,
  liveInstances,
  occupancySettingsFrom,
  openOccupancyBucket,
  occupancyNodeFilter,
  onlineNodeFilter,
  openOnlineBucket,
  openPresenceBuckets,
  openPresenceBucketsAtStart,
  waitForShardAgreement,
  revocationSettingsFrom,
  storeSettingsFrom,
  timingFrom,
  waitAtStart,
} from '@signal/presence';
import uWS from 'uWebSockets.js';
import { applyAppsReload } from './auth/apps-reload.js';
import { JwksKeys } from './auth/jwks.js';
import { presenceEventRule } from './auth/permissions.js';
import { startRevocationFeed } from './auth/revocation-feed.js';
import { loadGatewayConfig } from './config/gateway-config.js';
import { ForcedCloses } from './core/forced-closes.js';
import { Hub } from './core/hub.js';
import { HistoryStore } from '@signal/history';
import { ClientMessageLog } from './webhooks/client-message-log.js';
import { NatsSelfCheck } from './health/nats-selfcheck.js';
import { gatewayLimitsFrom } from './limits/limit-vars.js';
import { Limits } from './limits/limits.js';
import { metrics, registry as metricsRegistry, type PRESENCE_RETRY_OPERATIONS } from './metrics/gateway-metrics.js';
import { exportHubStats } from './metrics/hub-metrics.js';
import { BeatThread } from './presence/beat-thread.js';
import { LocalOccupancy } from './occupancy/local-occupancy.js';
import { OccupancyFeeds } from './occupancy/occupancy-feeds.js';
import { OccupancyWriter } from './occupancy/occupancy-writer.js';
import { PresenceNode, newInstanceId } from './presence/presence-node.js';
import { PresenceService } from './presence/presence-service.js';
import { OnlineUsers } from './presence/online-users.js';
import { CLOSE_GOING_AWAY } from './server/close-codes.js';
import { instrumentWebSockets } from './server/instrument-websockets.js';
import { watchSlowConsumers } from './server/slow-consumers.js';
import { websocketLimits } from './server/websocket-limits.js';
import { notification } from './surfaces/jsonrpc/render.js';
import { registerJsonRpcRoutes } from './surfaces/jsonrpc/routes.js';
import { registerSocketIoRoutes } from './surfaces/socketio/routes.js';

const NATS_PING_INTERVAL_MS = 10_000;
/**
 * A record of a gateway with another PRESENCE_SHARDS that has not moved for this long is from a
 * gateway that died (nobody with its count is left to sweep it): it no longer holds the start.
 * Longer than a JetStream election freezes live records (5-20 s measured), so a live one is not taken for dead.
 */
const SHARD_RECORD_DEAD_MS = 30_000;

async function main(): Promise<void> {
  const config = loadGatewayConfig();
  const log = createLogger('gateway', config.LOG_LEVEL);
  // Every module holds `registry` (LiveApps); a reload swaps the file inside it, in one place.
  const registry = new LiveApps(new AppRegistry(loadAppsFile(config.APPS_FILE)));
  // Identity providers' JWKS keys, fetched in the background; verification only reads them.
  const jwks = new JwksKeys({ timeoutMs: config.JWKS_TIMEOUT_MS, minRefreshMs: config.JWKS_MIN_REFRESH_MS }, log);
  jwks.track(registry.current.jwksUrls());
  const tokenRules = {
    maxTtlSeconds: config.MAX_TOKEN_TTL_SECONDS,
    jwksKeys: (url: string) => jwks.keysOf(url),
    unknownKid: (url: string) => jwks.refreshSoon(url),
  };
  const node = config.NODE_ID ?? randomNodeId();
  const ops = await startOperations(config, log, metricsRegistry);

  const nc = await connectNats(config, `signal-gateway-${node}`, {
    // The default (2 min, 2 unanswered) notices a dead link — a half-open TCP connection, or a
    // read loop that stopped — only after 4-6 min. At 10 s the client reconnects within
    // 20-30 s, before the self-check's liveness failure (NATS_STALL_TIMEOUT_MS, then the
    // probe's failureThreshold) restarts the process: a reconnect keeps the clients.
    pingInterval: NATS_PING_INTERVAL_MS,
  }, log);
  // One write per event-loop turn: a busy gateway otherwise writes once per frame it handles.
  if (!coalesceWrites(nc)) log.warn('this nats.js version does not allow coalescing writes; writing per microtask');
  log.info({ server: nc.getServer() }, 'nats connected');
  const link = ops.watchNats(nc);
  const guard = new MessageGuard({ log, count: (source, reason) => metrics.droppedMessages.inc({ source, reason }) });
  const selfCheck = new NatsSelfCheck({
    nc,
    node,
    isConnected: () => link.isConnected,
    guard,
    intervalMs: config.NATS_SELFCHECK_INTERVAL_MS,
    stallTimeoutMs: config.NATS_STALL_TIMEOUT_MS,
  });
  selfCheck.start();
  ops.liveness.register('nats-input', selfCheck.check);
  ops.shutdown.add('release', 'nats self-check', () => selfCheck.stop());

  const storeSettings = storeSettingsFrom(config);
  const timing = timingFrom(config);
  const buckets = await openPresenceBucketsAtStart(nc, storeSettings, log);
  if (buckets.mismatches.length > 0) {
    log.warn({ bucket: config.PRESENCE_BUCKET, differences: buckets.mismatches }, 'presence bucket exists with other settings; using it as it is');
  }
  const retried = (operation: (typeof PRESENCE_RETRY_OPERATIONS)[number]) => () => metrics.presenceRetries.inc({ operation });
  const store = jetStreamPresenceStore(nc, buckets.shards, storeSettings.retryDeadlineMs, retried('store'));
  const occupancySettings = occupancySettingsFrom(config, storeSettings);
  const occupancyBucket = await waitAtStart('the occupancy bucket', () => openOccupancyBucket(nc, occupancySettings), log);
  if (occupancyBucket.mismatches.length > 0) {
    log.warn({ bucket: config.OCCUPANCY_BUCKET, differences: occupancyBucket.mismatches }, 'occupancy bucket exists with other settings; using it as it is');
  }
  const occupancyCleanup = new NodeKeysSweep(nc, config.OCCUPANCY_BUCKET, occupancyNodeFilter, node);
  const onlineSettings = { bucket: config.ONLINE_BUCKET, replicas: config.PRESENCE_REPLICAS, storage: config.PRESENCE_STORAGE };
  const onlineBucket = await waitAtStart('the online bucket', () => openOnlineBucket(nc, onlineSettings), log);

  const app = uWS.App();
  const sockets = instrumentWebSockets(app, ops.readiness);
  const nodeRegistry = new NodeRegistry(buckets.nodes, node, newInstanceId(), () => sockets.size, timing.heartbeatMs, retried('heartbeat'), config.PRESENCE_SHARDS);
  const hub = new Hub(nc, app, node, guard);
  const online = new OnlineUsers(onlineBucket, node, () => nodeRegistry.instance, log);
  hub.setSessionListener(online);
  hub.setPresenceEventRule(presenceEventRule(registry));
  exportHubStats(hub.stats);
  const forcedCloses = new ForcedCloses(hub, guard, log);
  hub.setControlHandler((scope, subject, command) => forcedCloses.command(scope, subject, command));
  // Read before the first connection is taken: a revoked token is refused from the start.
  const revocations = await startRevocationFeed({
    nc,
    settings: revocationSettingsFrom(config),
    guard,
    log,
    onRevoked: (revocation) => forcedCloses.revoked(revocation),
  });
  ops.shutdown.add('release', 'revocation watch', () => revocations.stop());
  const presence = new PresenceService(hub, store, { node, instance: () => nodeRegistry.instance, limits: limitsFrom(config), retryDeadlineMs: storeSettings.retryDeadlineMs, feedLingerMs: timing.feedLingerMs }, log);
  const liveness = new LivenessWatch(buckets.nodes, guard);
  const presenceNode = new PresenceNode({
    nc,
    node,
    registry: nodeRegistry,
    watch: liveness,
    beats: new BeatListener(nc, config.PRESENCE_BUCKET, guard),
    beatThread: new BeatThread({ nats: config, node, subject: beatSubject(config.PRESENCE_BUCKET, node), beatMs: timing.beatMs, maxStallMs: timing.maxStallMs, log }),
    sweeper: new Sweeper(nc, store, buckets.nodes, node, storeSettings.retryDeadlineMs, retried('claim'), [new NodeKeysSweep(nc, config.ONLINE_BUCKET, onlineNodeFilter, node), occupancyCleanup]),
    store,
    presence,
    timing,
    log,
    ensureBuckets: async () => {
      await openPresenceBuckets(nc, storeSettings);
      await openOnlineBucket(nc, onlineSettings);
    },
    online,
    markerPurges: [
      { name: 'online', purge: new MarkerPurge(nc, config.ONLINE_BUCKET, storeSettings.retryDeadlineMs, retried('store')) },
      { name: 'occupancy', purge: new MarkerPurge(nc, config.OCCUPANCY_BUCKET, storeSettings.retryDeadlineMs, retried('store')) },
    ],
  });
  // Every gateway must put a channel in the same bucket: not ready while one with another count runs.
  await waitAtStart('gateways to agree on PRESENCE_SHARDS', () => waitForShardAgreement(nc, `${config.PRESENCE_BUCKET}_nodes`, node, config.PRESENCE_SHARDS, SHARD_RECORD_DEAD_MS, log), log);
  await waitAtStart('presence node registration', () => presenceNode.start(), log);
  ops.readiness.register('presence', () => presenceNode.readiness());
  // Occupancy (docs/presence.md#occupancy): this node's counts per channel in the bucket, and
  // connections' subscriptions to channels' cluster-wide counts.
  const occupancyWriter = new OccupancyWriter({
    nc,
    kv: occupancyBucket.kv,
    node,
    instance: () => nodeRegistry.instance,
    cleanup: occupancyCleanup,
    ensureBucket: async () => void (await openOccupancyBucket(nc, occupancySettings)),
    log,
  });
  await occupancyWriter.start();
  const localOccupancy = new LocalOccupancy((scope, channel, counts) => occupancyWriter.changed(scope, channel, counts));
  hub.setMembershipListener(localOccupancy);
  const occupancy = new OccupancyFeeds({
    nc,
    kv: occupancyBucket.kv,
    node,
    app,
    local: localOccupancy,
    live: () => liveInstances(liveness.observed()),
    render: (channel, counts) => notification('signal.occupancy', { id: channel, ...counts }),
    guard,
  });
  occupancy.startTicking();
  const limits = new Limits(gatewayLimitsFrom(config));
  const history = new HistoryStore(nc, registry, { replicas: config.HISTORY_REPLICAS, readTimeoutMs: config.HISTORY_READ_TIMEOUT_MS, create: false });
  hub.setHistory(history);
  hub.setClientMessages(new ClientMessageLog(nc, registry));
  registerJsonRpcRoutes(app, hub, presence, occupancy, registry, revocations.list, tokenRules, websocketLimits(config), limits, config.TOKEN_EXPIRY, log, history);
  registerSocketIoRoutes(
    app,
    hub,
    registry,
    revocations.list,
    tokenRules,
    websocketLimits(config),
    limits,
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
  watchSlowConsumers(sockets, config.MAX_BACKPRESSURE_BYTES, guard, log);
  ops.shutdown.add('stop-intake', 'websocket listener', () => uWS.us_listen_socket_close(listenSocket));
  ops.shutdown.add('close-clients', 'websockets', () => sockets.closeAll(CLOSE_GOING_AWAY.code, CLOSE_GOING_AWAY.reason));
  // Participants leave cleanly (entries removed, leaves announced) before the NATS connection goes.
  ops.shutdown.add('release', 'presence entries', () => presence.drain());
  ops.shutdown.add('release', 'occupancy counts', async () => {
    occupancy.stop();
    await occupancyWriter.drain();
  });
  // Users whose connections just closed go offline in the online bucket (no sweep will come: the node leaves cleanly).
  ops.shutdown.add('release', 'online users', () => online.drain());
  ops.shutdown.add('release', 'presence heartbeat', () => presenceNode.stop());
  reloadAppsFile(config, ops.shutdown, {
    apps: registry,
    log,
    count: (result) => metrics.appsReloads.inc({ result }),
    // The reload line says how many connections were closed with 4005.
    onReload: (_previous, next) => {
      jwks.track(next.jwksUrls());
      return applyAppsReload(registry, hub.openSessions(), log);
    },
  });
  ops.shutdown.add('stop-intake', 'jwks refreshes', () => jwks.stop());
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
