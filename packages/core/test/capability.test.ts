import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  AppRegistry,
  TokenError,
  capabilitySchema,
  generateApp,
  grantedOperations,
  matchesPattern,
  mintUserToken,
  parseAppsFile,
  sendRuleSchema,
  verifyUserToken,
} from '../src/mod.js';

const file = { apps: [generateApp('one')] };
const registry = new AppRegistry(parseAppsFile(file));
const scope = registry.byPublishableKey(file.apps[0]!.environments.test!.publishableKeys[0]!)!;

describe('channel patterns', () => {
  it('match an exact name only, unless they end in *', () => {
    expect(matchesPattern('room-1', 'room-1')).toBe(true);
    expect(matchesPattern('room-1', 'room-10')).toBe(false);
    expect(matchesPattern('room-1', 'room-')).toBe(false);
    expect(matchesPattern('room-1', 'Room-1')).toBe(false);
  });

  it('match every name that starts with the part before a final *, including the prefix itself', () => {
    expect(matchesPattern('team-42:*', 'team-42:chat')).toBe(true);
    expect(matchesPattern('team-42:*', 'team-42:a:b:c')).toBe(true);
    expect(matchesPattern('team-42:*', 'team-42:')).toBe(true);
    expect(matchesPattern('team-42:*', 'team-42')).toBe(false);
    expect(matchesPattern('team-42:*', 'team-420:chat')).toBe(false);
    expect(matchesPattern('room*', 'room')).toBe(true);
    expect(matchesPattern('room*', 'rooms')).toBe(true);
  });

  it('* alone matches every channel', () => {
    for (const name of ['a', '*', 'private-bob-carol', 'été', '🎉', ' ']) expect(matchesPattern('*', name)).toBe(true);
  });

  it('a * that is not last is an ordinary character; a name ending in * is matched by its own pattern as a prefix', () => {
    expect(matchesPattern('a*b', 'a*b')).toBe(true);
    expect(matchesPattern('a*b', 'axb')).toBe(false);
    expect(matchesPattern('*-room', 'x-room')).toBe(false);
    expect(matchesPattern('*-room', '*-room')).toBe(true);
    // `a*` is always a prefix pattern: it grants the channel literally named `a*` and every other `a…`.
    expect(matchesPattern('a*', 'a*')).toBe(true);
    expect(matchesPattern('a*', 'ab')).toBe(true);
    // `a**` is the prefix `a*`.
    expect(matchesPattern('a**', 'a*x')).toBe(true);
    expect(matchesPattern('a**', 'ax')).toBe(false);
  });

  it('compare Unicode code point by code point, without normalization or case folding', () => {
    expect(matchesPattern('été-*', 'été-1')).toBe(true);
    expect(matchesPattern('été-*', 'e\u0301te\u0301-1')).toBe(false);
    expect(matchesPattern('🎉*', '🎉party')).toBe(true);
    expect(matchesPattern('ÉTÉ', 'été')).toBe(false);
  });

  it('union the operations of every matching rule', () => {
    const capability = capabilitySchema.parse({ 'room-*': ['subscribe'], 'room-1': ['publish'], '*': [] });
    expect([...grantedOperations(capability, 'room-1')].sort()).toEqual(['publish', 'subscribe']);
    expect([...grantedOperations(capability, 'room-2')]).toEqual(['subscribe']);
    expect([...grantedOperations(capability, 'other')]).toEqual([]);
    expect([...grantedOperations([], 'room-1')]).toEqual([]);
  });
});

describe('capability schema', () => {
  it('refuses empty and overlong patterns, unknown operations, non-objects and too many entries, naming the field', () => {
    expect(capabilitySchema.safeParse({ '': ['subscribe'] }).success).toBe(false);
    expect(capabilitySchema.safeParse({ ['x'.repeat(257)]: ['subscribe'] }).success).toBe(false);
    expect(capabilitySchema.safeParse({ ['x'.repeat(256)]: ['subscribe'] }).success).toBe(true);
    expect(capabilitySchema.safeParse({ a: ['history'] }).error?.issues[0]?.path).toEqual([0, 1, 0]);
    expect(capabilitySchema.safeParse({ a: 'subscribe' }).success).toBe(false);
    expect(capabilitySchema.safeParse(['a']).success).toBe(false);
    expect(capabilitySchema.safeParse(null).success).toBe(false);
    expect(capabilitySchema.safeParse({ '\ud800': ['subscribe'] }).success).toBe(false);
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`c${i}`, ['subscribe']]));
    expect(capabilitySchema.safeParse(many).error?.issues[0]?.message).toMatch(/at most 64 entries/);
  });

  it('keeps a __proto__ key a plain channel name', () => {
    const capability = capabilitySchema.parse(JSON.parse('{"__proto__":["subscribe"],"a":["publish"]}'));
    expect(capability).toEqual([
      { pattern: '__proto__', operations: ['subscribe'] },
      { pattern: 'a', operations: ['publish'] },
    ]);
  });

  it('send rules are any, none or identity patterns', () => {
    expect(sendRuleSchema.parse('any')).toBe('any');
    expect(sendRuleSchema.parse(['support-*', 'bob'])).toEqual(['support-*', 'bob']);
    expect(sendRuleSchema.safeParse('members').success).toBe(false);
    expect(sendRuleSchema.safeParse(['']).success).toBe(false);
  });
});

