import { createHmac } from 'node:crypto';
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

describe('Stelace settings', () => {
  it('keep Stelace sockets to backend signals unless an environment opts in', () => {
    const optedIn = structuredClone(file) as unknown as { apps: Array<{ environments: { live: { stelace?: unknown } } }> };
    optedIn.apps[0]!.environments.live.stelace = { clientMessages: true };
    const opted = new AppRegistry(parseAppsFile(optedIn));
    expect(opted.deliversClientMessagesToStelace({ app: 'one', env: 'live' })).toBe(true);
    expect(opted.deliversClientMessagesToStelace({ app: 'one', env: 'test' })).toBe(false);
    expect(registry.deliversClientMessagesToStelace({ app: 'one', env: 'live' })).toBe(false);
    optedIn.apps[0]!.environments.live.stelace = { clientMessages: 'yes' };
    expect(() => parseAppsFile(optedIn)).toThrow(/'apps\.0\.environments\.live\.stelace\.clientMessages'/);
    optedIn.apps[0]!.environments.live.stelace = { other: true };
    expect(() => parseAppsFile(optedIn)).toThrow(ConfigError);
  });
});

describe('user tokens', () => {
  const scope = registry.byPublishableKey(oneTest.publishableKeys[0]!)!;

  it('round-trips identity, device and grants', async () => {
    const { token } = await mintUserToken(scope, { identity: 'alice', device: 'web1', ttlSeconds: 60, grants: { publish: false } });
    const user = verifyUserToken(registry, token);
    expect(user).toMatchObject({ identity: 'alice', device: 'web1', grants: { publish: false } });
    expect(user.scope.app).toBe('one');
  });

  it('carries a unique jti and an iat with millisecond precision, both read back at verification', async () => {
    const before = Date.now() / 1000;
    const minted = await Promise.all(Array.from({ length: 50 }, () => mintUserToken(scope, { identity: 'alice', ttlSeconds: 60 })));
    const after = Date.now() / 1000;
    expect(new Set(minted.map((m) => m.tokenId)).size).toBe(50);
    for (const { token, tokenId } of minted) {
      expect(tokenId).toMatch(/^[A-Za-z0-9_-]{22}$/);
      const user = verifyUserToken(registry, token);
      expect(user.tokenId).toBe(tokenId);
      expect(user.issuedAt).toBeGreaterThanOrEqual(Math.floor(before * 1000) / 1000);
      expect(user.issuedAt).toBeLessThanOrEqual(after);
      expect(Math.round(user.issuedAt! * 1000) / 1000).toBe(user.issuedAt);
    }
  });

  const signed = (claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'HS256' }, secret = scope.signingKey.secret) =>
    new SignJWT({ iss: scope.issuer, sub: 'a', ...claims }).setProtectedHeader(header as { alg: string }).sign(secret);
  const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;
  const reason = (token: string) => {
    try {
      verifyUserToken(registry, token);
      return 'accepted';
    } catch (error) {
      expect(error).toBeInstanceOf(TokenError);
      return (error as TokenError).reason;
    }
  };

  it('refuses expired, foreign, forged and malformed tokens with a reason', async () => {
    expect(reason(await signed({ exp: Math.floor(Date.now() / 1000) - 5 }))).toBe('expired');
    const other = registry.byPublishableKey(file.apps[1]!.environments.test!.publishableKeys[0]!)!;
    expect(reason(await signed({ exp: inAnHour() }, { alg: 'HS256' }, other.signingKey.secret))).toBe('bad_signature');
    expect(reason('nope')).toBe('malformed');
    expect(reason('a.b.c.d.e')).toBe('malformed');
    expect(reason(await signed({}))).toBe('bad_claims');
    expect(reason(await signed({ exp: String(inAnHour()) }))).toBe('bad_claims');
    expect(reason(await signed({ exp: inAnHour(), sub: 'a/b/c' }))).toBe('bad_claims');
    expect(reason(await signed({ exp: inAnHour(), sub: undefined }))).toBe('bad_claims');
    expect(reason(await signed({ exp: inAnHour(), nbf: inAnHour() }))).toBe('bad_claims');
    expect(reason(await signed({ exp: inAnHour(), iss: 'pubk_test_unknown' }))).toBe('unknown_issuer');
  });

  it('accepts only a plain HS256 signature over exactly the signed bytes', async () => {
    const good = await signed({ exp: inAnHour() });
    expect(reason(good)).toBe('accepted');
    const [header, payload, signature] = good.split('.') as [string, string, string];
    // Other algorithms, even with the right secret, and unsigned tokens.
    expect(reason(await signed({ exp: inAnHour() }, { alg: 'HS512' }))).toBe('bad_signature');
    const none = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    expect(reason(`${none}.${payload}.`)).toBe('bad_signature');
    expect(reason(`${header}.${payload}.`)).toBe('bad_signature');
    // A critical extension we do not understand (jose will not even sign one), correctly MACed.
    const critical = Buffer.from(JSON.stringify({ alg: 'HS256', crit: ['x'], x: 1 })).toString('base64url');
    const mac = createHmac('sha256', scope.signingKey.secret).update(`${critical}.${payload}`).digest('base64url');
    expect(reason(`${critical}.${payload}.${mac}`)).toBe('bad_signature');
    // The signature must be exactly the canonical encoding of the MAC.
    expect(reason(`${header}.${payload}.${signature}A`)).toBe('bad_signature');
    expect(reason(`${header}.${payload}.${signature}!`)).toBe('bad_signature');
    expect(reason(`${header}.${payload}.${signature.slice(0, -1)}`)).toBe('bad_signature');
    // A payload changed after signing.
    const forged = Buffer.from(JSON.stringify({ iss: scope.issuer, sub: 'admin', exp: inAnHour() })).toString('base64url');
    expect(reason(`${header}.${forged}.${signature}`)).toBe('bad_signature');
  });

  it('refuses a token whose grants withhold signal', async () => {
    expect(reason(await signed({ exp: inAnHour(), grants: { signal: false } }))).toBe('not_granted');
    expect(reason(await signed({ exp: inAnHour(), grants: { signal: 'yes' } }))).toBe('bad_claims');
  });
});

