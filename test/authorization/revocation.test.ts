import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcClient } from '../support/rpc-client.js';
import { sample, scrape } from '../support/admin.js';
import { startService } from '@signal/harness';
import { EMIT_API_ENTRY, emit, keysOf, serviceEnv, startStack, type Stack } from '../support/stack.js';
import { CLIENT_VERSIONS, StelaceClient, connectStelace, gatewayHttpUrl } from '../support/stelace-client.js';

/**
 * Revocation and disconnect across two gateways (docs/authorization.md#revocation-and-disconnect):
 * POST /v1/revocations closes covered connections on every gateway with 4003 and refuses the
 * token at later connects (401, reason `revoked`); POST /v1/disconnect closes with 4004 and the
 * client may come back. Every action comes from the emit-api; every gateway is a real process.
 */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ gateways: 2 });
});
afterAll(async () => {
  await stack?.stop();
});

/** Measured close latencies (ms from the emit-api's 2xx to the client's close), printed for the report. */
const latencies: Record<string, number[]> = {};
afterAll(() => {
  for (const [what, values] of Object.entries(latencies)) console.log(`revocation latency ${what}: ${values.map((v) => v.toFixed(0)).join(', ')} ms`);
});

/** Generous for a loaded CI machine; the contract is "within a second". */
const CLOSE_BOUND_MS = 1000;

let counter = 0;
const unique = (what: string) => `${what}-${++counter}`;

type App = 'alpha' | 'beta';

async function mint(identity: string, device = 'web', app: App = 'alpha', env: 'test' | 'live' = 'test'): Promise<{ token: string; jti: string }> {
  const { status, body } = await emit(stack, '/v1/tokens', keysOf(stack, app, env).secretKey, { identity, device });
  expect(status).toBe(201);
  return { token: body!.token as string, jti: body!.jti as string };
}

function native(gateway: number, token: string): Promise<RpcClient> {
  return RpcClient.connect(`${stack.gatewayUrl(gateway)}/v1/connect?token=${token}`);
}

/** A Bit6 connection, ready once a join has been answered (its answer waits until NATS has every subscription of the connection). */
async function bit6(gateway: number, token: string): Promise<RpcClient> {
  const client = await RpcClient.connect(`${stack.gatewayUrl(gateway)}/signal/v1/pubsub?jwt=${token}`, 'bit6');
  expect((await client.request('signal.join', { id: unique('bit6-ready') })).result).toBeDefined();
  return client;
}

async function post(path: string, body: unknown, app: App = 'alpha', env: 'test' | 'live' = 'test') {
  return emit(stack, path, keysOf(stack, app, env).secretKey, body);
}

/** The refusal of an upgrade, as `<status> <body>`. */
async function refusal(gateway: number, token: string): Promise<{ status: number; body: Record<string, unknown> }> {
  try {
    const client = await native(gateway, token);
    client.ws.close();
  } catch (error) {
    const [status, ...rest] = (error as Error).message.split(' ');
    return { status: Number(status), body: JSON.parse(rest.join(' ')) as Record<string, unknown> };
  }
  throw new Error('the connection was accepted');
}

/**
 * Waits for the close, asserts it came within CLOSE_BOUND_MS of the 2xx answer (`since`,
 * performance.now()), and records the time from the request being sent (`sent`, when given: an
 * upper bound that includes the emit-api's work; a close can beat the answer to the test).
 */
async function closedWithin(client: RpcClient, since: number, what: string, sent?: number): Promise<{ code: number; reason: string }> {
  const closed = await client.closed;
  const at = performance.now();
  (latencies[`${what} (from the answer)`] ??= []).push(at - since);
  if (sent !== undefined) (latencies[`${what} (from the request)`] ??= []).push(at - sent);
  expect(at - since).toBeLessThan(CLOSE_BOUND_MS);
  return closed;
}

/** Proves a connection is still open and served: a request gets its answer. */
async function stillServed(client: RpcClient): Promise<void> {
  expect((await client.request('signal.join', { id: unique('alive') })).result).toBeDefined();
}

