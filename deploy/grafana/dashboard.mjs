// Builds deploy/grafana/signal-dashboard.json: `node deploy/grafana/dashboard.mjs`.
//
// The dashboard is written here as one line per panel, so adding a metric is adding one line
// to the row it belongs to, then running this script. test/deploy/dashboards.test.ts fails when
// the JSON file differs from what this script builds, when a `signal_*` metric the services
// export has no panel, and when a query names a metric or label the services do not export.
//
// In a query, `{S}` (or `{S,` followed by more matchers) stands for the dashboard's
// namespace / service / pod selector, and `$__rate_interval` is Grafana's own rate window.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const SELECTOR = 'namespace=~"$namespace", service=~"$service", pod=~"$pod"';
const RATE = '[$__rate_interval]';

/** A time series panel: `unit` is Grafana's unit id; each target is `[expr, legend]`. */
const graph = (title, unit, description, ...targets) => ({ kind: 'timeseries', title, unit, description, targets });
/** A single number (the last value), for the overview row. */
const stat = (title, unit, description, ...targets) => ({ kind: 'stat', title, unit, description, targets });
/** Per-second rate of a counter, summed by `by`. */
const rate = (metric, by, extra = '') => `sum by (${by}) (rate(${metric}{S${extra}}${RATE}))`;
/** A quantile of a histogram, by `by` (besides `le`). */
const quantile = (q, metric, by) => `histogram_quantile(${q}, sum by (le${by ? `, ${by}` : ''}) (rate(${metric}_bucket{S}${RATE})))`;

