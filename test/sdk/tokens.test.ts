import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Signal } from '@signal/client';
import { emit, keysOf, mintToken, signToken } from '../support/stack.js';
import { client, next, record, sdkStack, tokenProvider, waitFor, type Provider } from './support.js';

const ctx = sdkStack({ gateways: 1 });

function expiryOf(token: string): number {
  return (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp * 1000;
}

/** A provider that hands out `first` tokens from `bad()`, then good ones. */
function flaky(good: Provider, bad: () => string | Promise<string>, first: number): Provider {
  const provider = (async () => {
    provider.calls++;
    return provider.calls <= first ? bad() : good();
  }) as Provider;
  provider.calls = 0;
  provider.tokens = [];
  return provider;
}

async function tampered(): Promise<string> {
  const token = await mintToken(ctx.stack, 'alpha', 'alice', 'web');
  return token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
}

describe('token provider', () => {
  it('fetches a new token before the current one expires, so a later reconnect is accepted', async () => {
    const doomed = await ctx.gateway();
    const provider = tokenProvider(ctx.stack, 'alice', 'web', 10);
    const alice = client(ctx.stack, 'alice', 'web', { provider, url: [doomed.url, ctx.stack.gatewayUrl(0)] });
    await alice.ready();
    const firstExpiry = expiryOf(provider.tokens[0]!);
    const retries = record(alice, 'reconnecting');

    const drops = record(alice, 'disconnected');
    const address = alice.address;

    // Refreshed ahead of time, while the session simply goes on.
    await waitFor('a refresh', () => provider.calls >= 2, 15_000);
    expect(Date.now()).toBeLessThan(firstExpiry);
    expect(alice.state).toBe('connected');

    // The gateway got the new token on the open connection (signal.auth), so the connection
    // outlives its first token instead of being closed with 4001.
    await waitFor('the first token to expire', () => Date.now() > firstExpiry + 1500, 15_000);
    expect(drops).toEqual([]);
    expect(alice.address).toBe(address);

    // A reconnect must present a live token too.
    const connected = next(alice, 'connected');
    await doomed.process.kill();
    await connected;
    expect(retries.filter(([r]) => r.error.code === 'unauthorized')).toEqual([]);
    expect(expiryOf(provider.tokens.at(-1)!)).toBeGreaterThan(Date.now());
  }, 40_000);

  it('asks again when the gateway refuses a token with 401', async () => {
    const provider = flaky(tokenProvider(ctx.stack, 'alice', 'web'), tampered, 1);
    const alice = client(ctx.stack, 'alice', 'web', { provider });
    const retries = record(alice, 'reconnecting');
    await alice.ready();
    expect(provider.calls).toBe(2);
    expect(retries).toHaveLength(1);
    expect(retries[0]![0].error).toMatchObject({
      code: 'unauthorized',
      message: 'the gateway refused the connection with HTTP 401; asking the token provider for a new token',
    });
  });

  it('gives up with an unauthorized error when tokens keep being refused', async () => {
    const provider = flaky(tokenProvider(ctx.stack, 'alice', 'web'), tampered, 100);
    const alice = client(ctx.stack, 'alice', 'web', { provider, reconnect: { initialDelayMs: 10 } });
    const errors = record(alice, 'error');
    const disconnected = next(alice, 'disconnected');
    await expect(alice.ready()).rejects.toMatchObject({
      code: 'unauthorized',
      message: expect.stringMatching(/refused 3 tokens in a row \(HTTP 401\); the token provider must return tokens minted for this app/),
    });
    expect(provider.calls).toBe(3);
    expect(errors.map(([e]) => e.code)).toEqual(['unauthorized']);
    expect((await disconnected)[0]).toMatchObject({ willReconnect: false });
    expect(alice.state).toBe('disconnected');
  });

  it('reports a provider that fails, and connects once it recovers', async () => {
    const provider = flaky(tokenProvider(ctx.stack, 'alice', 'web'), () => Promise.reject(new Error('backend down')), 2);
    const alice = client(ctx.stack, 'alice', 'web', { provider, reconnect: { initialDelayMs: 10 } });
    const retries = record(alice, 'reconnecting');
    await alice.ready();
    expect(retries.map(([r]) => r.error.message)).toEqual(['the token provider failed: backend down', 'the token provider failed: backend down']);
  });

  it('refuses an already expired token from the provider without presenting it', async () => {
    const expired = () => signToken(ctx.stack, { identity: 'alice', device: 'web', ttlSeconds: -60 });
    const provider = flaky(tokenProvider(ctx.stack, 'alice', 'web'), expired, 1);
    const alice = client(ctx.stack, 'alice', 'web', { provider, reconnect: { initialDelayMs: 10 } });
    const retries = record(alice, 'reconnecting');
    await alice.ready();
    expect(retries).toHaveLength(1);
    expect(retries[0]![0].error).toMatchObject({ code: 'token_provider', message: expect.stringMatching(/returned a token that expired at .*; it must mint a fresh one/) });
  });
});

describe('fixed token (Bit6 style)', () => {
  it('when it expires unrenewed, the gateway closes the connection (4001) and the client stops, saying why', async () => {
    const alice = client(ctx.stack, 'alice', 'web', { provider: await signToken(ctx.stack, { identity: 'alice', device: 'web', ttlSeconds: 2 }) });
    await alice.ready();
    const [lost] = await next(alice, 'disconnected');
    expect(lost).toMatchObject({ code: 4001, willReconnect: true });
    const [final] = await next(alice, 'disconnected');
    expect(final).toMatchObject({ willReconnect: false });
    expect(alice.state).toBe('disconnected');
    await expect(alice.ready()).rejects.toMatchObject({ code: 'unauthorized', message: expect.stringMatching(/token is invalid or expired/) });
  });

  it("renewed with update() on 'expired', the same connection lives on", async () => {
    const alice = client(ctx.stack, 'alice', 'web', { provider: await signToken(ctx.stack, { identity: 'alice', device: 'web', ttlSeconds: 3 }) });
    alice.on('expired', () => void mintToken(ctx.stack, 'alpha', 'alice', 'web').then((token) => alice.update(token)));
    await alice.ready();
    const address = alice.address;
    const drops = record(alice, 'disconnected');
    await new Promise((resolve) => setTimeout(resolve, 4500));
    expect(drops).toEqual([]);
    expect(alice.address).toBe(address);
    expect(alice.state).toBe('connected');
  });

  it('fails at once when refused, saying how to fix it', async () => {
    const alice = client(ctx.stack, 'alice', 'web', { provider: await tampered() });
    await expect(alice.ready()).rejects.toMatchObject({
      code: 'unauthorized',
      message: expect.stringMatching(/HTTP 401: the token is invalid or expired; pass a token provider function, or call update\(\) with a new token/),
    });
  });

  it("fires 'expired' 10 s before expiry; update() is used from the next connection on", async () => {
    const doomed = await ctx.gateway();
    const first = tokenProvider(ctx.stack, 'alice', 'web', 10);
    const alice = client(ctx.stack, 'alice', 'web', { provider: await first(), url: [doomed.url, ctx.stack.gatewayUrl(0)] });
    // A 10 s token is due for renewal at once.
    await next(alice, 'expired');
    await alice.ready();
    expect(alice.address).toMatch(/^alice\/web\//);
    alice.update(await tokenProvider(ctx.stack, 'alice', 'tablet')());
    const connected = next(alice, 'connected');
    await doomed.process.kill();
    await connected;
    expect(alice.address).toMatch(/^alice\/tablet\//);
  });
});

describe('gateway URL from the token (Bit6 style)', () => {
  it("connects to the token's aud when no url is given", async () => {
    const withAudience = async () => {
      const res = await emit(ctx.stack, '/v1/tokens', keysOf(ctx.stack, 'alpha').secretKey, { identity: 'alice', audience: `${ctx.stack.gatewayUrl(0).replace('ws:', 'http:')}/v1` });
      return res.body!.token as string;
    };
    const alice = new Signal(withAudience, { WebSocket });
    try {
      await alice.ready();
      expect(alice.address).toMatch(/^alice\/default\//);
    } finally {
      alice.close();
    }
  });

  it('says url is required when the token has no aud', async () => {
    const alice = new Signal(await mintToken(ctx.stack, 'alpha', 'alice'), { WebSocket });
    alice.on('error', () => undefined);
    await expect(alice.ready()).rejects.toMatchObject({ code: 'invalid_options', message: expect.stringMatching(/options.url is required: the token has no aud claim/) });
  });
});
