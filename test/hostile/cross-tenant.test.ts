import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminUrl, sample, scrape } from '../support/admin.js';
import { RpcClient } from '../support/rpc-client.js';
import { connectNative, emit, keysOf, mintToken, startStack, type Stack } from '../support/stack.js';
import { StelaceClient, gatewayHttpUrl } from '../support/stelace-client.js';

/**
 * Each attack of issue 9, made by app `beta` (its users, its public key, its backend), while
 * app `alpha`'s user has a connection on each of two gateways. Throughout every attack and
 * after it, a backend emit to alpha's user must reach both connections within a second, and
 * both gateways must stay healthy. Limits are set small so each attack reaches them quickly;
 * test/limits/ checks each limit exactly.
 */
const ALPHA_DEADLINE_MS = 1000;

let stack: Stack;
let alpha: RpcClient[];

beforeAll(async () => {
  stack = await startStack({
    gateways: 2,
    gatewayEnv: {
      MAX_CONNECTIONS_PER_ENV: '30',
      MAX_CHANNELS_PER_CONNECTION: '50',
    },
    emitEnv: { RATE_LIMIT_PER_KEY: '50', RATE_LIMIT_BURST: '50', HTTP_HEADERS_TIMEOUT_MS: '1000', HTTP_REQUEST_TIMEOUT_MS: '2000' },
  });
  alpha = await Promise.all([0, 1].map((gateway) => connectNative(stack, { identity: 'canary', device: `d${gateway}`, gateway })));
}, 60_000);

afterAll(async () => {
  for (const client of alpha ?? []) client.close();
  await stack?.stop();
});

/** A backend emit to alpha's user reaches its connections on both gateways within the deadline. */
async function alphaServed(): Promise<void> {
  const marker = `canary-${Math.random().toString(36).slice(2)}`;
  const { status } = await emit(stack, '/v1/signals', keysOf(stack, 'alpha').secretKey, { to: { user: 'canary' }, event: 'canary', message: marker });
  expect(status).toBe(202);
  await Promise.all(alpha.map((client) => client.next((f) => f.params?.message === marker, ALPHA_DEADLINE_MS)));
}

/**
 * Runs the attack while alpha is checked over and over (a round every 50 ms at most, like a
 * busy but legitimate backend); then alpha once more and both gateways' liveness.
 */
async function underAttack(attack: () => Promise<void>): Promise<void> {
  let attacking = true;
  const watch = (async () => {
    let rounds = 0;
    while (attacking) {
      const pace = new Promise((resolve) => setTimeout(resolve, 50));
      await alphaServed();
      await pace;
      rounds++;
    }
    return rounds;
  })();
  try {
    await attack();
  } finally {
    attacking = false;
  }
  expect(await watch).toBeGreaterThan(0);
  await alphaServed();
  for (const gateway of stack.gateways) expect((await fetch(`${adminUrl(gateway)}/healthz`)).status).toBe(200);
}

async function betaUser(identity: string, gateway = 0): Promise<RpcClient> {
  return connectNative(stack, { identity, device: 'evil', gateway, app: 'beta' });
}

