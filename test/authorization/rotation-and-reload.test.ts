import { createHmac } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { AppRegistry, parseAppsFile, type AppsFile } from '@signal/core';
import type { ServiceProcess } from '@signal/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sample, scrape } from '../support/admin.js';
import { RpcClient } from '../support/rpc-client.js';
import { StelaceClient } from '../support/stelace-client.js';
import { emit, keysOf, mintToken, startStack, type Stack } from '../support/stack.js';
import { client, next, tokenProvider } from '../sdk/support.js';

/**
 * Key rotation and reloading the apps file without a restart (docs/authorization.md#rotation,
 * docs/operations.md#reloading-the-apps-file), against a real gateway and emit-api: tokens name
 * their secret's `kid`; older secrets verify until removed; a reload (SIGHUP, or the file
 * replaced on disk) is atomic, refuses a bad file and keeps the old one, and closes with 4005 the
 * connections whose publishable key or token secret it removed. Every step waits for the
 * services' reload log line, never for time.
 */
const S0 = 'the-legacy-token-secret-of-alpha-test-0000';
const S1 = 'rotated-token-secret-number-one-111111111';
const S2 = 'rotated-token-secret-number-two-222222222';
const MAX_TTL = 7200;
const AUDIENCE = 'https://signal.example.com';

let stack: Stack;
let file: AppsFile;

beforeAll(async () => {
  stack = await startStack({
    gateways: 1,
    gatewayEnv: { MAX_TOKEN_TTL_SECONDS: String(MAX_TTL) },
    configureApps: (apps) => {
      apps[0]!.environments.test!.tokenSecret = S0;
      (apps[0]!.environments.live as Record<string, unknown>).audience = [AUDIENCE, 'https://mobile.example.com'];
    },
  });
  file = { apps: structuredClone(stack.apps) };
});
afterAll(async () => {
  await stack?.stop();
});

const alphaTest = () => file.apps[0]!.environments.test!;
const gateway = () => stack.gateways[0]!;

/** How many times a service has logged a message so far. */
function count(service: ServiceProcess, msg: string): number {
  return service.lines().filter((line) => line.includes(`"msg":"${msg}"`)).length;
}

/** Resolves with the next line (after the `seen` already printed) logging `msg`. */
function nextLog(service: ServiceProcess, msg: string, seen = count(service, msg)): Promise<string> {
  let matched = 0;
  return service.waitForLine((line) => line.includes(`"msg":"${msg}"`) && ++matched > seen);
}

/** Writes the apps file as an editor does (a new file renamed over the old one), and waits until both services reloaded or refused it. */
async function replaceFile(contents: string, outcome: 'apps file reloaded' | 'apps file refused; the previous one stays in force'): Promise<string[]> {
  const waits = [gateway(), stack.emitApi].map((service) => nextLog(service, outcome));
  const temporary = `${stack.appsFile}.tmp`;
  await writeFile(temporary, contents);
  await rename(temporary, stack.appsFile);
  return Promise.all(waits);
}

/**
 * Rewrites the file in place and sends SIGHUP to both services: the other trigger. The write
 * wakes the watcher too, so this waits for both outcomes, the signal's and the watcher's, and
 * returns the signal's lines.
 */
async function reloadBySignal(contents: string, outcome: 'apps file reloaded' | 'apps file refused; the previous one stays in force'): Promise<string[]> {
  const services = [gateway(), stack.emitApi];
  const wait = (service: ServiceProcess, trigger: 'sighup' | 'file') => {
    let matched = 0;
    const seen = count(service, outcome);
    return service.waitForLine((line) => line.includes(`"msg":"${outcome}"`) && ++matched > seen && line.includes(`"trigger":"${trigger}"`));
  };
  const bySignal = services.map((service) => wait(service, 'sighup'));
  const byWatcher = services.map((service) => wait(service, 'file'));
  await writeFile(stack.appsFile, contents);
  for (const service of services) process.kill(service.pid, 'SIGHUP');
  await Promise.all(byWatcher);
  return Promise.all(bySignal);
}

const write = (apps: AppsFile) => JSON.stringify(apps);

const part = (token: string, i: 0 | 1) => JSON.parse(Buffer.from(token.split('.')[i]!, 'base64url').toString()) as Record<string, unknown>;
const decodeProtectedHeader = (token: string) => part(token, 0) as { alg: string; kid?: string };