describe('channel history settings', () => {
  const withHistory = (history: unknown, namespaces: Record<string, unknown>) => {
    const copy = structuredClone(file) as { apps: Array<{ environments: { test: Record<string, unknown> } }> };
    copy.apps[0]!.environments.test.history = history;
    copy.apps[0]!.environments.test.authorization = { namespaces };
    return copy;
  };

  it('fills in the window and says which channels keep history (the most specific namespace decides)', () => {
    const registry = new AppRegistry(parseAppsFile(withHistory({}, { 'call-*': { history: true }, 'call-x': { publish: false } })));
    const scope = { app: 'one', env: 'test' } as const;
    expect(registry.historyOf(scope)).toEqual({ maxMessages: 100, maxAgeSeconds: 120, maxBytes: 64 * 1024 * 1024 });
    const defaults = { maxMessages: 100, maxAgeSeconds: 120 };
    expect(registry.historyWindowOf(scope, 'call-7')).toEqual(defaults);
    expect(registry.historyWindowOf(scope, 'call-x')).toBeUndefined();
    expect(registry.historyWindowOf(scope, 'chat')).toBeUndefined();
    expect(registry.historyWindowOf({ app: 'one', env: 'live' }, 'call-7')).toBeUndefined();
    expect(registry.directHistoryOf(scope)).toBeUndefined();
    expect(registry.environmentsWithHistory()).toEqual([{ scope, settings: registry.historyOf(scope) }]);
  });

  it('gives each namespace its own window, its blanks filled from the environment, and sizes the stream for the largest', () => {
    const registry = new AppRegistry(
      parseAppsFile(
        withHistory(
          { maxMessages: 50, maxAgeSeconds: 60, directMessages: true },
          { 'call-*': { history: { maxMessages: 10 } }, 'chat-*': { history: { maxMessages: 500, maxAgeSeconds: 3600 } }, 'feed-*': { history: true }, 'feed-x': { history: false } },
        ),
      ),
    );
    const scope = { app: 'one', env: 'test' } as const;
    expect(registry.historyWindowOf(scope, 'call-1')).toEqual({ maxMessages: 10, maxAgeSeconds: 60 });
    expect(registry.historyWindowOf(scope, 'chat-1')).toEqual({ maxMessages: 500, maxAgeSeconds: 3600 });
    expect(registry.historyWindowOf(scope, 'feed-1')).toEqual({ maxMessages: 50, maxAgeSeconds: 60 });
    expect(registry.historyWindowOf(scope, 'feed-x')).toBeUndefined();
    expect(registry.directHistoryOf(scope)).toEqual({ maxMessages: 50, maxAgeSeconds: 60 });
    expect(registry.historyOf(scope)).toEqual({ maxMessages: 500, maxAgeSeconds: 3600, maxBytes: 64 * 1024 * 1024 });
    expect(() => parseAppsFile(withHistory({}, { 'call-*': { history: { maxMessages: 0 } } }))).toThrow(/history\.maxMessages/);
    expect(() => parseAppsFile(withHistory({}, { 'call-*': { history: { size: 3 } } }))).toThrow(ConfigError);
    expect(() => parseAppsFile(withHistory(undefined, { 'call-*': { history: { maxMessages: 3 } } }))).toThrow(/keeps history; give the environment a history window/);
  });

  it('refuses a namespace that keeps history in an environment without a window, and windows out of bounds', () => {
    expect(() => parseAppsFile(withHistory(undefined, { 'call-*': { history: true } }))).toThrow(
      /'apps\.0\.environments\.test\.history': namespace 'call-\*' keeps history; give the environment a history window/,
    );
    expect(() => parseAppsFile(withHistory({ maxMessages: 1001 }, {}))).toThrow(/history\.maxMessages': must be at most 1000/);
    expect(() => parseAppsFile(withHistory({ maxAgeSeconds: 86_401 }, {}))).toThrow(/history\.maxAgeSeconds': must be at most 86400/);
    expect(() => parseAppsFile(withHistory({ maxBytes: 1024 }, {}))).toThrow(/history\.maxBytes': must be at least 1048576/);
    expect(() => parseAppsFile(withHistory({ maxMessages: 10, extra: 1 }, {}))).toThrow(ConfigError);
  });
});
