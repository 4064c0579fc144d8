import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { channelSubject } from '@signal/core';
import type { ServiceProcess } from '@signal/harness';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminUrl, eventually } from '../support/admin.js';
import { withHistory } from '../history/support.js';
import { RpcClient } from '../support/rpc-client.js';
import { addScrape, checkExpression, checkLabelValuesQuery, checkTemplateLabels, emptyExported, selectorsOf, type Exported } from '../support/promql-check.js';
import { connectNative, emit, keysOf, serviceEnv, startStack, type Stack } from '../support/stack.js';
import { startService } from '@signal/harness';
import { Receiver, SECRET, WEBHOOKS_ENTRY } from '../webhooks/support.js';

/**
 * The Grafana dashboard (deploy/grafana) and the alert rules (deploy/components/prometheus-operator)
 * against what a running stack really exports: every query names real metrics and labels, and
 * every signal_* metric has a panel.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
const GENERATOR = `${root}deploy/grafana/dashboard.mjs`;
const RULES_FILE = 'deploy/components/prometheus-operator/prometheus-rules.yaml';
const DOCS = ['docs/operations.md', 'docs/limits.md', 'docs/webhooks.md'];

/* eslint-disable @typescript-eslint/no-explicit-any -- dashboard JSON and rule YAML are checked field by field below */
type Obj = any;

const dashboard: Obj = JSON.parse(readFileSync(`${root}deploy/grafana/signal-dashboard.json`, 'utf8'));
const rules: Obj = parse(readFileSync(`${root}${RULES_FILE}`, 'utf8'));
const panels: Obj[] = dashboard.panels;
const panelQueries = panels.flatMap((p) => (p.targets ?? []).map((t: Obj) => ({ panel: `panel ${p.id} "${p.title}"`, expr: String(t.expr) })));
const variableQueries: Obj[] = dashboard.templating.list.filter((v: Obj) => v.type === 'query');
const alertRules: Obj[] = rules.spec.groups.flatMap((g: Obj) => g.rules);