/** Rows, top-down in the order an operator reads them during an incident. */
const ROWS = [
  ['Overview: is every process up, ready and connected?', [
    stat('Targets up', 'none', 'Scrape targets answering /metrics (Prometheus `up`); fewer than pods means a process is gone or its admin port is unreachable.', ['sum by (service) (up{S})', '{{service}}']),
    stat('Readiness checks failing', 'none', 'Checks of /readyz that fail now (signal_readiness_check == 0); see docs/operations.md "Readiness checks".', ['count by (service) (signal_readiness_check{S} == 0) or sum by (service) (up{S} * 0)', '{{service}}']),
    stat('Liveness checks failing', 'none', 'Checks of /healthz that fail now: the orchestrator will restart that pod; see "Liveness checks".', ['count by (service) (signal_liveness_check{S} == 0) or sum by (service) (up{S} * 0)', '{{service}}']),
    stat('Disconnected from NATS', 'none', 'Processes whose NATS connection is down (signal_nats_connected == 0); see "NATS outages".', ['count by (service) (signal_nats_connected{S} == 0) or sum by (service) (up{S} * 0)', '{{service}}']),
    stat('Client connections', 'none', 'Open client connections on all selected gateways.', ['sum(signal_gateway_connections{S})', 'connections']),
    stat('emit-api 5xx ratio', 'percentunit', 'Share of emit-api responses that were 5xx over the rate window.', [`sum(rate(signal_emit_requests_total{S,status=~"5.."}${RATE})) / clamp_min(sum(rate(signal_emit_requests_total{S}${RATE})), 1e-9)`, '5xx']),
    graph('Readiness checks by pod', 'none', '1 passing, 0 failing, per check of /readyz (lifecycle, nats, presence).', ['min by (pod, check) (signal_readiness_check{S})', '{{pod}} {{check}}']),
    graph('Liveness checks by pod', 'none', '1 passing, 0 failing, per check of /healthz (gateway: nats-input).', ['min by (pod, check) (signal_liveness_check{S})', '{{pod}} {{check}}']),
    graph('Process restarts', 'none', 'Restarts per pod in the last hour (changes of process_start_time_seconds).', ['changes(process_start_time_seconds{S}[1h])', '{{pod}}']),
  ]],
  ['Gateway: connections', [
    graph('Open connections', 'none', 'signal_gateway_connections per gateway pod.', ['sum by (pod) (signal_gateway_connections{S})', '{{pod}}']),
    graph('Connections opened / s', 'ops', 'All protocol surfaces.', [rate('signal_gateway_connections_opened_total', 'pod'), '{{pod}}']),
    graph('Connections closed / s by close code', 'ops', 'See docs/operations.md "Close codes"; 1006 is network loss, idle timeout or a cut at MAX_BACKPRESSURE_BYTES; 4008 slow consumer; 4029 rate limited.', [rate('signal_gateway_connections_closed_total', 'code'), '{{code}}']),
    graph('Connections refused / s by reason', 'ops', 'Upgrades and Stelace handshakes refused: token failures, unknown keys, limits (limit_exceeded), shutting_down; a burst of bad_signature is someone guessing tokens.', [rate('signal_gateway_connections_refused_total', 'reason'), '{{reason}}']),
    graph('NATS subjects subscribed', 'none', 'Channels with local members plus the user, device and broadcast subjects of local connections.', ['sum by (pod) (signal_gateway_subjects{S})', '{{pod}}']),
    graph('Client frames in / s', 'ops', 'Frames received from clients.', [rate('signal_gateway_client_frames_in_total', 'pod'), '{{pod}}']),
    graph('Client bytes in / s', 'Bps', 'Payload bytes received from clients.', [rate('signal_gateway_client_bytes_in_total', 'pod'), '{{pod}}']),
  ]],
  ['Gateway: deliveries and fan-out', [
    graph('Messages from NATS / s', 'ops', 'Messages to deliver to local connections.', [rate('signal_gateway_messages_in_total', 'pod'), '{{pod}}']),
    graph('Frames out / s', 'ops', 'Frames handed to uWebSockets.js: one per message per protocol surface with local listeners, or one per direct send.', [rate('signal_gateway_frames_out_total', 'pod'), '{{pod}}']),
    graph('Frame bytes out / s', 'Bps', 'Bytes of those frames.', [rate('signal_gateway_frame_bytes_out_total', 'pod'), '{{pod}}']),
    graph('Fan-out latency', 's', 'From a NATS message reaching the gateway to its frames handed to uWS for every local subscriber (one message in 8 is timed). Rising p99: the node is saturated, scale out.', [quantile(0.5, 'signal_gateway_fanout_duration_seconds'), 'p50'], [quantile(0.99, 'signal_gateway_fanout_duration_seconds'), 'p99'], [quantile(0.999, 'signal_gateway_fanout_duration_seconds'), 'p99.9']),
    graph('Fan-out latency p99 by pod', 's', 'The same, per gateway: one slow pod is a hot node.', [quantile(0.99, 'signal_gateway_fanout_duration_seconds', 'pod'), '{{pod}}']),
    graph('Timed fan-outs / s', 'ops', 'Messages timed (one in 8) and their mean time.', [`sum by (pod) (rate(signal_gateway_fanout_duration_seconds_count{S}${RATE}))`, '{{pod}} timed'], [`sum by (pod) (rate(signal_gateway_fanout_duration_seconds_sum{S}${RATE})) / clamp_min(sum by (pod) (rate(signal_gateway_fanout_duration_seconds_count{S}${RATE})), 1e-9)`, '{{pod}} mean s']),
  ]],
  ['Gateway: slow consumers', [
    graph('Slow-consumer closes (4008) / s', 'ops', 'Clients closed because their send queue passed half of MAX_BACKPRESSURE_BYTES; see "Backpressure and slow clients".', [rate('signal_gateway_slow_consumer_disconnects_total', 'pod'), '{{pod}}']),
    graph('Bytes queued for clients', 'bytes', 'All client send queues, at the last slow-consumer check.', ['sum by (pod) (signal_gateway_send_queue_bytes{S})', '{{pod}}']),
    graph('Largest client queue', 'bytes', 'The largest single send queue; near MAX_BACKPRESSURE_BYTES / 2 means closes are coming.', ['max by (pod) (signal_gateway_send_queue_largest_bytes{S})', '{{pod}}']),
  ]],
  ['Limits and hostile input', [
    graph('Gateway limits hit / s by limit', 'ops', 'Requests and connections refused by a limit; `limit` is the variable that sets it, in lower case (docs/limits.md).', [rate('signal_gateway_limit_refusals_total', 'limit'), '{{limit}}']),
    graph('emit-api limits hit / s by limit', 'ops', 'Requests refused by a limit or rate (docs/limits.md "emit-api").', [rate('signal_emit_limit_refusals_total', 'limit'), '{{limit}}']),
    graph('NATS messages dropped / s', 'ops', 'Messages a gateway could not handle, by source and reason; reason="failed" is a bug or someone publishing onto NATS directly (see "Isolation").', [rate('signal_gateway_dropped_messages_total', 'source, reason'), '{{source}} {{reason}}']),
    graph('Apps file reloads (gateway) by result', 'none', 'Reloads of the apps file on SIGHUP or a change on disk; result="refused" means the file on disk is NOT in force (see "Reloading the apps file").', [`sum by (result) (increase(signal_gateway_apps_reloads_total{S}${RATE}))`, '{{result}}']),
    graph('Apps file reloads (emit-api) by result', 'none', 'As for the gateways: result="refused" means the deployed apps file is not in force.', [`sum by (result) (increase(signal_emit_apps_reloads_total{S}${RATE}))`, '{{result}}']),
    graph('Revocations applied / s by kind', 'ops', 'Token revocations this gateway learnt from the revocation list (one token by jti, or every token of a user issued before a time); see docs/authorization.md "Revocation and disconnect".', [rate('signal_gateway_revocations_applied_total', 'kind'), '{{kind}}']),
    graph('Connections closed by the server / s by reason', 'ops', 'Connections closed because their token was revoked (4003) or a backend disconnected them (4004).', [rate('signal_gateway_forced_closes_total', 'reason'), '{{reason}}']),
    graph('Invalid envelopes / s', 'ops', 'NATS messages that were not a valid envelope (dropped).', [rate('signal_gateway_invalid_envelopes_total', 'pod'), '{{pod}}']),
  ]],
  ['Presence', [
    graph('Dead gateways swept', 'none', 'Dead gateway nodes whose presence entries a node swept: each is a gateway that died without leaving.', [`sum by (pod) (increase(signal_gateway_presence_sweeps_total{S}${RATE}))`, '{{pod}}']),
    graph('Presence entries swept', 'none', 'Presence entries removed (with leave events) by those sweeps.', [`sum by (pod) (increase(signal_gateway_presence_swept_entries_total{S}${RATE}))`, '{{pod}}']),
    graph('Delete markers purged / s by bucket', 'ops', 'Old delete markers the janitor (one gateway) purged from the presence, online and occupancy buckets; without them nats-server keeps one per connection, identity and channel that ever existed (docs/presence.md "Liveness and repair"). It follows the rate of leaves, disconnects and vacated channels.', [rate('signal_gateway_markers_purged_total', 'bucket'), '{{bucket}}']),
    graph('Presence channels followed', 'none', 'Channels each gateway follows in the presence store (one JetStream consumer each). Every write to the participants stream is checked against every consumer, so this sum is part of the write cost (docs/presence.md "Capacity").', [`sum by (pod) (signal_gateway_presence_feeds{S})`, '{{pod}}']),
    graph('Presence retries / s by operation', 'ops', 'Presence operations retried after a transient JetStream error (a leader election, a timeout); a burst is an election, a steady rate a JetStream in trouble (docs/presence.md "Faults of NATS itself").', [rate('signal_gateway_presence_retries_total', 'operation'), '{{operation}}']),
    graph('Online bucket write failures', 'none', 'Writes of a user\'s first/last connection on a node to ONLINE_BUCKET that failed: webhooks user_online/user_offline may be missing (docs/webhooks.md).', [`sum by (pod) (increase(signal_gateway_online_write_failures_total{S}${RATE}))`, '{{pod}}']),
  ]],
  ['Occupancy', [
    graph('Channels with local connections', 'none', 'Channels with connections on each gateway, one key each in the occupancy bucket (docs/presence.md "Occupancy").', ['sum by (pod) (signal_gateway_occupancy_channels{S})', '{{pod}}']),
    graph('Occupancy writes / s', 'ops', 'Puts and deletes of each gateway\'s counts; result="failed" means counts are stale until NATS answers again (retried once per second per channel).', [rate('signal_gateway_occupancy_writes_total', 'op, result'), '{{op}} {{result}}']),
    graph('Occupancy followed', 'none', 'Occupancy subscriptions of connections, and the channels watched for them (one KV watch each).', ['sum by (pod) (signal_gateway_occupancy_subscriptions{S})', '{{pod}} subscriptions'], ['sum by (pod) (signal_gateway_occupancy_feeds{S})', '{{pod}} channels watched']),
    graph('Occupancy updates / s', 'ops', 'signal.occupancy notifications published, at most one per second per channel per gateway.', [rate('signal_gateway_occupancy_updates_total', 'pod'), '{{pod}}']),
    graph('emit-api NATS messages dropped / s', 'ops', 'Heartbeat records the emit-api could not read (it sums only live gateways\' counts).', [rate('signal_emit_dropped_messages_total', 'source, reason'), '{{source}} {{reason}}']),
  ]],
  ['Channel history', [
    graph('Recoveries by result', 'none', 'Rejoins of channels with a position, and connections recovering their direct messages (docs/recovery.md): recovered, or not (window: the history no longer covers it; epoch: history lost; busy; unavailable: history unreadable). A rise of window: the window is too short for how long clients stay away.', [`sum by (kind, result) (increase(signal_gateway_recoveries_total{S}${RATE}))`, '{{kind}} {{result}}']),
    graph('Recovered messages / s', 'ops', 'Missed messages delivered by recoveries.', [rate('signal_gateway_recovered_messages_total', 'pod'), '{{pod}}']),
    graph('Messages stored in history / s', 'ops', 'Messages to channels that keep history (and direct messages, where kept), stored before delivery: by clients (gateway) and backends (emit-api).', [rate('signal_gateway_history_stored_total', 'pod'), '{{pod}} clients'], [rate('signal_emit_history_stored_total', 'pod'), '{{pod}} emits']),
    graph('History pages read / s', 'ops', 'GET /v1/channels/:channel/history answers.', [rate('signal_emit_history_reads_total', 'pod'), '{{pod}}']),
  ]],
  ['Webhooks', [
    graph('Events produced / s by type', 'ops', 'Events derived from the presence, online and occupancy buckets and from client messages, and stored (docs/webhooks.md).', [rate('signal_webhooks_events_produced_total', 'type'), '{{type}}']),
    graph('Events delivered / s by type', 'ops', 'Events endpoints acknowledged with a 2xx.', [rate('signal_webhooks_events_delivered_total', 'type'), '{{type}}']),
    graph('Requests / s by result', 'reqps', 'Requests to endpoints: ok (2xx), status (another status), error (no answer).', [rate('signal_webhooks_requests_total', 'result'), '{{result}}']),
    graph('Retries and dead letters / s', 'ops', 'Events scheduled again with backoff, and events given up on after WEBHOOK_RETRY_PERIOD_MS (in the dead-letter stream, to replay).', [rate('signal_webhooks_events_retried_total', 'pod'), '{{pod}} retried'], [rate('signal_webhooks_events_dead_lettered_total', 'pod'), '{{pod}} dead-lettered']),
    graph('Delivery latency', 's', 'From the write that caused an event to its endpoint acknowledging it, retries included.', [quantile(0.5, 'signal_webhooks_delivery_latency_seconds'), 'p50'], [quantile(0.99, 'signal_webhooks_delivery_latency_seconds'), 'p99']),
    graph('Endpoints delivered per dispatcher', 'none', 'Endpoints whose lease each dispatcher holds (docs/webhooks.md#delivery): each endpoint is delivered by exactly one; the sum is the number of endpoints.', ['max by (pod) (signal_webhooks_endpoints_owned{S})', '{{pod}}']),
    graph('Endpoint lease changes', 'none', 'Leases acquired, released (handed over to a better-placed dispatcher, or at shutdown) and lost (not renewed within WEBHOOK_LEASE_MS: the process stalled or NATS was away; alert-worthy when it repeats).', [`sum by (change) (increase(signal_webhooks_lease_changes_total{S}${RATE}))`, '{{change}}']),
    graph('Derivation lag', 'none', 'Bucket writes not yet turned into events, per dispatcher; growing means the dispatcher cannot keep up.', ['max by (pod, log) (signal_webhooks_derivation_lag_records{S})', '{{pod}} {{log}}']),
    graph('Derivation log gaps', 'none', 'Log records expired before any dispatcher read them (every dispatcher down past WEBHOOK_LOG_MAX_AGE_MS): events are missing.', [`sum by (pod) (increase(signal_webhooks_log_gaps_total{S}${RATE}))`, '{{pod}}']),
    graph('Messages dropped / s', 'ops', 'Log records or stored events the dispatcher could not handle, by source and reason.', [rate('signal_webhooks_dropped_messages_total', 'source, reason'), '{{source}} {{reason}}']),
    graph('Client messages for webhooks / s', 'ops', 'Client publishes on channels whose namespace sends client messages to webhooks, stored by the gateways in the messages log (stored) or refused to the client as unavailable (failed: the log is full or missing).', [rate('signal_gateway_webhook_client_messages_total', 'result'), '{{result}}']),
    graph('channel_vacated held / s', 'ops', 'channel_vacated events held until the member_removed events of their channel were derived (released), or until WEBHOOK_ORDER_WAIT_MS ran out (expired: that one came before them).', [rate('signal_webhooks_vacated_holds_total', 'result'), '{{result}}']),
    graph('Dead letters replayed / s', 'ops', 'Webhook dead letters stored again for delivery through POST /v1/webhooks/dead-letters/replay (emit-api).', [rate('signal_emit_webhook_replays_total', 'pod'), '{{pod}}']),
    graph('Apps file reloads (webhooks) by result', 'none', 'result="refused" means the deployed apps file (and its endpoints) is not in force.', [`sum by (result) (increase(signal_webhooks_apps_reloads_total{S}${RATE}))`, '{{result}}']),
  ]],
  ['emit-api', [
    graph('Requests / s by status', 'reqps', 'Responses by HTTP status.', [rate('signal_emit_requests_total', 'status'), '{{status}}']),
    graph('Requests / s by route', 'reqps', 'Responses by registered route and method ("unmatched" for unknown paths).', [rate('signal_emit_requests_total', 'route, method'), '{{method}} {{route}}']),
    graph('5xx / s by route', 'reqps', 'Server errors; every 5xx is logged at error level.', [rate('signal_emit_requests_total', 'route, status', ',status=~"5.."'), '{{route}} {{status}}']),
    graph('Latency p99 by route', 's', 'From request arriving to response written.', [quantile(0.99, 'signal_emit_request_duration_seconds', 'route'), '{{route}}']),
    graph('Latency p50 by route', 's', 'From request arriving to response written.', [quantile(0.5, 'signal_emit_request_duration_seconds', 'route'), '{{route}}']),
    graph('Signals accepted / s', 'ops', 'One per signal of a batch.', [rate('signal_emit_signals_total', 'pod'), '{{pod}}']),
    graph('Deliveries published / s', 'ops', 'NATS publishes for accepted signals, one per destination.', [rate('signal_emit_deliveries_total', 'pod'), '{{pod}}']),
  ]],
  ['NATS', [
    graph('Connected', 'none', '1 while the NATS connection is up, 0 while reconnecting; see "NATS outages".', ['min by (pod) (signal_nats_connected{S})', '{{pod}}']),
    graph('Disconnects and reconnects', 'none', 'Over the rate window.', [`sum by (pod) (increase(signal_nats_disconnects_total{S}${RATE}))`, '{{pod}} disconnects'], [`sum by (pod) (increase(signal_nats_reconnects_total{S}${RATE}))`, '{{pod}} reconnects']),
    graph('Messages / s', 'ops', 'Received from and published to NATS.', [rate('signal_nats_messages_in_total', 'pod'), '{{pod}} in'], [rate('signal_nats_messages_out_total', 'pod'), '{{pod}} out']),
    graph('Bytes / s', 'Bps', 'Payload bytes received from and published to NATS.', [rate('signal_nats_bytes_in_total', 'pod'), '{{pod}} in'], [rate('signal_nats_bytes_out_total', 'pod'), '{{pod}} out']),
  ]],
  ['Process', [
    graph('CPU', 'percentunit', 'CPU time per second: 1 is one core. A gateway runs on one core.', [rate('process_cpu_seconds_total', 'pod'), '{{pod}}']),
    graph('Resident memory', 'bytes', 'Compare with the container memory limit.', ['sum by (pod) (process_resident_memory_bytes{S})', '{{pod}}']),
    graph('Heap used', 'bytes', 'V8 heap in use.', ['sum by (pod) (nodejs_heap_size_used_bytes{S})', '{{pod}}']),
    graph('Event-loop lag', 's', 'p99 of event-loop delay; above 100 ms everything on that node is late.', ['max by (pod) (nodejs_eventloop_lag_p99_seconds{S})', '{{pod}} p99'], ['max by (pod) (nodejs_eventloop_lag_seconds{S})', '{{pod}} now']),
    graph('GC time / s', 'percentunit', 'Share of time spent collecting garbage.', [rate('nodejs_gc_duration_seconds_sum', 'pod'), '{{pod}}']),
    graph('Open file descriptors', 'none', 'Sockets included; compare with the limit.', ['sum by (pod) (process_open_fds{S})', '{{pod}}'], ['max by (pod) (process_max_fds{S})', '{{pod}} limit']),
  ]],
];

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

