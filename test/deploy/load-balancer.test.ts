import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort, writeTempFile } from '@signal/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, sample, scrape } from '../support/admin.js';
import { RpcClient } from '../support/rpc-client.js';
import { emit, keysOf, mintToken, startStack, type Stack } from '../support/stack.js';

const SHUTDOWN_DELAY_MS = 3000;
let stack: Stack;
let haproxy: ChildProcess;
let lbPort: number;
let statsPort: number;
const output: string[] = [];

/**
 * deploy/compose/haproxy.cfg with Compose's names swapped for this machine's loopback ports, and
 * a connection limit this machine's file-descriptor limit allows (Compose raises it for HAProxy):
 * every other directive (balancing, readiness checks, retries, timeouts) is tested as written.
 */
function localConfig(source: string): string {
  let config = source
    .replace(/maxconn \d+/, 'maxconn 2000')
    .replace(/^resolvers docker\n(?:[ \t]+\S.*\n)+/m, '')
    .replace(/ resolvers docker/, '')
    .replace(/default-server check port \d+/, 'default-server check')
    .replace(/bind :8080/, `bind 127.0.0.1:${lbPort}`)
    .replace(/bind :8404/, `bind 127.0.0.1:${statsPort}`);
  stack.gateways.forEach((gateway, i) => {
    config = config.replace(
      new RegExp(`server gateway-${i + 1} gateway-${i + 1}:\\d+`),
      `server gateway-${i + 1} 127.0.0.1:${String(gateway.ready.port)} check port ${String(gateway.ready.adminPort)}`,
    );
  });
  return config;
}

/** Server states as HAProxy's stats page reports them, e.g. { 'gateway-1': 'UP' }. */
async function serverStates(): Promise<Record<string, string>> {
  const csv = await (await fetch(`http://127.0.0.1:${statsPort}/;csv`)).text();
  const rows = csv.split('\n').map((line) => line.split(','));
  const header = rows[0]!;
  const col = (name: string) => header.indexOf(name === 'pxname' ? '# pxname' : name);
  return Object.fromEntries(rows.filter((r) => r[col('pxname')] === 'gateways' && r[col('svname')]!.startsWith('gateway-')).map((r) => [r[col('svname')]!, r[col('status')]!]));
}

beforeAll(async () => {
  stack = await startStack({ gateways: 2, gatewayEnv: { SHUTDOWN_DELAY_MS: String(SHUTDOWN_DELAY_MS), SHUTDOWN_TIMEOUT_MS: '15000' } });
  lbPort = await freePort();
  statsPort = await freePort();
  const source = readFileSync(fileURLToPath(new URL('../../deploy/compose/haproxy.cfg', import.meta.url)), 'utf8');
  const configFile = await writeTempFile('haproxy.cfg', localConfig(source));
  haproxy = spawn('haproxy', ['-db', '-f', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  haproxy.stdout!.on('data', (c: Buffer) => output.push(String(c)));
  haproxy.stderr!.on('data', (c: Buffer) => output.push(String(c)));
  await eventually(
    async () => {
      const states = await serverStates().catch(() => ({}) as Record<string, string>);
      return states['gateway-1'] === 'UP' && states['gateway-2'] === 'UP';
    },
    'HAProxy to see both gateways up',
  );
});
afterAll(async () => {
  if (haproxy && haproxy.exitCode === null) {
    const exited = new Promise((resolve) => haproxy.once('exit', resolve));
    haproxy.kill('SIGTERM');
    await exited;
  }
  await stack?.stop();
});

async function viaLoadBalancer(identity: string): Promise<RpcClient> {
  const token = await mintToken(stack, 'alpha', identity, 'web');
  const client = await RpcClient.connect(`ws://127.0.0.1:${lbPort}/v1/connect?token=${token}`);
  await client.call('signal.join', { id: 'room' });
  return client;
}

/** Which gateway holds a client: its address ends in `<node id>-<n>`. */
function nodeOf(client: RpcClient): string {
  return client.address.split('/')[2]!.split('-')[0]!;
}

describe('the Compose load balancer (deploy/compose/haproxy.cfg) in front of two real gateways', () => {
  it('spreads WebSocket connections, takes a draining gateway out of rotation, and its clients reconnect to the other', async () => {
    const nodes = stack.gateways.map((g) => String(g.ready.node));
    const first = await Promise.all(Array.from({ length: 8 }, (_, i) => viaLoadBalancer(`user${i}`)));
    expect(new Set(first.map(nodeOf))).toEqual(new Set(nodes));

    const draining = stack.gateways[0]!;
    const onDraining = first.filter((c) => nodeOf(c) === nodes[0]);
    const exit = draining.stop('SIGTERM', 30_000);
    // While it drains, every new connection through the load balancer lands on the other gateway.
    const during = await Promise.all(Array.from({ length: 6 }, (_, i) => viaLoadBalancer(`late${i}`)));
    expect(during.map(nodeOf)).toEqual(during.map(() => nodes[1]));
    await eventually(async () => (await serverStates())['gateway-1'] !== 'UP', 'HAProxy to mark the draining gateway down');

    for (const client of onDraining) expect((await client.closed).code).toBe(1001);
    expect(await exit).toBe(0);
    const moved = await Promise.all(onDraining.map((_, i) => viaLoadBalancer(`user${i}-again`)));
    expect(moved.map(nodeOf)).toEqual(moved.map(() => nodes[1]));

    const everyone = [...first.filter((c) => !onDraining.includes(c)), ...during, ...moved];
    expect(sample(await scrape(stack.gateways[1]!), 'signal_gateway_connections')).toBe(everyone.length);
    for (let attempt = 0; ; attempt++) {
      expect((await emit(stack, '/v1/signals', keysOf(stack, 'alpha').secretKey, { to: { channel: 'room' }, message: { attempt } })).status).toBe(202);
      const got = await Promise.all(everyone.map((c) => c.next((f) => f.method === 'signal.publish', 1000).then(() => true, () => false)));
      if (got.every(Boolean)) break;
      if (attempt === 10) throw new Error(`${got.filter((g) => !g).length} clients got nothing through the load balancer`);
    }
    for (const client of everyone) client.close();
    expect(output.join('')).not.toMatch(/\[ALERT\]/);
  });
});
