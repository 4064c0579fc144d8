import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { generateApp } from '@signal/core';
import { startNats, startService, writeTempFile, type NatsServer, type ServiceProcess } from '@signal/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminUrl, eventually, readyz } from '../support/admin.js';
import { GATEWAY_ENTRY } from '../support/stack.js';

/**
 * A TCP proxy between the gateway and nats-server that can stop passing the server's bytes to
 * the gateway while both sockets stay open: the gateway's NATS client still says "connected",
 * but nothing arrives. What it holds back it passes on when resumed.
 */
class StallingProxy {
  private readonly pairs = new Set<{ client: Socket; upstream: Socket; held: Buffer[] }>();
  private stalled = false;
  private constructor(private readonly server: Server) {}

  static async start(targetPort: number): Promise<StallingProxy> {
    const server = createServer();
    const proxy = new StallingProxy(server);
    server.on('connection', (client: Socket) => proxy.accept(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `nats://127.0.0.1:${String((this.server.address() as { port: number }).port)}`;
  }

  stall(): void {
    this.stalled = true;
  }

  resume(): void {
    this.stalled = false;
    for (const pair of this.pairs) for (const chunk of pair.held.splice(0)) pair.client.write(chunk);
  }

  async close(): Promise<void> {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(client: Socket, targetPort: number): void {
    const upstream = tcpConnect(targetPort, '127.0.0.1');
    const pair = { client, upstream, held: [] as Buffer[] };
    this.pairs.add(pair);
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => (this.stalled ? pair.held.push(chunk) : client.write(chunk)));
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('close', end);
      socket.on('error', end);
    }
  }
}

let nats: NatsServer;
let proxy: StallingProxy;
let gateway: ServiceProcess;
const STALL_TIMEOUT_MS = 1000;

beforeAll(async () => {
  nats = await startNats();
  proxy = await StallingProxy.start(nats.port);
  const appsFile = await writeTempFile('apps.json', JSON.stringify({ apps: [generateApp('alpha')] }));
  gateway = await startService({
    entry: GATEWAY_ENTRY,
    name: 'gateway',
    env: {
      NATS_URL: proxy.url,
      APPS_FILE: appsFile,
      PORT: '0',
      ADMIN_PORT: '0',
      LOG_LEVEL: 'info',
      NATS_SELFCHECK_INTERVAL_MS: '100',
      NATS_STALL_TIMEOUT_MS: String(STALL_TIMEOUT_MS),
    },
  });
});
afterAll(async () => {
  await gateway?.stop();
  await proxy?.close();
  await nats?.stop();
});

async function healthz(): Promise<{ status: number; body: { status: string; checks?: Record<string, { alive: boolean; detail?: string }> } }> {
  const res = await fetch(`${adminUrl(gateway)}/healthz`);
  return { status: res.status, body: (await res.json()) as never };
}

describe('liveness checks the NATS input end to end', () => {
  it('answers 503 while the input is stalled on a connection that stays up, and 200 once messages flow again', async () => {
    await eventually(async () => (await healthz()).status === 200, 'healthz to be 200 at start');

    proxy.stall();
    await eventually(async () => (await healthz()).status === 503, '/healthz to report the stalled input');
    const stalled = await healthz();
    expect(stalled.body).toMatchObject({
      status: 'unhealthy',
      checks: { 'nats-input': { alive: false, detail: expect.stringMatching(/NATS input stalled.*NATS_STALL_TIMEOUT_MS=1000/) } },
    });
    // The client itself still believes it is connected: only the end-to-end check sees the stall.
    expect((await readyz(gateway)).body.checks.nats).toMatchObject({ ready: true });

    proxy.resume();
    await eventually(async () => (await healthz()).status === 200, '/healthz to recover once the input flows');
    expect(gateway.pid).toBeGreaterThan(0);
  });

  it('stays 200 during a real NATS outage, which readiness reports instead', async () => {
    await nats.kill();
    await eventually(async () => (await readyz(gateway)).status === 503, 'readyz to report NATS down');
    // Wait until the outage has lasted well past the stall timeout, then liveness must still hold.
    await eventually(async () => {
      const detail = (await readyz(gateway)).body.checks.nats?.detail ?? '';
      const seconds = Number(/for (\d+) s/.exec(detail)?.[1] ?? 0);
      return seconds * 1000 > STALL_TIMEOUT_MS * 2;
    }, 'the outage to outlast the stall timeout');
    const during = await healthz();
    expect(during.status).toBe(200);
    expect(during.body).toEqual({ status: 'ok' });

    // The restarted server has lost the presence buckets (kept in memory): readiness comes back
    // only once the gateway has created them again and its heartbeat works.
    await nats.restart();
    await eventually(async () => (await readyz(gateway)).status === 200, 'readyz to recover', 30_000);
    expect((await healthz()).status).toBe(200);
  }, 60_000);
});
