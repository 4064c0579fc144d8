import { pino } from 'pino';
import { Counter } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { Liveness, Readiness, createMetricsRegistry, exportHealthMetrics, startAdminServer, totalCounter, type AdminServer } from '../src/mod.js';

const log = pino({ level: 'silent' });
const servers: AdminServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

describe('Readiness', () => {
  it('is not ready while starting, ready once started and every check passes', async () => {
    const readiness = new Readiness();
    let natsUp = true;
    readiness.register('nats', () => (natsUp ? { ready: true } : { ready: false, detail: 'down' }));
    expect(await readiness.evaluate()).toMatchObject({ ready: false, checks: { lifecycle: { ready: false, detail: 'starting' } } });
    readiness.markStarted();
    expect((await readiness.evaluate()).ready).toBe(true);
    natsUp = false;
    expect(await readiness.evaluate()).toMatchObject({ ready: false, checks: { nats: { ready: false, detail: 'down' } } });
  });

  it('treats a check that throws or hangs as not ready, naming why', async () => {
    const readiness = new Readiness(100);
    readiness.markStarted();
    readiness.register('bucket', () => Promise.reject(new Error('bucket presence not found')));
    readiness.register('slow', () => new Promise(() => undefined));
    const report = await readiness.evaluate();
    expect(report.ready).toBe(false);
    expect(report.checks.bucket).toEqual({ ready: false, detail: 'bucket presence not found' });
    expect(report.checks.slow).toEqual({ ready: false, detail: 'no answer within 100 ms' });
    expect(() => readiness.register('slow', () => ({ ready: true }))).toThrow(/twice/);
  });
});

describe('Liveness', () => {
  it('is alive while every check passes; a check that throws counts as stuck, naming why', () => {
    const liveness = new Liveness();
    expect(liveness.evaluate()).toEqual({ alive: true, checks: {} });
    liveness.register('input', () => ({ alive: true }));
    liveness.register('broken', () => {
      throw new Error('cannot tell');
    });
    expect(liveness.evaluate()).toEqual({ alive: false, checks: { input: { alive: true }, broken: { alive: false, detail: 'cannot tell' } } });
    expect(() => liveness.register('input', () => ({ alive: true }))).toThrow(/twice/);
  });
});

describe('health metrics', () => {
  it('report every readiness and liveness check as 1 or 0 at each scrape, by check', async () => {
    const registry = createMetricsRegistry();
    const readiness = new Readiness(100);
    const liveness = new Liveness();
    let natsUp = false;
    let stalled = true;
    readiness.register('nats', () => (natsUp ? { ready: true } : { ready: false, detail: 'down' }));
    readiness.register('hangs', () => new Promise(() => undefined));
    liveness.register('nats-input', () => ({ alive: !stalled }));
    exportHealthMetrics(registry, readiness, liveness);

    let text = await registry.metrics();
    expect(text).toContain('signal_readiness_check{check="lifecycle"} 0\n');
    expect(text).toContain('signal_readiness_check{check="nats"} 0\n');
    expect(text).toContain('signal_readiness_check{check="hangs"} 0\n');
    expect(text).toContain('signal_liveness_check{check="nats-input"} 0\n');
    readiness.markStarted();
    natsUp = true;
    stalled = false;
    text = await registry.metrics();
    expect(text).toContain('signal_readiness_check{check="lifecycle"} 1\n');
    expect(text).toContain('signal_readiness_check{check="nats"} 1\n');
    expect(text).toContain('signal_readiness_check{check="hangs"} 0\n');
    expect(text).toContain('signal_liveness_check{check="nats-input"} 1\n');
  });
});

describe('admin server', () => {
  it('serves /healthz, /readyz (200 or 503) and /metrics in Prometheus text format', async () => {
    const readiness = new Readiness();
    const registry = createMetricsRegistry();
    let hot = 0;
    totalCounter(registry, 'test_hot_total', 'a plain number read at scrape time', () => hot);
    const direct = new Counter({ name: 'test_direct_total', help: 'incremented directly', labelNames: ['reason'], registers: [registry] });
    const liveness = new Liveness();
    let stalled = false;
    liveness.register('nats-input', () => (stalled ? { alive: false, detail: 'no self-check message for 20000 ms' } : { alive: true }));
    const admin = await startAdminServer({ host: '127.0.0.1', port: 0, readiness, liveness, registry, log });
    servers.push(admin);
    const base = `http://127.0.0.1:${admin.port}`;

    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    stalled = true;
    const unhealthy = await fetch(`${base}/healthz`);
    expect(unhealthy.status).toBe(503);
    expect(await unhealthy.json()).toEqual({
      status: 'unhealthy',
      checks: { 'nats-input': { alive: false, detail: 'no self-check message for 20000 ms' } },
    });
    stalled = false;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const starting = await fetch(`${base}/readyz`);
    expect(starting.status).toBe(503);
    expect(await starting.json()).toEqual({ status: 'not ready', checks: { lifecycle: { ready: false, detail: 'starting' } } });
    readiness.markStarted();
    expect((await fetch(`${base}/readyz`)).status).toBe(200);

    hot = 5;
    direct.inc({ reason: 'expired' }, 2);
    let res = await fetch(`${base}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    let text = await res.text();
    expect(text).toContain('# TYPE test_hot_total counter\ntest_hot_total 5\n');
    expect(text).toContain('test_direct_total{reason="expired"} 2');
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    hot = 12;
    text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toContain('test_hot_total 12\n');

    res = await fetch(`${base}/nope`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toMatch(/try \/healthz, \/readyz or \/metrics/);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('names ADMIN_PORT when the port is taken', async () => {
    const first = await startAdminServer({ host: '127.0.0.1', port: 0, readiness: new Readiness(), liveness: new Liveness(), registry: createMetricsRegistry(), log });
    servers.push(first);
    await expect(
      startAdminServer({ host: '127.0.0.1', port: first.port, readiness: new Readiness(), liveness: new Liveness(), registry: createMetricsRegistry(), log }),
    ).rejects.toThrow(/ADMIN_PORT/);
  });
});
