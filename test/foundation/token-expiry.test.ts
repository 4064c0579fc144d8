import { startService } from '@signal/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcClient } from '../support/rpc-client.js';
import { GATEWAY_ENTRY, keysOf, mintToken, serviceEnv, signToken, startStack, type Stack } from '../support/stack.js';

/**
 * A native connection lives as long as its token: closed with 4001 when it expires, unless the
 * client sends a fresh one with `signal.auth`. Bit6 connections are left alone (the SDK expects
 * that). Tokens here live 3 s, shorter than emit-api mints, so they are signed directly.
 */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 1 });
});
afterAll(async () => {
  await stack?.stop();
});

const shortToken = (identity: string, device: string, ttlSeconds = 3, grants?: Record<string, unknown>) =>
  signToken(stack, { identity, device, ttlSeconds, ...(grants ? { grants } : {}) });

describe('token expiry on native connections (TOKEN_EXPIRY=close, the default)', () => {
  it('closes a connection with 4001 once its token expires', async () => {
    const client = await RpcClient.connect(`${stack.gatewayUrl()}/v1/connect?token=${await shortToken('eve', 'web')}`);
    expect(await client.closed).toEqual({
      code: 4001,
      reason: 'token expired; connect again with a new token, or refresh it with signal.auth before it expires',
    });
  });

  it('keeps a connection whose client sent a fresh token with signal.auth, with the new grants', async () => {
    const client = await RpcClient.connect(`${stack.gatewayUrl()}/v1/connect?token=${await shortToken('fay', 'web', 3, { publish: false })}`);
    await client.call('signal.join', { id: 'long' });
    expect((await client.request('signal.publish', { id: 'long', n: 0 })).error).toMatchObject({ data: { code: 'forbidden' } });
    const result = (await client.call('signal.auth', { token: await mintToken(stack, 'alpha', 'fay', 'web') })) as { expiresAt: number };
    expect(result.expiresAt).toBeGreaterThan(Date.now() / 1000 + 3000);
    // Past the first token's expiry, the same connection still sends and receives.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    await client.call('signal.publish', { id: 'long', n: 1 });
    const { status } = await fetch(`${stack.emitUrl}/v1/signals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keysOf(stack, 'alpha').secretKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: { channel: 'long' }, event: 'still', message: 'here' }),
    });
    expect(status).toBe(202);
    expect((await client.next((f) => f.params?.event === 'still')).params).toMatchObject({ id: 'long', message: 'here' });
    client.close();
  });

  it('refuses a token for someone else, or a bad one, and keeps the connection as it was', async () => {
    const client = await RpcClient.connect(`${stack.gatewayUrl()}/v1/connect?token=${await mintToken(stack, 'alpha', 'gil', 'web')}`);
    const foreign = await client.request('signal.auth', { token: await mintToken(stack, 'alpha', 'gil', 'phone') });
    expect(foreign.error).toMatchObject({ code: -32003, data: { code: 'forbidden', field: 'token' } });
    expect(foreign.error!.message).toMatch(/this connection is gil\/web/);
    expect((await client.request('signal.auth', { token: await mintToken(stack, 'beta', 'gil', 'web') })).error).toMatchObject({ data: { code: 'forbidden' } });
    const bad = await client.request('signal.auth', { token: 'not-a-token' });
    expect(bad.error).toMatchObject({ code: -32001, data: { code: 'unauthorized' } });
    expect((await client.request('signal.auth', {})).error).toMatchObject({ code: -32602, data: { field: 'token' } });
    await client.call('signal.join', { id: 'fine' });
    client.close();
  });

  it('has nothing to refresh on an anonymous connection', async () => {
    const anonymous = await RpcClient.connect(`${stack.gatewayUrl()}/v1/connect?key=${keysOf(stack, 'alpha').publishableKey}`);
    const refused = await anonymous.request('signal.auth', { token: await mintToken(stack, 'alpha', 'hal', 'web') });
    expect(refused.error).toMatchObject({ data: { code: 'forbidden' } });
    anonymous.close();
  });

  it('leaves Bit6 connections open past expiry, as the Bit6 service did', async () => {
    const bit6 = await RpcClient.connect(`${stack.gatewayUrl()}/signal/v1/pubsub?jwt=${await shortToken('ivy', 'web', 2)}`, 'bit6');
    await new Promise((resolve) => setTimeout(resolve, 3500));
    bit6.ws.send('_ping');
    await expect.poll(() => bit6.raw.includes('_pong')).toBe(true);
    expect(bit6.ws.readyState).toBe(bit6.ws.OPEN);
    bit6.close();
  });
});

describe('TOKEN_EXPIRY=ignore', () => {
  it('keeps native connections open past expiry', async () => {
    const gateway = await startService({ entry: GATEWAY_ENTRY, name: 'ignoring-gateway', env: { ...serviceEnv(stack), TOKEN_EXPIRY: 'ignore' } });
    try {
      const client = await RpcClient.connect(`ws://127.0.0.1:${String(gateway.ready.port)}/v1/connect?token=${await shortToken('jay', 'web', 2)}`);
      await new Promise((resolve) => setTimeout(resolve, 3500));
      expect(await client.call('signal.join', { id: 'after' })).toEqual({ id: 'after' });
      client.close();
    } finally {
      await gateway.stop();
    }
  });
});