describe('capability claims in user tokens', () => {
  it('round-trip through minting and verification', async () => {
    const capability = capabilitySchema.parse({ 'room-1': ['subscribe', 'publish'], 'team:*': ['subscribe'] });
    const { token } = await mintUserToken(scope, { identity: 'alice', ttlSeconds: 60, capability, send: ['bob'] });
    const user = verifyUserToken(registry, token);
    expect(user.capability).toEqual(capability);
    expect(user.send).toEqual(['bob']);
  });

  it('are absent from tokens minted without them', async () => {
    const { token } = await mintUserToken(scope, { identity: 'alice', ttlSeconds: 60 });
    expect(verifyUserToken(registry, token)).toMatchObject({ capability: undefined, send: undefined });
  });

  it('are checked again at verification: a well-signed token with a bad capability is refused', async () => {
    const sign = (claims: Record<string, unknown>) =>
      new SignJWT({ grants: { signal: true }, ...claims })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(scope.issuer)
        .setSubject('alice')
        .setExpirationTime(Math.floor(Date.now() / 1000) + 60)
        .sign(scope.signingKey.secret);
    for (const claims of [{ capability: { a: ['fly'] } }, { capability: 'all' }, { send: 'members' }, { capability: { '': [] } }]) {
      const token = await sign(claims);
      let caught: unknown;
      try {
        verifyUserToken(registry, token);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(TokenError);
      expect((caught as TokenError).reason).toBe('bad_claims');
      expect((caught as TokenError).message).toMatch(/token claim (capability|send) is invalid/);
    }
  });
});

describe('authorization in the apps file', () => {
  const withAuthorization = (authorization: unknown) => {
    const copy = structuredClone(file) as unknown as { apps: Array<{ environments: { test: Record<string, unknown> } }> };
    copy.apps[0]!.environments.test.authorization = authorization;
    return copy;
  };

  it('is open with every channel for anonymous connections when absent', () => {
    expect(registry.authorizationOf({ app: 'one', env: 'test' })).toEqual({ policy: 'open', anonymous: ['*'], namespaces: [] });
  });

  it('gives anonymous connections nothing by default when restricted', () => {
    const restricted = new AppRegistry(parseAppsFile(withAuthorization({ policy: 'restricted' })));
    expect(restricted.authorizationOf({ app: 'one', env: 'test' })).toMatchObject({ policy: 'restricted', anonymous: [] });
    expect(restricted.authorizationOf({ app: 'one', env: 'live' })).toMatchObject({ policy: 'open' });
  });

  it('orders namespaces most specific first: exact names, then longer prefixes', () => {
    const parsed = new AppRegistry(
      parseAppsFile(withAuthorization({ namespaces: { '*': { publish: false }, 'chat-*': { presence: false }, 'chat-lobby': { maxParticipants: 5 }, 'chat-vip-*': {} } })),
    );
    expect(parsed.authorizationOf({ app: 'one', env: 'test' }).namespaces.map((n) => n.pattern)).toEqual(['chat-lobby', 'chat-vip-*', 'chat-*', '*']);
  });

  it('names the bad field', () => {
    expect(() => parseAppsFile(withAuthorization({ policy: 'closed' }))).toThrow(/'apps\.0\.environments\.test\.authorization\.policy'/);
    expect(() => parseAppsFile(withAuthorization({ namespaces: { a: { maxParticipants: 0 } } }))).toThrow(/authorization\.namespaces/);
    expect(() => parseAppsFile(withAuthorization({ anonymous: [''] }))).toThrow(/authorization\.anonymous\.0/);
    expect(() => parseAppsFile(withAuthorization({ namespaces: { a: { unknownOption: true } } }))).toThrow(/authorization\.namespaces/);
  });
});
