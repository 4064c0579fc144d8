import { SignJWT, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  AppRegistry,
  ConfigError,
  LiveApps,
  TokenError,
  generateApp,
  mintChannelToken,
  mintUserToken,
  parseAppsFile,
  verifyChannelToken,
  verifyUserToken,
  type AppsFile,
  type ScopeKeys,
} from '../src/mod.js';

/** Token secrets with key ids, the lifetime cap and audiences (docs/authorization.md#rotation). */
const S0 = 'legacy-secret-'.padEnd(40, '0');
const S1 = 'first-rotated-secret-'.padEnd(40, '1');
const S2 = 'second-rotated-secret-'.padEnd(40, '2');

const base = generateApp('one');

/** The same app (same keys) each time, with its test environment's token settings replaced. */
function fileWith(test: Record<string, unknown>, app = base): AppsFile {
  const { tokenSecret: _, ...rest } = app.environments.test!;
  return parseAppsFile({ apps: [{ ...app, environments: { ...app.environments, test: { ...rest, ...test } } }] });
}

const scopeOf = (registry: AppRegistry, file: AppsFile): ScopeKeys => registry.byPublishableKey(file.apps[0]!.environments.test!.publishableKeys[0]!)!;

function refusal(run: () => unknown): string {
  try {
    run();
    return 'accepted';
  } catch (error) {
    expect(error).toBeInstanceOf(TokenError);
    return `${(error as TokenError).reason}: ${(error as Error).message}`;
  }
}

const now = () => Math.floor(Date.now() / 1000);