/** Template variables fitting the ServiceMonitors: Prometheus adds namespace, service and pod to every series. */
function variable(name, label, query) {
  return {
    name,
    label,
    type: 'query',
    datasource: DATASOURCE,
    query: { query, refId: `${name}-values` },
    definition: query,
    refresh: 2,
    includeAll: true,
    multi: true,
    allValue: '.*',
    current: { text: 'All', value: '$__all' },
    sort: 1,
  };
}

const withSelector = (expr) => expr.replace(/\{S([,}])/g, (_, next) => `{${SELECTOR}${next === ',' ? ', ' : '}'}`);

export function buildDashboard() {
  const panels = [];
  let id = 1;
  let y = 0;
  for (const [title, members] of ROWS) {
    panels.push({ id: id++, type: 'row', title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const p of members) {
      const [w, h] = p.kind === 'stat' ? [4, 4] : [8, 8];
      if (x + w > 24) {
        x = 0;
        y += rowHeight;
        rowHeight = 0;
      }
      panels.push({
        id: id++,
        type: p.kind,
        title: p.title,
        description: p.description,
        datasource: DATASOURCE,
        gridPos: { h, w, x, y },
        fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
        options: p.kind === 'stat' ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'area' } : { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } },
        targets: p.targets.map(([expr, legendFormat], i) => ({ refId: String.fromCharCode(65 + i), datasource: DATASOURCE, expr: withSelector(expr), legendFormat })),
      });
      x += w;
      rowHeight = Math.max(rowHeight, h);
    }
    y += rowHeight;
  }
  return {
    uid: 'signal-overview',
    title: 'signal',
    description: 'The signal gateway and emit-api: health, connections, deliveries, slow consumers, limits, presence, emit-api, NATS and process. Built by deploy/grafana/dashboard.mjs; see docs/operations.md "Dashboards and alerts".',
    tags: ['signal'],
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-1h', to: 'now' },
    refresh: '30s',
    templating: {
      list: [
        { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: {}, hide: 0 },
        variable('namespace', 'Namespace', 'label_values(signal_nats_connected, namespace)'),
        variable('service', 'Service', 'label_values(signal_nats_connected{namespace=~"$namespace"}, service)'),
        variable('pod', 'Pod', 'label_values(signal_nats_connected{namespace=~"$namespace", service=~"$service"}, pod)'),
      ],
    },
    annotations: { list: [] },
    panels,
  };
}

export const DASHBOARD_FILE = fileURLToPath(new URL('./signal-dashboard.json', import.meta.url));
export const render = () => `${JSON.stringify(buildDashboard(), null, 2)}\n`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(DASHBOARD_FILE, render());
  console.log(`wrote ${DASHBOARD_FILE}`);
}
