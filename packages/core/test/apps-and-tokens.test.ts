import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { AppRegistry, ConfigError, TokenError, generateApp, mintUserToken, parseAppsFile, sha256Hex, verifyUserToken } from '../src/mod.js';

const file = { apps: [generateApp('one'), generateApp('two', { broadcast: true })] };
const registry = new AppRegistry(parseAppsFile(file));
const oneTest = file.apps[0]!.environments.test!;

describe('apps file', () => {
  it('names the bad field', () => {
    const broken = structuredClone(file) as { apps: Array<{ environments: { test: { tokenSecret: string } } }> };
    broken.apps[1]!.environments.test.tokenSecret = 'short';
    expect(() => parseAppsFile(broken)).toThrow(/'apps\.1\.environments\.test\.tokenSecret': must be at least 32 characters/);
    expect(() => parseAppsFile({ apps: [{ id: 'x', environments: {}, extra: 1 }] })).toThrow(ConfigError);
  });

  it('refuses a live key in the test environment', () => {
    const wrong = structuredClone(file);
    wrong.apps[0]!.environments.test!.publishableKeys = [file.apps[0]!.environments.live!.publishableKeys[0]!];
    expect(() => parseAppsFile(wrong)).toThrow(/a test key must start with pubk_test_/);
  });

  it('finds the scope of publishable and secret keys, including hashed secret keys', () => {
    expect(registry.byPublishableKey(oneTest.publishableKeys[0]!)).toMatchObject({ app: 'one', env: 'test' });
    expect(registry.bySecretKey(oneTest.secretKeys[0]!.key!)).toMatchObject({ app: 'one', env: 'test' });
    expect(registry.bySecretKey('seck_test_' + 'x'.repeat(32))).toBeUndefined();
    const hashed = structuredClone(file);
    const key = hashed.apps[0]!.environments.test!.secretKeys[0]!.key!;
    hashed.apps[0]!.environments.test!.secretKeys = [{ sha256: sha256Hex(key), permissions: [] }];
    expect(new AppRegistry(parseAppsFile(hashed)).bySecretKey(key)).toMatchObject({ app: 'one' });
  });
});

describe('user tokens', () => {
  const scope = registry.byPublishableKey(oneTest.publishableKeys[0]!)!;

  it('round-trips identity, device and grants', async () => {
    const { token } = await mintUserToken(scope, { identity: 'alice', device: 'web1', ttlSeconds: 60, grants: { publish: false } });
    const user = await verifyUserToken(registry, token);
    expect(user).toMatchObject({ identity: 'alice', device: 'web1', grants: { publish: false } });
    expect(user.scope.app).toBe('one');
  });

  it('refuses expired, foreign and forged tokens with a reason', async () => {
    const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer(scope.issuer).setSubject('a').setExpirationTime(Math.floor(Date.now() / 1000) - 5).sign(scope.tokenSecret);
    await expect(verifyUserToken(registry, expired)).rejects.toMatchObject({ reason: 'expired' });
    const other = registry.byPublishableKey(file.apps[1]!.environments.test!.publishableKeys[0]!)!;
    const forged = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer(scope.issuer).setSubject('a').setExpirationTime('1h').sign(other.tokenSecret);
    await expect(verifyUserToken(registry, forged)).rejects.toMatchObject({ reason: 'bad_signature' });
    await expect(verifyUserToken(registry, 'nope')).rejects.toBeInstanceOf(TokenError);
    const noExp = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer(scope.issuer).setSubject('a').sign(scope.tokenSecret);
    await expect(verifyUserToken(registry, noExp)).rejects.toMatchObject({ reason: 'bad_claims' });
    const badSub = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer(scope.issuer).setSubject('a/b/c').setExpirationTime('1h').sign(scope.tokenSecret);
    await expect(verifyUserToken(registry, badSub)).rejects.toMatchObject({ reason: 'bad_claims' });
  });
});
