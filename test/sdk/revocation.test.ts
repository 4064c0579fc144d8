import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SignalClientError } from '@signal/client';
import { emit, keysOf, mintToken, startStack, type Stack } from '../support/stack.js';
import { client, closeClients, next, record, tokenProvider, type Provider } from './support.js';

/**
 * The SDK and backend ends (packages/client README, "Revoked and disconnected"): after 4003 it
 * never presents the revoked token again, asks its provider once for a fresh one, and ends with
 * a `revoked` error when that fails; after 4004 it reconnects with backoff like after any drop.
 * Attempts are counted with the `connecting` event.
 */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 2 });
});
afterEach(() => closeClients());
afterAll(async () => {
  await stack?.stop();
});

let counter = 0;
const unique = (what: string) => `${what}-${++counter}`;

function jtiOf(token: string): string {
  return (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;
}

async function revoke(body: Record<string, unknown>): Promise<void> {
  const { status } = await emit(stack, '/v1/revocations', keysOf(stack, 'alpha').secretKey, body);
  expect(status).toBe(201);
}

/** A provider that returns `tokens` in turn, counting calls. */
function fixedSequence(tokens: Array<string | Error>): Provider {
  const provider = (async () => {
    const next = tokens[Math.min(provider.calls, tokens.length - 1)]!;
    provider.calls++;
    if (next instanceof Error) throw next;
    provider.tokens.push(next);
    return next;
  }) as Provider;
  provider.calls = 0;
  provider.tokens = [];
  return provider;
}

describe('close code 4003 (token revoked)', () => {
  it('asks the provider once for a fresh token and reconnects with it', async () => {
    const user = unique('ann');
    const provider = tokenProvider(stack, user, 'web');
    const signal = client(stack, user, 'web', { provider, gateway: 1 });
    await signal.ready();
    const connecting = record(signal, 'connecting');
    const errors = record(signal, 'error');

    const lostEvent = next(signal, 'disconnected');
    const connectedEvent = next(signal, 'connected');
    await revoke({ jti: jtiOf(provider.tokens[0]!) });
    const [lost] = await lostEvent;
    expect(lost).toMatchObject({ code: 4003, willReconnect: true });
    const [connected] = await connectedEvent;
    expect(connected.reconnected).toBe(true);
    expect(provider.calls).toBe(2);
    expect(connecting).toHaveLength(1);
    expect(errors).toEqual([]);
  });

  it('with a fixed token: ends with a typed `revoked` error and never tries again', async () => {
    const user = unique('ben');
    const token = await mintToken(stack, 'alpha', user, 'web');
    const signal = client(stack, user, 'web', { provider: token });
    await signal.ready();
    const connecting = record(signal, 'connecting');
    const ended = next(signal, 'error');

    await revoke({ user });
    const [error] = (await ended) as [SignalClientError];
    expect(error.code).toBe('revoked');
    expect(error.data).toMatchObject({ code: 4003 });
    expect(signal.state).toBe('disconnected');
    expect(connecting).toHaveLength(0);
    await expect(signal.ready()).rejects.toMatchObject({ code: 'revoked' });
  });

  it('when the fresh token is refused too (revoked as well): one attempt, then `revoked`', async () => {
    const user = unique('cat');
    const first = await mintToken(stack, 'alpha', user, 'web');
    const second = await mintToken(stack, 'alpha', user, 'web');
    const provider = fixedSequence([first, second]);
    const signal = client(stack, user, 'web', { provider });
    await signal.ready();
    const connecting = record(signal, 'connecting');
    const ended = next(signal, 'error');

    await revoke({ jti: jtiOf(second) });
    await revoke({ jti: jtiOf(first) });
    const [error] = (await ended) as [SignalClientError];
    expect(error.code).toBe('revoked');
    expect(error.message).toMatch(/refused too/);
    expect(provider.calls).toBe(2);
    expect(connecting).toHaveLength(1);
    expect(signal.state).toBe('disconnected');
  });

  it.each([
    ['returns the revoked token again', (token: string) => [token, token]],
    ['fails', (token: string) => [token, new Error('backend down')]],
  ])('when the provider %s: `revoked` without another attempt', async (_what, tokens) => {
    const user = unique('dan');
    const provider = fixedSequence(tokens(await mintToken(stack, 'alpha', user, 'web')));
    const signal = client(stack, user, 'web', { provider });
    await signal.ready();
    const connecting = record(signal, 'connecting');
    const ended = next(signal, 'error');

    await revoke({ user });
    const [error] = (await ended) as [SignalClientError];
    expect(error.code).toBe('revoked');
    expect(provider.calls).toBe(2);
    expect(connecting).toHaveLength(0);
  });
});

describe('close code 4004 (disconnected by the backend)', () => {
  it('reconnects with backoff and the same token', async () => {
    const user = unique('eve');
    const provider = tokenProvider(stack, user, 'web');
    const signal = client(stack, user, 'web', { provider, reconnect: { initialDelayMs: 50, maxDelayMs: 200, factor: 2 } });
    await signal.ready();
    const retries = record(signal, 'reconnecting');

    const lostEvent = next(signal, 'disconnected');
    const connectedEvent = next(signal, 'connected');
    const { status } = await emit(stack, '/v1/disconnect', keysOf(stack, 'alpha').secretKey, { user });
    expect(status).toBe(202);
    const [lost] = await lostEvent;
    expect(lost).toMatchObject({ code: 4004, willReconnect: true });
    await connectedEvent;
    expect(retries).toHaveLength(1);
    expect(retries[0]![0].error.code).toBe('disconnected');
    expect(provider.calls).toBe(1);
  });
});
