import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminUrl, eventually, readyz } from '../support/admin.js';
import { RpcClient } from '../support/rpc-client.js';
import { connectNative, emit, keysOf, mintToken, startStack, type Stack } from '../support/stack.js';

const DELAY_MS = 2000;
const TIMEOUT_MS = 15_000;
let stack: Stack;

beforeAll(async () => {
  const env = { SHUTDOWN_DELAY_MS: String(DELAY_MS), SHUTDOWN_TIMEOUT_MS: String(TIMEOUT_MS) };
  stack = await startStack({ gateways: 2, gatewayEnv: env, emitEnv: env });
});
afterAll(async () => {
  await stack?.stop();
});

async function connect(gateway: number, identity: string): Promise<RpcClient> {
  const client = await connectNative(stack, { identity, device: 'web', gateway });
  await client.call('signal.join', { id: 'room' });
  return client;
}

describe('SIGTERM on a gateway', () => {
  it('reports not-ready, refuses new connections, keeps serving its clients, then closes them with 1001 and exits 0', async () => {
    const gateway = stack.gateways[0]!;
    const clients = await Promise.all(['ann', 'ben', 'cat'].map((who) => connect(0, who)));
    const elsewhere = await connect(1, 'dan');
    const token = await mintToken(stack, 'alpha', 'eve', 'web');
    const sigtermAt = Date.now();
    const exit = gateway.stop('SIGTERM', TIMEOUT_MS + 5000);

    await eventually(async () => (await readyz(gateway)).status === 503, 'readyz to answer 503');
    expect((await readyz(gateway)).body.checks.lifecycle).toEqual({ ready: false, detail: 'shutting down' });
    await expect(RpcClient.connect(`${stack.gatewayUrl(0)}/v1/connect?token=${token}`)).rejects.toThrow(/^503 .*shutting down/);

    // Draining, not dead: until the delay is over, its clients still get what is sent to them.
    const sent = await emit(stack, '/v1/signals', keysOf(stack, 'alpha').secretKey, { to: { channel: 'room' }, message: 'still here' });
    expect(sent.status).toBe(202);
    for (const client of clients) expect((await client.next((f) => f.method === 'signal.publish')).params).toMatchObject({ message: 'still here' });

    const closes = await Promise.all(clients.map((c) => c.closed));
    expect(closes).toEqual(clients.map(() => ({ code: 1001, reason: 'server shutting down; reconnect' })));
    expect(await exit).toBe(0);
    expect(Date.now() - sigtermAt).toBeLessThan(TIMEOUT_MS);
    const lines = gateway.lines();
    expect(lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
    expect(lines.some((l) => l.includes('shutdown deadline passed'))).toBe(false);

    // The other node never noticed, and clients that reconnect there carry on.
    const moved = await connect(1, 'ann');
    const after = await emit(stack, '/v1/signals', keysOf(stack, 'alpha').secretKey, { to: { channel: 'room' }, message: 'moved' });
    expect(after.status).toBe(202);
    for (const client of [moved, elsewhere]) expect((await client.next((f) => f.params?.message === 'moved')).params).toMatchObject({ id: 'room' });
    moved.close();
    elsewhere.close();
  });
});

describe('SIGTERM on the emit-api', () => {
  it('reports not-ready, answers requests meanwhile with connection: close, and exits 0', async () => {
    const emitApi = stack.emitApi;
    const exit = emitApi.stop('SIGTERM', TIMEOUT_MS + 5000);
    await eventually(async () => (await fetch(`${adminUrl(emitApi)}/readyz`)).status === 503, 'emit-api readyz to answer 503');
    const res = await fetch(`${stack.emitUrl}/v1/signals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keysOf(stack, 'alpha').secretKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: { channel: 'room' }, message: 'late' }),
    });
    expect(res.status).toBe(202);
    expect(res.headers.get('connection')).toBe('close');
    expect(await exit).toBe(0);
    expect(emitApi.lines().some((l) => l.includes('"msg":"stopped"'))).toBe(true);
  });
});
