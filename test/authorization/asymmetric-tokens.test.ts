import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcClient } from '../support/rpc-client.js';
import { startStack, type Stack } from '../support/stack.js';

/**
 * Tokens from an existing identity provider (docs/authorization.md#asymmetric-tokens): RS256,
 * ES256 and EdDSA, with keys in the apps file and from a JWKS URL served here by a local HTTP
 * server, rotated mid-test and then unreachable. Every step waits for the gateway's `jwks
 * fetched` / `jwks fetch failed` log lines, never for time.
 */
const ISSUER = 'https://idp.example.test/';

type Alg = 'RS256' | 'ES256' | 'EdDSA';
interface Pair {
  kid: string;
  alg: Alg;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

function pair(kid: string, alg: Alg): Pair {
  const keys =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : alg === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
        : generateKeyPairSync('ed25519');
  return { kid, alg, ...keys };
}

const fileKey = pair('file-ed', 'EdDSA');
const rsa1 = pair('rs-1', 'RS256');
const ec1 = pair('ec-1', 'ES256');
const rsa2 = pair('rs-2', 'RS256');

/** A JWS signed here as an identity provider would. */
function jwt(key: Pair, claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const input = `${encode({ alg: key.alg, typ: 'JWT', kid: key.kid, ...header })}.${encode({ iss: ISSUER, iat: now, exp: now + 600, ...claims })}`;
  const signature =
    key.alg === 'RS256'
      ? sign('sha256', Buffer.from(input), key.privateKey)
      : key.alg === 'ES256'
        ? sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
        : sign(null, Buffer.from(input), key.privateKey);
  return `${input}.${signature.toString('base64url')}`;
}

const jwk = (key: Pair) => ({ ...key.publicKey.export({ format: 'jwk' }), kid: key.kid, use: 'sig' });

/** The JWKS endpoint: what it serves can be changed mid-test. */
let served: { status: number; body: string; cacheControl: string };
let server: Server;
let stack: Stack;
let firstFetch: string;

const gateway = () => stack.gateways[0]!;
function count(msg: string): number {
  return gateway()
    .lines()
    .filter((line) => line.includes(`"msg":"${msg}"`)).length;
}
function nextLog(msg: string): Promise<string> {
  const seen = count(msg);
  let matched = 0;
  return gateway().waitForLine((line) => line.includes(`"msg":"${msg}"`) && ++matched > seen);
}

beforeAll(async () => {
  served = { status: 200, body: JSON.stringify({ keys: [jwk(rsa1), jwk(ec1)] }), cacheControl: 'max-age=3600' };
  server = createServer((_req, res) => {
    res.writeHead(served.status, { 'content-type': 'application/json', 'cache-control': served.cacheControl });
    res.end(served.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  stack = await startStack({
    gateways: 1,
    gatewayEnv: { JWKS_MIN_REFRESH_MS: '100' },
    configureApps: (apps) => {
      (apps[0]!.environments.test as Record<string, unknown>).identityProvider = {
        issuer: ISSUER,
        keys: [{ kid: fileKey.kid, alg: 'EdDSA', pem: fileKey.publicKey.export({ format: 'pem', type: 'spki' }) }],
        jwksUrl,
        claims: { device: 'device_id', capability: 'https://signal.example/capability' },
      };
    },
  });
  firstFetch = await gateway().waitForLine((line) => line.includes('"msg":"jwks fetched"'));
});
afterAll(async () => {
  await stack?.stop();
  server?.close();
});

const connect = (token: string) => RpcClient.connect(`${stack.gatewayUrl()}/v1/connect?token=${token}`);

describe('asymmetric tokens', () => {
  it('fetches the JWKS at start and refreshes it as Cache-Control max-age says', () => {
    expect(JSON.parse(firstFetch)).toMatchObject({ keys: 2, skipped: 0, refreshInMs: 3_600_000 });
  });

  it('accepts RS256, ES256 and EdDSA tokens, with identity from sub and the device from the mapped claim', async () => {
    for (const key of [fileKey, rsa1, ec1]) {
      const client = await connect(jwt(key, { sub: `user-${key.alg}`, device_id: 'phone' }));
      expect(client.address).toMatch(new RegExp(`^user-${key.alg}/phone/`));
      client.close();
    }
    const withoutDevice = await connect(jwt(rsa1, { sub: 'nodevice' }));
    expect(withoutDevice.address).toMatch(/^nodevice\/default\//);
    withoutDevice.close();
  });

  it('maps the configured capability claim', async () => {
    const client = await connect(jwt(ec1, { sub: 'cap', 'https://signal.example/capability': { 'room-1': ['subscribe'] } }));
    expect((await client.request('signal.join', { id: 'room-1' })).error).toBeUndefined();
    expect((await client.request('signal.join', { id: 'room-2' })).error).toMatchObject({ data: { code: 'forbidden', channel: 'room-2' } });
    client.close();
  });

  it('never lets the token choose the algorithm, and refuses forgeries', async () => {
    // The ES256 key's kid with an RS256 header: the key decides the algorithm.
    await expect(connect(jwt(rsa1, { sub: 'x' }, { kid: ec1.kid }))).rejects.toThrow(/^401 /);
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', kid: rsa1.kid })).toString('base64url')}.${Buffer.from(JSON.stringify({ iss: ISSUER, sub: 'x', exp: 2e9 })).toString('base64url')}.`;
    await expect(connect(unsigned)).rejects.toThrow(/^401 /);
    const tampered = jwt(rsa1, { sub: 'x' }).split('.');
    tampered[1] = Buffer.from(JSON.stringify({ iss: ISSUER, sub: 'admin', exp: 2e9 })).toString('base64url');
    await expect(connect(tampered.join('.'))).rejects.toThrow(/^401 .*signature is invalid/);
    await expect(connect(jwt(rsa1, { sub: 'x', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 40 * 86400 }))).rejects.toThrow(
      /^401 .*MAX_TOKEN_TTL_SECONDS/,
    );
  });

  it('picks up a rotated JWKS: an unknown kid is refused and asks for an early refresh, then accepted', async () => {
    served = { ...served, body: JSON.stringify({ keys: [jwk(ec1), jwk(rsa2)] }) };
    const fetched = nextLog('jwks fetched');
    await expect(connect(jwt(rsa2, { sub: 'rotated' }))).rejects.toThrow(/^401 .*kid 'rs-2'/);
    expect(JSON.parse(await fetched)).toMatchObject({ keys: 2, skipped: 0 });
    (await connect(jwt(rsa2, { sub: 'rotated' }))).close();
    // The key the provider dropped no longer verifies.
    await expect(connect(jwt(rsa1, { sub: 'old' }))).rejects.toThrow(/^401 /);
  });

  it('keeps the last good keys when the JWKS answers garbage, an error or nothing at all', async () => {
    for (const answer of [
      { status: 200, body: '{"keys": [', cacheControl: 'no-store' },
      { status: 200, body: JSON.stringify({ keys: 'nope' }), cacheControl: 'no-store' },
      { status: 200, body: `${'['.repeat(100)}${']'.repeat(100)}`, cacheControl: 'no-store' },
      { status: 200, body: JSON.stringify({ keys: [], pad: 'x'.repeat(300 * 1024) }), cacheControl: 'no-store' },
      { status: 500, body: 'oops', cacheControl: 'no-store' },
    ]) {
      served = answer;
      const failed = nextLog('jwks fetch failed; keeping the last good keys');
      await expect(connect(jwt(rsa1, { sub: 'x' }, { kid: 'unknown-kid' }))).rejects.toThrow(/^401 /);
      expect(JSON.parse(await failed)).toMatchObject({ kept: 2 });
      (await connect(jwt(rsa2, { sub: 'still' }))).close();
    }
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    const failed = nextLog('jwks fetch failed; keeping the last good keys');
    await expect(connect(jwt(rsa1, { sub: 'x' }, { kid: 'another-unknown' }))).rejects.toThrow(/^401 /);
    expect(JSON.parse(await failed)).toMatchObject({ kept: 2 });
    (await connect(jwt(ec1, { sub: 'still' }))).close();
  });

  it('closes with 4005 the connections of a provider a reloaded apps file removes', async () => {
    const client = await connect(jwt(fileKey, { sub: 'leaving' }));
    const apps = structuredClone(stack.apps);
    delete (apps[0]!.environments.test as Record<string, unknown>).identityProvider;
    const reloaded = nextLog('apps file reloaded');
    await writeFile(`${stack.appsFile}.tmp`, JSON.stringify({ apps }));
    await rename(`${stack.appsFile}.tmp`, stack.appsFile);
    expect(JSON.parse(await reloaded)).toMatchObject({ closed: 1 });
    expect((await client.closed).code).toBe(4005);
    await expect(connect(jwt(fileKey, { sub: 'leaving' }))).rejects.toThrow(/^401 .*token issuer is not a known publishable key or identity provider/);
  });
});