describe('revoking one token (jti)', () => {
  it('closes it on both gateways with 4003 within a second, refuses it at connect on both, and spares the user\'s other tokens', async () => {
    const user = unique('ann');
    const revoked = await mint(user);
    const other = await mint(user);
    const onFirst = await native(0, revoked.token);
    const onSecond = await native(1, revoked.token);
    const untouched = await native(1, other.token);

    const sentAt = performance.now();
    const answer = await post('/v1/revocations', { jti: revoked.jti });
    const answeredAt = performance.now();
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({ revoked: 'token', jti: revoked.jti, env: 'test' });
    expect(answer.body!.expiresAt).toBeGreaterThan(Date.now() / 1000);

    for (const client of [onFirst, onSecond]) {
      const closed = await closedWithin(client, answeredAt, 'jti', sentAt);
      expect(closed.code).toBe(4003);
      expect(closed.reason).toMatch(/revoked/);
    }
    await stillServed(untouched);

    for (const gateway of [0, 1]) {
      const refused = await refusal(gateway, revoked.token);
      expect(refused.status).toBe(401);
      expect(refused.body).toMatchObject({ code: 'unauthorized', reason: 'revoked' });
    }
    const fresh = await native(0, (await mint(user)).token);
    await stillServed(fresh);
    for (const client of [untouched, fresh]) client.ws.close();
  });

  it('refuses a signal.auth refresh to a revoked token', async () => {
    const user = unique('ben');
    const client = await native(0, (await mint(user)).token);
    const revoked = await mint(user);
    expect((await post('/v1/revocations', { jti: revoked.jti })).status).toBe(201);
    // Once the gateway refuses the token at connect, it has the entry.
    await expect(native(0, revoked.token)).rejects.toThrow(/^401 /);
    const answer = await client.request('signal.auth', { token: revoked.token });
    expect(answer.error?.data).toMatchObject({ code: 'unauthorized' });
    expect(answer.error?.message).toMatch(/revoked/);
    await stillServed(client);
    client.ws.close();
  });
});

describe('revoking every token of a user issued before now', () => {
  it('closes the user\'s connections on both gateways with 4003, refuses their tokens, and takes a token minted right after', async () => {
    const user = unique('cat');
    const first = await mint(user, 'phone');
    const second = await mint(user, 'web');
    const bystander = await native(1, (await mint(unique('dan'))).token);
    const clients = [await native(0, first.token), await native(1, second.token), await native(1, first.token)];

    const sentAt = performance.now();
    const answer = await post('/v1/revocations', { user });
    const answeredAt = performance.now();
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({ revoked: 'user', user, env: 'test' });
    expect(answer.body!.before).toBeLessThanOrEqual(Date.now() / 1000);
    for (const client of clients) expect((await closedWithin(client, answeredAt, 'user', sentAt)).code).toBe(4003);
    await stillServed(bystander);

    // Minted milliseconds after the revocation, within the same second: `iat` has ms precision.
    const fresh = await mint(user, 'phone');
    for (const gateway of [0, 1]) {
      expect(await refusal(gateway, first.token)).toMatchObject({ status: 401, body: { reason: 'revoked' } });
      expect(await refusal(gateway, second.token)).toMatchObject({ status: 401, body: { reason: 'revoked' } });
      const again = await native(gateway, fresh.token);
      await stillServed(again);
      again.ws.close();
    }
    bystander.ws.close();
  });

  it('a `before` earlier than a token\'s iat leaves that token alone, and never narrows a later revocation', async () => {
    const user = unique('eve');
    const early = await mint(user);
    const issuedAt = (JSON.parse(Buffer.from(early.token.split('.')[1]!, 'base64url').toString()) as { iat: number }).iat;
    const late = await mint(user);
    const lateIssuedAt = (JSON.parse(Buffer.from(late.token.split('.')[1]!, 'base64url').toString()) as { iat: number }).iat;
    expect(lateIssuedAt).toBeGreaterThan(issuedAt);
    const lateClient = await native(0, late.token);

    const answer = await post('/v1/revocations', { user, before: lateIssuedAt });
    expect(answer.body).toMatchObject({ revoked: 'user', before: lateIssuedAt });
    await expect(native(1, early.token)).rejects.toThrow(/^401 .*"reason":"revoked"/);
    await stillServed(lateClient);

    // An earlier `before` changes nothing: the stored one stays.
    const narrower = await post('/v1/revocations', { user, before: issuedAt - 60 });
    expect(narrower).toMatchObject({ status: 201, body: { before: lateIssuedAt } });
    await expect(native(0, early.token)).rejects.toThrow(/^401 /);
    lateClient.ws.close();
  });
});