/** GitHub's anchor for a Markdown heading. */
const anchorOf = (heading: string) => heading.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-');
const anchors = new Map(DOCS.map((doc) => [doc, new Set([...readFileSync(`${root}${doc}`, 'utf8').matchAll(/^#+ (.+)$/gm)].map((m) => anchorOf(m[1]!)))]));

let stack: Stack;
let webhooks: ServiceProcess;
let receiver: Receiver;
const exported: Exported = emptyExported();

async function metricsText(service: ServiceProcess): Promise<string> {
  const res = await fetch(`${adminUrl(service)}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}

/** Traffic that makes every labelled counter print at least one series, so its label names show. */
async function driveTraffic(): Promise<void> {
  const { secretKey } = keysOf(stack, 'alpha');
  const ann = await connectNative(stack, { identity: 'ann', device: 'web', gateway: 0 });
  const ben = await connectNative(stack, { identity: 'ben', device: 'web', gateway: 1 });
  for (const client of [ann, ben]) await client.call('signal.join', { id: 'room', presence: true });
  // Deliveries: through emit-api, fanned out on both gateways (the fan-out histogram times one in 8).
  for (let i = 0; i < 16; i++) expect((await emit(stack, '/v1/signals', secretKey, { to: { channel: 'room' }, event: 'e', message: { i } })).status).toBe(202);
  await Promise.all([ann, ben].map((c) => c.next((f) => (f.params?.message as { i?: number } | undefined)?.i === 15)));
  // A limit on each service: a frame nested too deep, a body too large (MAX_BODY_BYTES=1024 below).
  let deep: unknown = 1;
  for (let i = 0; i < 200; i++) deep = [deep];
  expect((await ann.request('signal.publish', { id: 'room', message: deep })).error).toBeDefined();
  expect((await emit(stack, '/v1/signals', secretKey, { to: { channel: 'room' }, event: 'e', message: 'x'.repeat(4096) })).status).toBe(413);
  // An apps file reload on each service (SIGHUP): reloads by result.
  for (const service of [...stack.gateways, stack.emitApi, webhooks]) process.kill(service.pid, 'SIGHUP');
  // A revocation closing a connection with 4003: revocations applied and forced closes.
  const cat = await connectNative(stack, { identity: 'cat', device: 'web', gateway: 0 });
  expect((await emit(stack, '/v1/revocations', secretKey, { user: 'cat' })).status).toBe(201);
  expect((await cat.closed).code).toBe(4003);
  // A refused connection, a closed one, and a NATS message the gateways must drop.
  await expect(RpcClient.connect(`${stack.gatewayUrl(0)}/v1/connect?token=not-a-token`)).rejects.toThrow(/^401 /);
  ben.ws.close();
  await ben.closed;
  const raw = await connect({ servers: stack.nats.url, name: 'dashboards-test' });
  raw.publish(channelSubject({ app: 'alpha', env: 'test' }, 'room'), 'not an envelope');
  // A heartbeat record nobody can read: the emit-api's heartbeat watch (occupancy reads) drops it.
  raw.publish('$KV.signal_presence_nodes.garbage', 'not a record');
  // And one the webhooks dispatcher must drop: not an event, on an events subject it delivers.
  for (let p = 0; p < 16; p++) raw.publish(`signal_webhooks.alpha.test.${p}`, 'not an event');
  await raw.flush();
  await raw.close();
  // A recovery (a rejoin with a position) on a channel that keeps history: recoveries by result.
  const dan = await connectNative(stack, { identity: 'dan', device: 'web', gateway: 0 });
  const { position } = (await dan.call('signal.join', { id: 'hist-dash' })) as { position: unknown };
  const back = await connectNative(stack, { identity: 'dan', device: 'web', gateway: 0 });
  expect(await back.call('signal.join', { id: 'hist-dash', since: position })).toMatchObject({ recovered: true });
}

beforeAll(async () => {
  receiver = await Receiver.start();
  stack = await startStack({
    gateways: 2,
    emitEnv: { MAX_BODY_BYTES: '1024' },
    configureApps: (apps) => {
      withHistory(10)(apps);
      apps[0]!.environments.test!.webhooks = [{ url: receiver.url, secrets: [SECRET], events: ['user_online', 'member_added'] }];
    },
  });
  webhooks = await startService({ entry: WEBHOOKS_ENTRY, name: 'webhooks', env: { ...serviceEnv(stack), WEBHOOK_STORAGE: 'memory' } });
  await driveTraffic();
  // Every counter above is read at scrape time: wait until each labelled series has printed.
  const wanted: Array<[string, ServiceProcess, string]> = [
    ['gateway-0', stack.gateways[0]!, 'signal_gateway_limit_refusals_total{limit='],
    ['gateway-0', stack.gateways[0]!, 'signal_gateway_dropped_messages_total{source='],
    ['gateway-0', stack.gateways[0]!, 'signal_gateway_connections_refused_total{reason='],
    ['gateway-1', stack.gateways[1]!, 'signal_gateway_connections_closed_total{code='],
    ['gateway-0', stack.gateways[0]!, 'signal_gateway_fanout_duration_seconds_bucket{le='],
    ['gateway-0', stack.gateways[0]!, 'signal_gateway_revocations_applied_total{kind='],
    ['gateway-0', stack.gateways[0]!, 'signal_gateway_forced_closes_total{reason='],
    ['gateway-0', stack.gateways[0]!, 'signal_gateway_apps_reloads_total{result='],
    ['gateway-0', stack.gateways[0]!, 'signal_gateway_recoveries_total{kind='],
    ['emit-api', stack.emitApi, 'signal_emit_apps_reloads_total{result='],
    ['emit-api', stack.emitApi, 'signal_emit_limit_refusals_total{limit='],
    ['emit-api', stack.emitApi, 'signal_emit_request_duration_seconds_bucket{le='],
    ['emit-api', stack.emitApi, 'signal_emit_dropped_messages_total{source='],
    ['gateway-0', stack.gateways[0]!, 'signal_gateway_occupancy_writes_total{op='],
    ['webhooks', webhooks, 'signal_webhooks_events_produced_total{type='],
    ['webhooks', webhooks, 'signal_webhooks_events_delivered_total{type='],
    ['webhooks', webhooks, 'signal_webhooks_requests_total{result='],
    ['webhooks', webhooks, 'signal_webhooks_dropped_messages_total{source='],
    ['webhooks', webhooks, 'signal_webhooks_apps_reloads_total{result='],
    ['webhooks', webhooks, 'signal_webhooks_derivation_lag_records{log='],
    ['webhooks', webhooks, 'signal_webhooks_vacated_holds_total{result='],
    ['gateway-0', stack.gateways[0]!, 'signal_gateway_webhook_client_messages_total{result='],
  ];
  for (const [name, service, prefix] of wanted) await eventually(async () => (await metricsText(service)).includes(prefix), `${prefix} on ${name}`);
  for (const gateway of stack.gateways) addScrape(exported, 'gateway', await metricsText(gateway));
  addScrape(exported, 'emit-api', await metricsText(stack.emitApi));
  addScrape(exported, 'webhooks', await metricsText(webhooks));
});
afterAll(async () => {
  await webhooks?.stop();
  await receiver?.stop();
  await stack?.stop();
});

describe('the PromQL checker', () => {
  it('finds metric names and labels the way Prometheus parses them, and names what is wrong', () => {
    const fake = emptyExported();
    addScrape(fake, 'x', '# TYPE a_total counter\na_total{limit="x"} 1\n# TYPE h_seconds histogram\nh_seconds_bucket{route="/",le="+Inf"} 1\nh_seconds_sum{route="/"} 1\nh_seconds_count{route="/"} 1\n');
    expect(selectorsOf('sum by (limit) (rate(a_total{pod=~"$pod"}[$__rate_interval])) / on () group_left max(up)').selectors).toEqual([
      { metric: 'a_total', labels: ['pod'] },
      { metric: 'up', labels: [] },
    ]);
    expect(checkExpression('histogram_quantile(0.99, sum by (le, route) (rate(h_seconds_bucket[5m])))', fake)).toEqual([]);
    expect(checkExpression('rate(b_total[5m])', fake)).toEqual(['rate(b_total[5m])\n    → names b_total, which neither service exports']);
    expect(checkExpression('a_total{code="1"}', fake)[0]).toMatch(/label "code", which a_total does not carry/);
    expect(checkExpression('sum by (route) (a_total)', fake)[0]).toMatch(/groups by label "route", which none of a_total carries/);
    expect(checkExpression('sum(h_seconds)', fake)[0]).toMatch(/names h_seconds, which/);
    expect(checkExpression('sum(rate(a_total[5m])', fake)[0]).toMatch(/does not parse/);
    expect(checkExpression('{__name__="a_total"}', fake)[0]).toMatch(/names no metric/);
    // What an alert's $labels can use: what the expression keeps.
    expect(checkTemplateLabels('sum by (pod, limit) (rate(a_total[5m])) > 0.1', ['pod', 'limit'], fake)).toEqual([]);
    expect(checkTemplateLabels('sum by (pod) (rate(a_total[5m])) > 0.1', ['limit'], fake)).toEqual(['uses $labels.limit, which the expression aggregates away (it keeps pod)']);
    expect(checkTemplateLabels('a_total > 1 and on (pod) up', ['limit', 'pod'], fake)).toEqual([]);
    expect(checkTemplateLabels('a_total > 1', ['route'], fake)).toEqual(['uses $labels.route, which no metric in the expression carries']);
    expect(checkTemplateLabels('sum by (pod, limit) (a_total) or sum by (pod) (a_total)', ['limit'], fake)[0]).toMatch(/aggregates away \(it keeps pod\)/);
    expect(checkTemplateLabels('histogram_quantile(0.9, sum by (le, route) (rate(h_seconds_bucket[5m]))) > 1', ['route', 'le'], fake)).toEqual([
      'uses $labels.le, which the expression aggregates away (it keeps route)',
    ]);
  });
});

describe('Grafana dashboard (deploy/grafana/signal-dashboard.json)', () => {
  it('is what deploy/grafana/dashboard.mjs builds', async () => {
    const { render } = (await import(GENERATOR)) as { render(): string };
    expect(readFileSync(`${root}deploy/grafana/signal-dashboard.json`, 'utf8') === render(), 'the JSON file is out of date: run `node deploy/grafana/dashboard.mjs` and commit it').toBe(true);
  });

  it('every query names only metrics and labels the services export', () => {
    const problems = [
      ...panelQueries.flatMap(({ panel, expr }) => checkExpression(expr, exported).map((p) => `${panel}: ${p}`)),
      ...variableQueries.flatMap((v) => checkLabelValuesQuery(v.query.query, exported).map((p) => `variable $${v.name}: ${p}`)),
    ];
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('every selector in a panel is filtered by the namespace, service and pod variables', () => {
    const problems = panelQueries.flatMap(({ panel, expr }) =>
      selectorsOf(expr)
        .selectors.filter((s) => !['namespace', 'service', 'pod'].every((l) => s.labels.includes(l)))
        .map((s) => `${panel}: ${s.metric} in ${expr}`),
    );
    expect(problems, `selectors without {S} in deploy/grafana/dashboard.mjs:\n${problems.join('\n')}`).toEqual([]);
  });

  it('every signal_* metric the services export has a panel', () => {
    const families = new Map<string, Set<string>>();
    for (const { family, services } of exported.series.values()) if (family.startsWith('signal_')) families.set(family, services);
    expect(families.size).toBeGreaterThan(30);
    const shown = new Set(panelQueries.flatMap(({ expr }) => selectorsOf(expr).selectors.map((s) => exported.series.get(s.metric)?.family)));
    const missing = [...families].filter(([family]) => !shown.has(family)).map(([family, services]) => `${family} (exported by ${[...services].join(' and ')})`);
    expect(missing, `no panel shows: ${missing.join(', ')}. Add one line for each to the row it belongs to in deploy/grafana/dashboard.mjs, then run \`node deploy/grafana/dashboard.mjs\``).toEqual([]);
  });

  it('has a Prometheus data-source variable, namespace/service/pod variables, unique panel ids and a valid grid', () => {
    const variables = dashboard.templating.list;
    expect(variables.find((v: Obj) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(variableQueries.map((v) => v.name)).toEqual(['namespace', 'service', 'pod']);
    const ids = panels.map((p) => p.id);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i), 'duplicate panel ids').toEqual([]);
    const problems: string[] = [];
    for (const p of panels) {
      const { x, y, w, h } = p.gridPos ?? {};
      if (![x, y, w, h].every(Number.isInteger) || x < 0 || y < 0 || w < 1 || h < 1 || x + w > 24) problems.push(`panel ${p.id} "${p.title}": gridPos ${JSON.stringify(p.gridPos)}`);
      if (p.type === 'row') continue;
      if (p.datasource?.uid !== '${datasource}') problems.push(`panel ${p.id} "${p.title}": datasource is not the $datasource variable`);
      if (!p.description) problems.push(`panel ${p.id} "${p.title}": no description`);
      const refIds = (p.targets ?? []).map((t: Obj) => t.refId);
      if (refIds.length === 0 || new Set(refIds).size !== refIds.length) problems.push(`panel ${p.id} "${p.title}": targets ${JSON.stringify(refIds)}`);
    }
    for (const [i, a] of panels.entries()) {
      for (const b of panels.slice(i + 1)) {
        const overlap = a.gridPos.x < b.gridPos.x + b.gridPos.w && b.gridPos.x < a.gridPos.x + a.gridPos.w && a.gridPos.y < b.gridPos.y + b.gridPos.h && b.gridPos.y < a.gridPos.y + a.gridPos.h;
        if (overlap) problems.push(`panels ${a.id} "${a.title}" and ${b.id} "${b.title}" overlap`);
      }
    }
    expect(problems, problems.join('\n')).toEqual([]);
    // Rows in reading order: each row header comes before its panels, top-down.
    expect(panels.map((p) => p.gridPos.y)).toEqual([...panels.map((p) => p.gridPos.y)].sort((a, b) => a - b));
  });
});

describe(`alert rules (${RULES_FILE})`, () => {
  it('satisfy the PrometheusRule schema; every rule has a severity, a summary and a description linking the docs', () => {
    expect(() => new PrometheusRule(rules as never).validate()).not.toThrow();
    expect(alertRules.length).toBeGreaterThanOrEqual(10);
    const problems: string[] = [];
    const names = alertRules.map((r) => r.alert);
    for (const rule of alertRules) {
      const where = `alert ${rule.alert ?? JSON.stringify(rule)}`;
      if (!rule.alert) problems.push(`${where}: not an alerting rule`);
      if (!['critical', 'warning', 'info'].includes(rule.labels?.severity)) problems.push(`${where}: severity ${rule.labels?.severity} (critical, warning or info)`);
      if (!rule.annotations?.summary) problems.push(`${where}: no summary`);
      const links = [...String(rule.annotations?.description ?? '').matchAll(/(docs\/[\w-]+\.md)(?:#([\w-]+))?/g)];
      if (links.length === 0) problems.push(`${where}: the description links no docs/*.md section`);
      for (const [link, doc, anchor] of links) {
        if (!anchors.has(doc!)) problems.push(`${where}: links ${link}, which is not one of ${DOCS.join(', ')}`);
        else if (anchor && !anchors.get(doc!)!.has(anchor)) problems.push(`${where}: links ${link}, but ${doc} has no heading with that anchor`);
      }
    }
    expect(names.filter((n, i) => names.indexOf(n) !== i), 'duplicate alert names').toEqual([]);
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('every expression names only metrics and labels the services export, and every $labels in a template is grouped by', () => {
    const problems = alertRules.flatMap((rule) => checkExpression(String(rule.expr), exported).map((p) => `alert ${rule.alert}: ${p}`));
    for (const rule of alertRules) {
      const used = [...JSON.stringify(rule.annotations).matchAll(/\$labels\.(\w+)/g)].map((m) => m[1]!);
      problems.push(...checkTemplateLabels(String(rule.expr), used, exported).map((p) => `alert ${rule.alert}: ${String(rule.expr)}\n    → ${p}`));
    }
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('cover what an operator is woken for', () => {
    const text = alertRules.map((r) => String(r.expr)).join('\n');
    for (const metric of ['signal_nats_connected', 'signal_readiness_check', 'signal_liveness_check', 'up', 'signal_gateway_slow_consumer_disconnects_total', 'signal_gateway_presence_sweeps_total', 'signal_emit_requests_total', 'signal_gateway_limit_refusals_total', 'signal_emit_limit_refusals_total', 'signal_gateway_dropped_messages_total', 'nodejs_eventloop_lag_p99_seconds']) {
      expect(selectorsOf(text.replace(/\n/g, ' or ')).selectors.map((s) => s.metric), `no alert on ${metric}`).toContain(metric);
    }
  });
});

