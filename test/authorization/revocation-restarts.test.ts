import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type ServiceProcess } from '@signal/harness';
import { passes } from '../support/poll.js';
import { RpcClient } from '../support/rpc-client.js';
import { GATEWAY_ENTRY, emit, keysOf, serviceEnv, startStack, type Stack } from '../support/stack.js';

/**
 * The revocation list outlives processes: a gateway started later reads the whole list before
 * its first connection, and the list (file storage by default) survives a NATS restart, after
 * which every gateway's watch goes on.
 */
let stack: Stack;
const extra: ServiceProcess[] = [];

beforeAll(async () => {
  stack = await startStack({ gateways: 2 });
});
afterAll(async () => {
  await Promise.all(extra.map((s) => s.stop()));
  await stack?.stop();
});

async function mint(identity: string): Promise<{ token: string; jti: string }> {
  const { status, body } = await emit(stack, '/v1/tokens', keysOf(stack, 'alpha').secretKey, { identity, device: 'web' });
  expect(status).toBe(201);
  return { token: body!.token as string, jti: body!.jti as string };
}

async function revoke(body: Record<string, unknown>): Promise<void> {
  // Right after a NATS restart the emit-api may still be reconnecting (503): retried.
  await passes(async () => expect((await emit(stack, '/v1/revocations', keysOf(stack, 'alpha').secretKey, body)).status).toBe(201), 15_000, 100);
}

const urlOf = (service: ServiceProcess) => `ws://127.0.0.1:${String(service.ready.port)}`;
const connect = (url: string, token: string) => RpcClient.connect(`${url}/v1/connect?token=${token}`);

describe('revocations and restarts', () => {
  it('a gateway started after revocations refuses the revoked tokens from its first connection', async () => {
    const byJti = await mint('ann');
    const byUser = await mint('ben');
    await revoke({ jti: byJti.jti });
    await revoke({ user: 'ben' });
    const late = await startService({ entry: GATEWAY_ENTRY, name: 'late gateway', env: serviceEnv(stack) });
    extra.push(late);
    expect(late.lines().some((l) => l.includes('"msg":"revocation list loaded"') && /"entries":[1-9]/.test(l))).toBe(true);
    for (const token of [byJti.token, byUser.token]) await expect(connect(urlOf(late), token)).rejects.toThrow(/^401 .*"reason":"revoked"/);
    const fresh = await connect(urlOf(late), (await mint('ben')).token);
    fresh.ws.close();
  });

  it('the list survives a NATS restart, and every gateway applies revocations written after it', async () => {
    const before = await mint('cat');
    await revoke({ jti: before.jti });
    const after = await mint('dan');
    const clients = [await connect(stack.gatewayUrl(0), after.token), await connect(stack.gatewayUrl(1), after.token)];

    await stack.nats.kill();
    await stack.nats.restart();
    await revoke({ jti: after.jti });
    for (const client of clients) expect((await client.closed).code).toBe(4003);

    // Still refused after the restart, on the running gateways and on one started now.
    const late = await startService({ entry: GATEWAY_ENTRY, name: 'gateway after the NATS restart', env: serviceEnv(stack) });
    extra.push(late);
    for (const url of [stack.gatewayUrl(0), stack.gatewayUrl(1), urlOf(late)]) {
      await expect(connect(url, before.token)).rejects.toThrow(/^401 .*"reason":"revoked"/);
      await expect(connect(url, after.token)).rejects.toThrow(/^401 .*"reason":"revoked"/);
    }
  });
});