/** An HS256 JWT signed here, for claims emit-api never mints (no iat, a foreign aud). */
function signJwt(header: Record<string, unknown>, claims: Record<string, unknown>, secret: Uint8Array): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const body = `${encode({ alg: 'HS256', ...header })}.${encode(claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

async function tokenFor(identity: string, env: 'test' | 'live' = 'test', extra: Record<string, unknown> = {}): Promise<string> {
  return mintToken(stack, 'alpha', identity, 'web', env, extra);
}

const connect = (query: string) => RpcClient.connect(`${stack.gatewayUrl()}/v1/connect?${query}`);

/** Answers a request: the connection is open and served. */
async function served(client: RpcClient): Promise<void> {
  const reply = await client.request('signal.join', { id: `served-${Math.random().toString(36).slice(2)}` });
  expect(reply.error).toBeUndefined();
}

const KEY_REMOVED = { code: 4005, reason: 'the key this connection used was removed; connect again with current credentials' };

describe('key rotation with kid', () => {
  it('signs with the newest secret, accepts older ones until removed, then refuses them and closes their connections with 4005', async () => {
    // Before: the kid-less tokenSecret, as every deployment has it.
    const legacyToken = await tokenFor('ann');
    expect(decodeProtectedHeader(legacyToken).kid).toBeUndefined();
    const legacy = await connect(`token=${legacyToken}`);

    // Rotation starts: k1 is added and signs from now on; a second publishable key is added too.
    const secondKey = `pubk_test_${'Rotation2'.padEnd(32, 'x')}`;
    alphaTest().tokenSecrets = [{ kid: 'k1', secret: S1 }];
    alphaTest().publishableKeys.push(secondKey);
    await replaceFile(write(file), 'apps file reloaded');
    const k1Token = await tokenFor('bob');
    expect(decodeProtectedHeader(k1Token)).toMatchObject({ alg: 'HS256', kid: 'k1' });
    const k1 = await connect(`token=${k1Token}`);
    const anonymousOnSecondKey = await connect(`key=${secondKey}`);
    await served(legacy);
    // The old secret still verifies new connections.
    (await connect(`token=${legacyToken}`)).close();

    // k2 is added and tokenSecret removed (its tokens have had time to expire): the legacy connection goes.
    delete alphaTest().tokenSecret;
    alphaTest().tokenSecrets = [
      { kid: 'k1', secret: S1 },
      { kid: 'k2', secret: S2 },
    ];
    alphaTest().publishableKeys.pop();
    await replaceFile(write(file), 'apps file reloaded');
    expect(await legacy.closed).toEqual(KEY_REMOVED);
    expect(await anonymousOnSecondKey.closed).toEqual(KEY_REMOVED);
    await served(k1);
    await expect(connect(`token=${legacyToken}`)).rejects.toThrow(/^401 .*token has no kid and this environment has no tokenSecret/);
    await expect(connect(`key=${secondKey}`)).rejects.toThrow(/^401 .*unknown publishable key/);
    const k2Token = await tokenFor('cat');
    expect(decodeProtectedHeader(k2Token).kid).toBe('k2');
    const k2 = await connect(`token=${k2Token}`);

    // k1 is removed: its connection is closed, k2's stays.
    alphaTest().tokenSecrets = [{ kid: 'k2', secret: S2 }];
    const [gatewayLine] = await replaceFile(write(file), 'apps file reloaded');
    expect(JSON.parse(gatewayLine!)).toMatchObject({ trigger: 'file', closed: 1 });
    expect(await k1.closed).toEqual(KEY_REMOVED);
    await served(k2);
    await expect(connect(`token=${k1Token}`)).rejects.toThrow(/^401 .*token kid 'k1' is not a token secret of this environment/);
    k2.close();
  });

  it('keeps a connection whose client refreshed onto the new secret with signal.auth', async () => {
    alphaTest().tokenSecrets = [{ kid: 'k2', secret: S2 }];
    const client = await connect(`token=${await tokenFor('dan')}`);
    alphaTest().tokenSecrets = [
      { kid: 'k2', secret: S2 },
      { kid: 'k3', secret: S1 },
    ];
    await replaceFile(write(file), 'apps file reloaded');
    const fresh = await tokenFor('dan');
    expect(decodeProtectedHeader(fresh).kid).toBe('k3');
    expect((await client.request('signal.auth', { token: fresh })).error).toBeUndefined();
    alphaTest().tokenSecrets = [{ kid: 'k3', secret: S1 }];
    await replaceFile(write(file), 'apps file reloaded');
    await served(client);
    client.close();
  });
});

describe('a bad apps file', () => {
  it('is refused with an error naming the problem, counted, and the previous file stays in force (file changed on disk)', async () => {
    const client = await connect(`token=${await tokenFor('eve')}`);
    const [gatewayMetricsBefore, emitMetricsBefore] = await Promise.all([scrape(gateway()), scrape(stack.emitApi)]);
    const broken = structuredClone(file);
    broken.apps[0]!.environments.test!.tokenSecrets = [
      { kid: 'k3', secret: S1 },
      { kid: 'k3', secret: S2 },
    ];
    const [gatewayLine, emitLine] = await replaceFile(write(broken), 'apps file refused; the previous one stays in force');
    for (const line of [gatewayLine!, emitLine!]) {
      expect(JSON.parse(line)).toMatchObject({
        level: 50,
        trigger: 'file',
        error: expect.stringMatching(/'apps\.0\.environments\.test\.tokenSecrets': must not repeat a kid/),
      });
    }
    const [gatewayMetrics, emitMetrics] = await Promise.all([scrape(gateway()), scrape(stack.emitApi)]);
    expect(sample(gatewayMetrics, 'signal_gateway_apps_reloads_total', { result: 'refused' })).toBe(
      sample(gatewayMetricsBefore, 'signal_gateway_apps_reloads_total', { result: 'refused' }) + 1,
    );
    expect(sample(emitMetrics, 'signal_emit_apps_reloads_total', { result: 'refused' })).toBe(
      sample(emitMetricsBefore, 'signal_emit_apps_reloads_total', { result: 'refused' }) + 1,
    );
    expect(sample(gatewayMetrics, 'signal_gateway_apps_reloads_total', { result: 'ok' })).toBeGreaterThan(0);
    // The previous file is in force: nothing was closed, minting and connecting work as before.
    await served(client);
    const token = await tokenFor('eve');
    expect(decodeProtectedHeader(token).kid).toBe('k3');
    (await connect(`token=${token}`)).close();
    client.close();
  });

  it('is refused on SIGHUP too, without quoting the file (not JSON), and a good file then applies', async () => {
    const [gatewayLine, emitLine] = await reloadBySignal(`{"apps": [{"id": "x", "tokenSecret": "${S2}"`, 'apps file refused; the previous one stays in force');
    for (const line of [gatewayLine!, emitLine!]) {
      expect(JSON.parse(line)).toMatchObject({ trigger: 'sighup', error: expect.stringMatching(/is not valid JSON/) });
      expect(line).not.toContain(S2);
    }
    (await connect(`token=${await tokenFor('fay')}`)).close();

    await reloadBySignal(write(file), 'apps file reloaded');
    (await connect(`token=${await tokenFor('fay')}`)).close();
  });
});

describe('token lifetime cap (MAX_TOKEN_TTL_SECONDS) and audience', () => {
  it('refuses at connect a token whose exp - iat is over the gateway cap', async () => {
    const accepted = await tokenFor('gus', 'test', { ttl: MAX_TTL });
    (await connect(`token=${accepted}`)).close();
    const tooLong = await tokenFor('gus', 'test', { ttl: MAX_TTL + 1 });
    await expect(connect(`token=${tooLong}`)).rejects.toThrow(
      new RegExp(`^401 .*token lives ${MAX_TTL + 1} s \\(exp - iat\\), over the ${MAX_TTL} s this gateway accepts \\(MAX_TOKEN_TTL_SECONDS\\)`),
    );
  });

  it('judges a token without iat from now', async () => {
    const scope = new AppRegistry(parseAppsFile(file)).byPublishableKey(alphaTest().publishableKeys[0]!)!;
    const now = Math.floor(Date.now() / 1000);
    const sign = (exp: number) => signJwt({ kid: scope.signingKey.kid }, { iss: scope.issuer, sub: 'hal', exp }, scope.signingKey.secret);
    (await connect(`token=${sign(now + MAX_TTL - 60)}`)).close();
    await expect(connect(`token=${sign(now + MAX_TTL + 60)}`)).rejects.toThrow(/^401 .*MAX_TOKEN_TTL_SECONDS/);
  });

  it('checks aud where the environment sets an audience: emit-api mints with it, gateways refuse another', async () => {
    const minted = await tokenFor('ivy', 'live');
    expect(part(minted, 1).aud).toBe(AUDIENCE);
    (await connect(`token=${minted}`)).close();
    (await connect(`token=${await tokenFor('ivy', 'live', { audience: 'https://mobile.example.com' })}`)).close();
    const refused = await emit(stack, '/v1/tokens', keysOf(stack, 'alpha', 'live').secretKey, { identity: 'ivy', audience: 'https://other.example' });
    expect(refused).toMatchObject({ status: 400, body: { code: 'bad_request', field: 'audience' } });

    const scope = new AppRegistry(parseAppsFile(file)).byPublishableKey(keysOf(stack, 'alpha', 'live').publishableKey)!;
    const now = Math.floor(Date.now() / 1000);
    const foreign = signJwt({}, { iss: scope.issuer, sub: 'ivy', iat: now, exp: now + 60, aud: 'https://other.example' }, scope.signingKey.secret);
    await expect(connect(`token=${foreign}`)).rejects.toThrow(/^401 .*token claim aud must name one of this environment's audiences/);
    // The test environment sets none: its tokens' aud (GATEWAY_PUBLIC_URL, or anything) is not checked.
    (await connect(`token=${await tokenFor('ivy', 'test', { audience: 'https://other.example' })}`)).close();
  });
});

describe('Stelace sockets under rotation', () => {
  it('closes an authenticated Stelace socket when its token secret is removed (4005 on the WebSocket)', async () => {
    const token = await tokenFor('jon');
    const client = new StelaceClient(stack.gatewayUrl().replace('ws://', 'http://'), 'v4');
    const route = await client.authenticate({ publishableKey: keysOf(stack, 'alpha').publishableKey, authToken: token, channels: ['news'] });
    await gateway().waitForLine((line) => line.includes('"msg":"stelace socket authenticated"') && line.includes(`"route":"${route}"`));
    const closedBefore = sample(await scrape(gateway()), 'signal_gateway_connections_closed_total', { code: '4005' });

    const kid = decodeProtectedHeader(token).kid!;
    alphaTest().tokenSecrets = [...alphaTest().tokenSecrets!.filter((entry) => entry.kid !== kid), { kid: 'k9', secret: S0 }];
    const [gatewayLine] = await replaceFile(write(file), 'apps file reloaded');
    expect(JSON.parse(gatewayLine!)).toMatchObject({ closed: 1 });
    expect(await client.disconnected).toBe('transport close');
    expect(sample(await scrape(gateway()), 'signal_gateway_connections_closed_total', { code: '4005' })).toBe(closedBefore + 1);
  });
});

describe('the SDK after 4005', () => {
  it('asks its token provider for a fresh token at once and reconnects, without a refused attempt', async () => {
    alphaTest().tokenSecrets = [{ kid: 'k4', secret: S2 }];
    await replaceFile(write(file), 'apps file reloaded');
    const provider = tokenProvider(stack, 'eve', 'web');
    const eve = client(stack, 'eve', 'web', { provider });
    await eve.ready();
    const refusedBefore = refusedTotal(await scrape(gateway()));
    const lost = next(eve, 'disconnected');
    const back = next(eve, 'connected');
    alphaTest().tokenSecrets = [{ kid: 'k5', secret: S1 }];
    await replaceFile(write(file), 'apps file reloaded');
    expect((await lost)[0]).toMatchObject({ code: 4005, willReconnect: true });
    await back;
    // One token to connect, one fresh one after 4005: the token of the removed secret was never sent again.
    expect(provider.calls).toBe(2);
    expect(refusedTotal(await scrape(gateway()))).toBe(refusedBefore);
    expect(decodeProtectedHeader(provider.tokens[1]!).kid).toBe('k5');
    eve.close();
  });
});

/** Every connection the gateway refused so far, whatever the reason. */
function refusedTotal(samples: Map<string, number>): number {
  let total = 0;
  for (const [key, value] of samples) if (key.startsWith('signal_gateway_connections_refused_total{')) total += value;
  return total;
}