describe('apps file: token secrets', () => {
  it('accepts tokenSecret, tokenSecrets, or both, and refuses neither', () => {
    expect(() => fileWith({ tokenSecret: S0 })).not.toThrow();
    expect(() => fileWith({ tokenSecrets: [{ kid: 'k1', secret: S1 }] })).not.toThrow();
    expect(() => fileWith({ tokenSecret: S0, tokenSecrets: [{ kid: 'k1', secret: S1 }] })).not.toThrow();
    expect(() => fileWith({})).toThrow(/'apps\.0\.environments\.test\.tokenSecret': needs tokenSecret or tokenSecrets/);
  });

  it('names what is wrong with a tokenSecrets entry', () => {
    expect(() => fileWith({ tokenSecrets: [] })).toThrow(/tokenSecrets': must list at least one secret/);
    expect(() => fileWith({ tokenSecrets: [{ kid: 'k1', secret: 'short' }] })).toThrow(/tokenSecrets\.0\.secret': must be at least 32 characters/);
    expect(() => fileWith({ tokenSecrets: [{ kid: 'a b', secret: S1 }] })).toThrow(/tokenSecrets\.0\.kid': must be 1-64 of/);
    expect(() => fileWith({ tokenSecrets: [{ kid: 'k1', secret: S1 }, { kid: 'k1', secret: S2 }] })).toThrow(/tokenSecrets': must not repeat a kid/);
    expect(() => fileWith({ tokenSecrets: [{ kid: 'k1', secret: S1, extra: 1 }] })).toThrow(ConfigError);
    const many = Array.from({ length: 17 }, (_, i) => ({ kid: `k${i}`, secret: S1 }));
    expect(() => fileWith({ tokenSecrets: many })).toThrow(/must list at most 16 secrets/);
  });

  it('names what is wrong with an audience', () => {
    expect(() => fileWith({ tokenSecret: S0, audience: '' })).toThrow(/audience/);
    expect(() => fileWith({ tokenSecret: S0, audience: [] })).toThrow(/audience': must be a string or an array of 1 to 16 strings/);
    expect(() => fileWith({ tokenSecret: S0, audience: ['https://a.example', 'b'] })).not.toThrow();
  });
});

describe('rotation', () => {
  it('signs with tokenSecret and no kid when there is no tokenSecrets (the format deployments have)', async () => {
    const file = fileWith({ tokenSecret: S0 });
    const registry = new AppRegistry(file);
    const { token } = await mintUserToken(scopeOf(registry, file), { identity: 'a', ttlSeconds: 60 });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(verifyUserToken(registry, token).key.kid).toBeUndefined();
  });

  it('signs with the last of tokenSecrets and names its kid; verifies every listed one until it is removed', async () => {
    const before = fileWith({ tokenSecret: S0 });
    const legacy = (await mintUserToken(scopeOf(new AppRegistry(before), before), { identity: 'a', ttlSeconds: 60 })).token;

    const during = fileWith({ tokenSecret: S0, tokenSecrets: [{ kid: 'k1', secret: S1 }, { kid: 'k2', secret: S2 }] });
    const registry = new AppRegistry(during);
    const newest = (await mintUserToken(scopeOf(registry, during), { identity: 'a', ttlSeconds: 60 })).token;
    expect(decodeProtectedHeader(newest)).toMatchObject({ alg: 'HS256', kid: 'k2' });
    expect(verifyUserToken(registry, newest).key.kid).toBe('k2');
    expect(verifyUserToken(registry, legacy).key.kid).toBeUndefined();
    const channel = (await mintChannelToken(scopeOf(registry, during), { identity: 'a', channel: 'c', operations: ['subscribe'], ttlSeconds: 60 })).token;
    expect(decodeProtectedHeader(channel).kid).toBe('k2');
    expect(verifyChannelToken(registry, channel).key.kid).toBe('k2');

    const after = structuredClone(during);
    delete after.apps[0]!.environments.test!.tokenSecret;
    after.apps[0]!.environments.test!.tokenSecrets = [{ kid: 'k1', secret: S1 }];
    const rotated = new AppRegistry(after);
    expect(refusal(() => verifyUserToken(rotated, legacy))).toBe(
      'bad_signature: token has no kid and this environment has no tokenSecret to verify it; mint a new one',
    );
    expect(refusal(() => verifyUserToken(rotated, newest))).toBe(
      "bad_signature: token kid 'k2' is not a token secret of this environment (removed, or never configured); mint a new one",
    );
  });

  it('refuses a token whose kid names a secret that did not sign it, and a kid that is not a string', async () => {
    const file = fileWith({ tokenSecrets: [{ kid: 'k1', secret: S1 }, { kid: 'k2', secret: S2 }] });
    const registry = new AppRegistry(file);
    const scope = scopeOf(registry, file);
    const forged = await new SignJWT({ iss: scope.issuer, sub: 'a', exp: now() + 60 }).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new TextEncoder().encode(S2));
    expect(refusal(() => verifyUserToken(registry, forged))).toMatch(/^bad_signature: token signature is invalid$/);
    const numeric = await new SignJWT({ iss: scope.issuer, sub: 'a', exp: now() + 60 })
      .setProtectedHeader({ alg: 'HS256', kid: 7 } as unknown as { alg: string })
      .sign(new TextEncoder().encode(S1));
    expect(refusal(() => verifyUserToken(registry, numeric))).toMatch(/^bad_signature: token header kid must be a string$/);
  });

  it('LiveApps answers from the registry installed last', () => {
    const first = fileWith({ tokenSecret: S0 });
    const second = fileWith({ tokenSecret: S0 }, generateApp('one'));
    const live = new LiveApps(new AppRegistry(first));
    const firstKey = first.apps[0]!.environments.test!.publishableKeys[0]!;
    expect(live.byPublishableKey(firstKey)).toBeDefined();
    live.replace(new AppRegistry(second));
    expect(live.byPublishableKey(firstKey)).toBeUndefined();
    expect(live.byPublishableKey(second.apps[0]!.environments.test!.publishableKeys[0]!)).toBeDefined();
  });
});

describe('lifetime cap and audience', () => {
  const file = fileWith({ tokenSecret: S0 });
  const registry = new AppRegistry(file);
  const scope = scopeOf(registry, file);
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT({ iss: scope.issuer, sub: 'a', ...claims }).setProtectedHeader({ alg: 'HS256' }).sign(scope.signingKey.secret);
  const rules = { maxTtlSeconds: 3600 };
  const verdict = async (claims: Record<string, unknown>, withRules = rules) => {
    const token = await sign(claims);
    return refusal(() => verifyUserToken(registry, token, withRules));
  };

  it('refuses exp - iat over the cap, and judges a token without iat (or with a future one) from now', async () => {
    const t = now();
    expect(await verdict({ iat: t - 100, exp: t + 3500 })).toBe('accepted');
    expect(await verdict({ iat: t, exp: t + 3601 })).toBe(
      'bad_claims: token lives 3601 s (exp - iat), over the 3600 s this gateway accepts (MAX_TOKEN_TTL_SECONDS); mint a shorter-lived one',
    );
    // A millisecond iat (as emit-api mints) counts in whole seconds, the unit of the cap and its message.
    expect(await verdict({ iat: t - 1 + 0.999, exp: t + 3600 })).toMatch(/^bad_claims: token lives 3601 s /);
    expect(await verdict({ iat: t - 1 + 0.999, exp: t - 1 + 3600 })).toBe('accepted');
    expect(await verdict({ exp: t + 3500 })).toBe('accepted');
    expect(await verdict({ exp: t + 3700 })).toMatch(/^bad_claims: token lives 3[67]\d\d s/);
    // A future iat cannot shorten the lifetime: it counts from now.
    expect(await verdict({ iat: t + 3000, exp: t + 3700 })).toMatch(/^bad_claims: token lives 3[67]\d\d s/);
    // Without rules, the default: 30 days.
    const token = await sign({ iat: t, exp: t + 30 * 86400 + 1 });
    expect(refusal(() => verifyUserToken(registry, token))).toMatch(/^bad_claims: token lives 2592001 s/);
    expect(await verdict({ iat: t, exp: t + 30 * 86400 }, { maxTtlSeconds: 30 * 86400 })).toBe('accepted');
  });

  it('checks aud only where the environment sets an audience; one of the token\'s values must match', async () => {
    const t = now();
    expect(await verdict({ exp: t + 60, aud: 'https://anything.example' })).toBe('accepted');
    const strict = fileWith({ tokenSecret: S0, audience: ['https://signal.example.com', 'mobile'] });
    const strictRegistry = new AppRegistry(strict);
    const strictScope = scopeOf(strictRegistry, strict);
    const check = async (aud: unknown) => {
      const claims: Record<string, unknown> = { iss: strictScope.issuer, sub: 'a', exp: t + 60 };
      if (aud !== undefined) claims.aud = aud;
      const token = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(strictScope.signingKey.secret);
      return refusal(() => verifyUserToken(strictRegistry, token));
    };
    expect(await check('mobile')).toBe('accepted');
    expect(await check(['other', 'https://signal.example.com'])).toBe('accepted');
    expect(await check('https://other.example')).toBe(
      "bad_claims: token claim aud must name one of this environment's audiences (https://signal.example.com, mobile)",
    );
    expect(await check(undefined)).toMatch(/^bad_claims: token claim aud must name/);
    expect(await check([7])).toMatch(/^bad_claims: token claim aud must name/);
    // Minted tokens carry the first audience, user and channel tokens alike.
    const minted = (await mintUserToken(strictScope, { identity: 'a', ttlSeconds: 60 })).token;
    expect(verifyUserToken(strictRegistry, minted).identity).toBe('a');
    const channel = (await mintChannelToken(strictScope, { identity: 'a', channel: 'c', operations: ['subscribe'], ttlSeconds: 60 })).token;
    expect(verifyChannelToken(strictRegistry, channel).channel).toBe('c');
  });
});