function nested(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

describe('hostile traffic from app beta never degrades app alpha', () => {
  it('a frame nested 10,000 deep is refused with an error naming the limit', async () => {
    const attacker = await betaUser('deep');
    await attacker.call('signal.join', { id: 'room' });
    await underAttack(async () => {
      attacker.ws.send(`{"jsonrpc":"2.0","id":7,"method":"signal.publish","params":{"id":"room","v":${nested(10_000)}}}`);
      const answer = await attacker.next((f) => f.id === 7);
      expect(answer.error?.data?.code).toBe('invalid_json');
      expect(answer.error?.message).toMatch(/MAX_JSON_DEPTH/);
      // The connection stays usable.
      expect(await attacker.call('signal.publish', { id: 'room', text: 'fine' })).toEqual({});
    });
    attacker.close();
  });

  it('5,000 joins from a publishable-key connection: refused past the channel limit and the rate, then closed with 4029', async () => {
    const before = await scrape(stack.gateways[1]!);
    const anonymous = await RpcClient.connect(`${stack.gatewayUrl(1)}/v1/connect?key=${keysOf(stack, 'beta').publishableKey}`);
    await underAttack(async () => {
      for (let i = 0; i < 5000; i++) anonymous.ws.send(JSON.stringify({ jsonrpc: '2.0', id: i, method: 'signal.join', params: { id: `c${i}` } }));
      expect((await anonymous.closed).code).toBe(4029);
    });
    const refusals = new Set(anonymous.frames.filter((f) => f.error).map((f) => f.error!.data?.code));
    expect(refusals).toEqual(new Set(['limit_exceeded', 'rate_limited']));
    expect(anonymous.frames.filter((f) => f.result !== undefined).length).toBeLessThanOrEqual(50);
    const after = await scrape(stack.gateways[1]!);
    const counted = (name: string, limit: string) => sample(after, name, { limit }) - sample(before, name, { limit });
    expect(counted('signal_gateway_limit_refusals_total', 'max_channels_per_connection')).toBeGreaterThan(0);
    expect(counted('signal_gateway_limit_refusals_total', 'join_rate')).toBeGreaterThan(0);
    // Its subscriptions went with it: the node holds only alpha's user, device and broadcast subjects.
    expect(sample(after, 'signal_gateway_subjects')).toBeLessThanOrEqual(sample(before, 'signal_gateway_subjects'));
  });

  it('a Stelace authentication answer listing 3,000 channels is refused', async () => {
    const client = new StelaceClient(gatewayHttpUrl(stack), 'v4');
    await underAttack(async () => {
      await client.authenticate({ publishableKey: keysOf(stack, 'beta').publishableKey, channels: Array.from({ length: 3000 }, (_, i) => `c${i}`) });
      expect(await client.disconnected).toBe('io server disconnect');
    });
    client.close();
  });

  it('20,000 publishes in one burst: refused past the rate, then the connection is closed with 4029', async () => {
    const attacker = await betaUser('flood', 1);
    await attacker.call('signal.join', { id: 'flood' });
    await underAttack(async () => {
      const frame = JSON.stringify({ jsonrpc: '2.0', method: 'signal.publish', params: { id: 'flood', text: 'x' } });
      for (let i = 0; i < 20_000 && attacker.ws.readyState === attacker.ws.OPEN; i++) attacker.ws.send(frame);
      expect((await attacker.closed).code).toBe(4029);
    });
    expect(attacker.frames.some((f) => f.error?.data?.code === 'rate_limited')).toBe(true);
  });

  it("a connection flood fills beta's share of a node; alpha still connects there", async () => {
    const token = await mintToken(stack, 'beta', 'many');
    const opened: RpcClient[] = [];
    let refusal = '';
    await underAttack(async () => {
      for (let i = 0; i < 40 && refusal === ''; i++) {
        try {
          opened.push(await RpcClient.connect(`${stack.gatewayUrl()}/v1/connect?token=${token}`));
        } catch (error) {
          refusal = String(error);
        }
      }
    });
    expect(refusal).toMatch(/429/);
    const late = await connectNative(stack, { identity: 'late', device: 'd', gateway: 0 });
    late.close();
    for (const client of opened) client.close();
  });

  it("a backend flooding the emit API gets 429 with Retry-After; alpha's backend is not slowed", async () => {
    const beta = keysOf(stack, 'beta').secretKey;
    await underAttack(async () => {
      const answers = await Promise.all(
        Array.from({ length: 200 }, () =>
          fetch(`${stack.emitUrl}/v1/signals`, {
            method: 'POST',
            headers: { authorization: `Bearer ${beta}`, 'content-type': 'application/json' },
            body: JSON.stringify({ to: { channel: 'x' }, message: 1 }),
          }),
        ),
      );
      const limited = answers.filter((res) => res.status === 429);
      expect(limited.length).toBeGreaterThan(0);
      expect(Number(limited[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(answers.every((res) => res.status === 202 || res.status === 429)).toBe(true);
      await Promise.all(answers.map((res) => res.body?.cancel()));
    });
  });

  it('a body nested 20,000 deep gets 400, never 500', async () => {
    await underAttack(async () => {
      // beta's live key: its test key's requests were spent by the flood above.
      const { status, body } = await emit(stack, '/v1/signals', keysOf(stack, 'beta', 'live').secretKey, `{"to":{"channel":"x"},"message":${nested(20_000)}}`);
      expect(status).toBe(400);
      expect(String(body?.message)).toMatch(/MAX_JSON_DEPTH/);
    });
  });

  it('trickling HTTP connections are closed by the emit API; alpha keeps emitting', async () => {
    const port = Number(new URL(stack.emitUrl).port);
    await underAttack(async () => {
      const answers = Array.from({ length: 25 }, () => {
        const socket = net.connect(port, '127.0.0.1', () => socket.write('POST /v1/signals HTTP/1.1\r\nHost: x\r\n'));
        const drip = setInterval(() => socket.write('X-a: b\r\n'), 200);
        let received = '';
        socket.on('data', (data) => (received += String(data)));
        socket.on('error', () => undefined);
        return new Promise<string>((resolve) => socket.on('close', () => resolve(received))).finally(() => clearInterval(drip));
      });
      for (const answer of await Promise.all(answers)) expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    });
  });
});