describe('every surface', () => {
  it.each(CLIENT_VERSIONS)('a revocation closes Bit6 connections with 4003 and Stelace sockets (%s) the Stelace way, and Stelace refuses the token after', async (version) => {
    const user = unique('fay');
    const { token } = await mint(user);
    const bit6Client = await bit6(1, token);
    const { client: stelace } = await connectStelace(stack, version, { publishableKey: keysOf(stack, 'alpha').publishableKey, authToken: token }, { gateway: 0 });

    expect((await post('/v1/revocations', { user })).status).toBe(201);
    const answeredAt = performance.now();
    expect((await closedWithin(bit6Client, answeredAt, 'user, Bit6')).code).toBe(4003);
    expect(await stelace.next('willDisconnect')).toEqual([{ error: expect.stringMatching(/revoked/) as unknown }]);
    expect(await stelace.disconnected).toBe('io server disconnect');
    (latencies['user, Stelace'] ??= []).push(performance.now() - answeredAt);

    const again = new StelaceClient(gatewayHttpUrl(stack, 1), version);
    await again.authenticate({ publishableKey: keysOf(stack, 'alpha').publishableKey, authToken: token });
    expect(await again.next('willDisconnect')).toEqual([{ error: 'Invalid authentication token' }]);
    expect(await again.disconnected).toBe('io server disconnect');
  });

  it.each(CLIENT_VERSIONS)('a disconnect of a user closes native and Bit6 connections with 4004 and Stelace sockets (%s), on both gateways; they may connect again', async (version) => {
    const user = unique('gus');
    const { token } = await mint(user, 'phone');
    const nativeClient = await native(0, token);
    const bit6Client = await bit6(1, token);
    const { client: stelace } = await connectStelace(stack, version, { publishableKey: keysOf(stack, 'alpha').publishableKey, authToken: token }, { gateway: 1 });
    const bystander = await native(0, (await mint(unique('hal'), 'phone')).token);

    const sentAt = performance.now();
    const answer = await post('/v1/disconnect', { user });
    const answeredAt = performance.now();
    expect(answer).toEqual({ status: 202, body: { disconnecting: { user }, env: 'test' } });
    expect((await closedWithin(nativeClient, answeredAt, 'disconnect user, native', sentAt)).code).toBe(4004);
    expect((await closedWithin(bit6Client, answeredAt, 'disconnect user, Bit6', sentAt)).code).toBe(4004);
    expect(await stelace.next('willDisconnect')).toEqual([{ error: expect.stringMatching(/disconnected by the application backend/) as unknown }]);
    expect(await stelace.disconnected).toBe('io server disconnect');
    await stillServed(bystander);

    const back = await native(1, token);
    await stillServed(back);
    for (const client of [back, bystander]) client.ws.close();
  });

  it('a disconnect of a device closes only that device; of a connection, only that connection', async () => {
    const user = unique('ivy');
    const phone = await mint(user, 'phone');
    const web = await mint(user, 'web');
    const phones = [await native(0, phone.token), await bit6(1, phone.token)];
    const webFirst = await native(0, web.token);
    const webSecond = await native(1, web.token);

    expect(await post('/v1/disconnect', { device: `${user}/phone` })).toMatchObject({ status: 202 });
    const deviceAt = performance.now();
    for (const client of phones) expect((await closedWithin(client, deviceAt, 'disconnect device')).code).toBe(4004);
    await stillServed(webFirst);
    await stillServed(webSecond);

    expect(await post('/v1/disconnect', { connection: webSecond.address })).toMatchObject({ status: 202 });
    const connectionAt = performance.now();
    expect((await closedWithin(webSecond, connectionAt, 'disconnect connection')).code).toBe(4004);
    await stillServed(webFirst);
    webFirst.ws.close();
  });
});

describe('tenants', () => {
  it('another app or environment cannot revoke or disconnect this one\'s users, by jti, user, device or connection', async () => {
    const user = unique('jo');
    const target = await mint(user, 'phone');
    const clients = [await native(0, target.token), await native(1, target.token)];
    const [onFirst] = clients;
    for (const [app, env] of [['beta', 'test'], ['alpha', 'live']] as const) {
      expect((await post('/v1/revocations', { jti: target.jti }, app, env)).status).toBe(201);
      expect((await post('/v1/revocations', { user }, app, env)).status).toBe(201);
      for (const body of [{ user }, { device: `${user}/phone` }, { connection: onFirst!.address }]) {
        expect((await post('/v1/disconnect', body, app, env)).status).toBe(202);
      }
    }
    // The same actions by the right tenant, for a sentinel on the same gateways, after all of
    // the above (in order: one KV stream, one NATS connection each way): once the sentinels are
    // closed, the foreign actions have been seen and did nothing.
    const sentinel = unique('sentinel');
    const sentinelToken = await mint(sentinel);
    const sentinels = [await native(0, sentinelToken.token), await native(1, sentinelToken.token)];
    expect((await post('/v1/revocations', { jti: sentinelToken.jti })).status).toBe(201);
    for (const client of sentinels) expect((await client.closed).code).toBe(4003);
    const disconnectSentinel = [await native(0, (await mint(sentinel)).token), await native(1, (await mint(sentinel)).token)];
    expect((await post('/v1/disconnect', { user: sentinel })).status).toBe(202);
    for (const client of disconnectSentinel) expect((await client.closed).code).toBe(4004);

    for (const client of clients) await stillServed(client);
    const again = await native(1, target.token);
    await stillServed(again);
    for (const client of [...clients, again]) client.ws.close();
  });
});

