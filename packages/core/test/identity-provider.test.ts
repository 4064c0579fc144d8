import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AppRegistry, ConfigError, TokenError, generateApp, parseAppsFile, publicKeyFrom, verifyChannelToken, verifyUserToken } from '../src/mod.js';

/** An environment's identity provider: its keys in the apps file, and how its tokens are verified (docs/authorization.md#asymmetric-tokens). */
const ISSUER = 'https://idp.example.test/';
const ed = generateKeyPairSync('ed25519');
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = (key: typeof ed.publicKey) => key.export({ format: 'pem', type: 'spki' }) as string;

const base = generateApp('one');
function registryWith(provider: Record<string, unknown>): AppRegistry {
  return new AppRegistry(parseAppsFile({ apps: [{ ...base, environments: { test: { ...base.environments.test!, identityProvider: provider } } }] }));
}

function jwt(alg: string, kid: string | undefined, claims: Record<string, unknown>, signWith: (input: Buffer) => Buffer): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const input = `${encode({ alg, kid })}.${encode({ iss: ISSUER, sub: 'ann', iat: now, exp: now + 60, ...claims })}`;
  return `${input}.${signWith(Buffer.from(input)).toString('base64url')}`;
}
const edSign = (input: Buffer) => sign(null, input, ed.privateKey);
const ecSign = (input: Buffer) => sign('sha256', input, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });

function refusal(run: () => unknown): string {
  try {
    run();
    return 'accepted';
  } catch (error) {
    expect(error).toBeInstanceOf(TokenError);
    return `${(error as TokenError).reason}: ${(error as Error).message}`;
  }
}

describe('identityProvider in the apps file', () => {
  it('names a key that is not a usable public key for its alg', () => {
    expect(() => registryWith({ issuer: ISSUER, keys: [{ alg: 'EdDSA', pem: 'nope' }] })).toThrow(
      /'apps\.0\.environments\.test\.identityProvider\.keys\.0': is not a usable public key/,
    );
    expect(() => registryWith({ issuer: ISSUER, keys: [{ alg: 'RS256', pem: pem(ec.publicKey) }] })).toThrow(/keys\.0': an RS256 key must be an RSA key/);
    expect(() => registryWith({ issuer: ISSUER, keys: [{ alg: 'ES256', pem: pem(ed.publicKey) }] })).toThrow(/an ES256 key must be an EC key on P-256/);
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => registryWith({ issuer: ISSUER, keys: [{ alg: 'RS256', pem: pem(small.publicKey) }] })).toThrow(/at least 2048 bits/);
    const privateJwk = ed.privateKey.export({ format: 'jwk' });
    expect(() => registryWith({ issuer: ISSUER, keys: [{ alg: 'EdDSA', jwk: privateJwk }] })).toThrow(/it is a private key/);
    expect(() => registryWith({ issuer: ISSUER })).toThrow(/identityProvider\.keys': needs keys or jwksUrl/);
    expect(() => registryWith({ issuer: ISSUER, jwksUrl: 'ftp://x/jwks' })).toThrow(/jwksUrl': must be an http or https URL/);
    expect(() => registryWith({ issuer: base.environments.test!.publishableKeys[0]!, jwksUrl: 'https://x/jwks' })).toThrow(/must not be a publishable key/);
    expect(() => registryWith({ issuer: ISSUER, keys: [{ alg: 'EdDSA', pem: pem(ed.publicKey), jwk: {} }] })).toThrow(ConfigError);
  });

  it('accepts PEM and JWK keys', () => {
    const registry = registryWith({
      issuer: ISSUER,
      keys: [
        { kid: 'ed', alg: 'EdDSA', pem: pem(ed.publicKey) },
        { kid: 'ec', alg: 'ES256', jwk: ec.publicKey.export({ format: 'jwk' }) },
        { kid: 'rs', alg: 'RS256', jwk: rsa.publicKey.export({ format: 'jwk' }) },
      ],
    });
    expect(registry.byTokenIssuer(ISSUER)?.keys.map((k) => k.alg)).toEqual(['EdDSA', 'ES256', 'RS256']);
    expect(registry.jwksUrls().size).toBe(0);
  });
});

describe("an identity provider's tokens", () => {
  const registry = registryWith({
    issuer: ISSUER,
    keys: [
      { kid: 'ed', alg: 'EdDSA', pem: pem(ed.publicKey) },
      { kid: 'ec', alg: 'ES256', pem: pem(ec.publicKey) },
    ],
    claims: { device: 'device_id', capability: 'perms' },
  });

  it('verify with the key the kid names, mapping sub, the device claim and the capability claim', () => {
    const user = verifyUserToken(registry, jwt('EdDSA', 'ed', { device_id: 'phone', perms: { 'room-*': ['subscribe'] } }, edSign));
    expect(user).toMatchObject({ identity: 'ann', device: 'phone', provider: true, capability: [{ pattern: 'room-*', operations: ['subscribe'] }] });
    expect(user.scope.app).toBe('one');
    expect(verifyUserToken(registry, jwt('ES256', 'ec', {}, ecSign))).toMatchObject({ identity: 'ann', device: undefined });
  });

  it('refuse an algorithm other than the key says, a forged signature, and use as a channel token', () => {
    expect(refusal(() => verifyUserToken(registry, jwt('ES256', 'ed', {}, edSign)))).toBe("bad_signature: token alg must be EdDSA, the algorithm of key 'ed'");
    expect(refusal(() => verifyUserToken(registry, jwt('HS256', 'ed', {}, edSign)))).toMatch(/^bad_signature: token alg must be EdDSA/);
    expect(refusal(() => verifyUserToken(registry, jwt('EdDSA', 'ed', {}, ecSign)))).toBe('bad_signature: token signature is invalid');
    expect(refusal(() => verifyUserToken(registry, jwt('EdDSA', 'gone', {}, edSign)))).toBe("bad_signature: token kid 'gone' is not a key of the identity provider");
    expect(refusal(() => verifyUserToken(registry, jwt('EdDSA', 'ed', { sub: 'a/b' }, edSign)))).toMatch(/^bad_claims: token claim sub is invalid/);
    expect(refusal(() => verifyUserToken(registry, jwt('EdDSA', 'ed', { device_id: 7 }, edSign)))).toMatch(/^bad_claims: token claim device_id \(the device\) is invalid/);
    expect(refusal(() => verifyUserToken(registry, jwt('EdDSA', 'ed', { perms: 'all' }, edSign)))).toMatch(/^bad_claims: token claim perms is invalid/);
    expect(refusal(() => verifyChannelToken(registry, jwt('EdDSA', 'ed', { channel: 'c', operations: ['subscribe'] }, edSign)))).toMatch(
      /^bad_claims: channel tokens are minted by emit-api/,
    );
    const foreign = jwt('EdDSA', 'ed', { iss: 'https://someone-else/' }, edSign);
    expect(refusal(() => verifyUserToken(registry, foreign))).toBe('unknown_issuer: token issuer is not a known publishable key or identity provider');
  });

  it('public keys refuse what is not one', () => {
    expect(() => publicKeyFrom('EdDSA', undefined, { pem: ed.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string })).toThrow(/it is a private key/);
    expect(() => publicKeyFrom('EdDSA', undefined, { jwk: { kty: 'OKP', crv: 'Ed25519', x: 'short' } })).toThrow(/is not a usable public key/);
  });
});