describe('requests', () => {
  it.each([
    ['/v1/revocations', {}, undefined],
    ['/v1/revocations', { jti: '' }, 'jti'],
    ['/v1/revocations', { jti: 'x'.repeat(257) }, 'jti'],
    ['/v1/revocations', { jti: 'a', user: 'b' }, undefined],
    ['/v1/revocations', { user: 'a/b' }, 'user'],
    ['/v1/revocations', { user: 'a', before: 'now' }, 'before'],
    ['/v1/revocations', { user: 'a', before: Date.now() / 1000 + 3600 }, 'before'],
    ['/v1/disconnect', {}, undefined],
    ['/v1/disconnect', { channel: 'room' }, undefined],
    ['/v1/disconnect', { broadcast: true }, undefined],
    ['/v1/disconnect', { device: 'only-identity' }, 'device'],
    ['/v1/disconnect', { connection: 'ab/cd' }, 'connection'],
  ])('%s %j is 400 bad_request', async (path, body, field) => {
    const answer = await post(path, body);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ code: 'bad_request', statusCode: 400 });
    if (field !== undefined) expect(answer.body!.field).toBe(field);
  });

  it.each(['/v1/revocations', '/v1/disconnect'])('%s needs a secret key', async (path) => {
    expect(await emit(stack, path, undefined, { user: 'a' })).toMatchObject({ status: 401, body: { code: 'unauthorized' } });
    expect(await emit(stack, path, keysOf(stack, 'alpha').publishableKey, { user: 'a' })).toMatchObject({ status: 403, body: { code: 'forbidden' } });
  });

  it('a full revocation list refuses new entries with 429 limit_exceeded naming REVOCATION_MAX_BYTES', async () => {
    const small = await startService({
      entry: EMIT_API_ENTRY,
      name: 'emit-api with a small revocation list',
      env: { ...serviceEnv(stack), REVOCATION_BUCKET: 'small_revocations', REVOCATION_MAX_BYTES: '65536' },
    });
    try {
      const { secretKey } = keysOf(stack, 'alpha');
      let answer: { status: number; body: Record<string, unknown> } | undefined;
      for (let i = 0; i < 2000; i++) {
        const res = await fetch(`http://127.0.0.1:${String(small.ready.port)}/v1/revocations`, {
          method: 'POST',
          headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ jti: `${String(i).padStart(6, '0')}${'x'.repeat(200)}` }),
        });
        answer = { status: res.status, body: (await res.json()) as Record<string, unknown> };
        if (answer.status !== 201) break;
      }
      expect(answer).toMatchObject({ status: 429, body: { code: 'limit_exceeded', data: { limit: 'REVOCATION_MAX_BYTES' } } });
      expect(sample(await scrape(small), 'signal_emit_limit_refusals_total', { limit: 'revocation_max_bytes' })).toBe(1);
    } finally {
      await small.stop();
    }
  });

  it('gateways count revocations applied and connections closed by reason', async () => {
    const metrics = await scrape(stack.gateways[1]!);
    expect(sample(metrics, 'signal_gateway_revocations_applied_total', { kind: 'jti' })).toBeGreaterThan(0);
    expect(sample(metrics, 'signal_gateway_revocations_applied_total', { kind: 'user' })).toBeGreaterThan(0);
    expect(sample(metrics, 'signal_gateway_forced_closes_total', { reason: 'revoked' })).toBeGreaterThan(0);
    expect(sample(metrics, 'signal_gateway_forced_closes_total', { reason: 'disconnected' })).toBeGreaterThan(0);
    expect(sample(metrics, 'signal_gateway_connections_refused_total', { reason: 'revoked' })).toBeGreaterThan(0);
    expect(sample(metrics, 'signal_gateway_connections_closed_total', { code: '4003' })).toBeGreaterThan(0);
  });
});
