import fc from 'fast-check';
import {
  OPERATIONS,
  SignalError,
  type Capability,
  type ChannelGrant,
  type EnvironmentAuthorization,
  type Operation,
  type SendRule,
  type VerifiedChannelToken,
} from '@signal/core';
import { describe, expect, it } from 'vitest';
import {
  assertMay,
  assertMayMessage,
  assertMaySend,
  assertMayWriteState,
  mayOnChannel,
  participantLimit,
  permissionsOf,
  presenceEventRule,
  sendRefusal,
  withChannelGrantsOf,
  withChannelToken,
  type Permissions,
  type TokenClaims,
} from '../src/auth/permissions.js';

const OPEN: EnvironmentAuthorization = { policy: 'open', anonymous: ['*'], namespaces: [] };
const RESTRICTED: EnvironmentAuthorization = { policy: 'restricted', anonymous: [], namespaces: [] };

const user = (claims: Partial<TokenClaims> = {}, environment = OPEN): Permissions =>
  permissionsOf({ anonymous: false, publishGranted: true, capability: undefined, send: undefined, ...claims }, environment);
const anonymous = (environment = OPEN): Permissions =>
  permissionsOf({ anonymous: true, publishGranted: false, capability: undefined, send: undefined }, environment);

function refusalOf(act: () => void): SignalError | undefined {
  try {
    act();
    return undefined;
  } catch (error) {
    if (!(error instanceof SignalError)) throw error;
    return error;
  }
}

describe('channel permissions', () => {
  it('an open environment lets a token without capability do everything, as before', () => {
    for (const op of OPERATIONS) expect(mayOnChannel(user(), op, 'private-bob-carol')).toBe(true);
  });

  it('a restricted environment gives a token without capability nothing', () => {
    for (const op of OPERATIONS) expect(mayOnChannel(user({}, RESTRICTED), op, 'room-1')).toBe(false);
    expect(refusalOf(() => assertMay(user({}, RESTRICTED), 'subscribe', 'room-1'))?.message).toMatch(/environment is restricted and the user token has no capability/);
  });

  it('a capability is all a token gets, in an open environment too', () => {
    const capability: Capability = [{ pattern: 'room-*', operations: ['subscribe'] }];
    for (const environment of [OPEN, RESTRICTED]) {
      const p = user({ capability }, environment);
      expect(mayOnChannel(p, 'subscribe', 'room-1')).toBe(true);
      expect(mayOnChannel(p, 'publish', 'room-1')).toBe(false);
      expect(mayOnChannel(p, 'subscribe', 'private-bob-carol')).toBe(false);
    }
  });

  it('refuses with forbidden, naming the channel and the operation', () => {
    const error = refusalOf(() => assertMay(user({ capability: [] }), 'presence', 'room-1'));
    expect(error).toMatchObject({
      code: 'forbidden',
      field: 'id',
      data: { channel: 'room-1', operation: 'presence' },
      message: "this connection may not presence on channel 'room-1': the user token's capability grants no presence on it",
    });
  });

  it('anonymous connections only subscribe, and only to the anonymous patterns', () => {
    expect(mayOnChannel(anonymous(), 'subscribe', 'anything')).toBe(true);
    expect(mayOnChannel(anonymous(), 'presence', 'anything')).toBe(false);
    expect(mayOnChannel(anonymous(), 'publish', 'anything')).toBe(false);
    expect(mayOnChannel(anonymous(RESTRICTED), 'subscribe', 'news-1')).toBe(false);
    const news = { ...RESTRICTED, anonymous: ['news-*'] };
    expect(mayOnChannel(anonymous(news), 'subscribe', 'news-1')).toBe(true);
    expect(mayOnChannel(anonymous(news), 'subscribe', 'private-bob-carol')).toBe(false);
    // An open environment can close anonymous access too.
    expect(mayOnChannel(anonymous({ ...OPEN, anonymous: ['news-*'] }), 'subscribe', 'private-bob-carol')).toBe(false);
  });

  it('namespaces withhold presence and publish whatever the token grants', () => {
    const environment: EnvironmentAuthorization = {
      ...OPEN,
      namespaces: [
        { pattern: 'feed-vip', options: { publish: true } },
        { pattern: 'feed-*', options: { publish: false, presence: false } },
      ],
    };
    const p = user({ capability: [{ pattern: '*', operations: ['subscribe', 'publish', 'presence'] }] }, environment);
    expect(mayOnChannel(p, 'subscribe', 'feed-1')).toBe(true);
    expect(mayOnChannel(p, 'publish', 'feed-1')).toBe(false);
    expect(mayOnChannel(p, 'presence', 'feed-1')).toBe(false);
    // The most specific namespace applies alone.
    expect(mayOnChannel(p, 'publish', 'feed-vip')).toBe(true);
    expect(mayOnChannel(p, 'presence', 'feed-vip')).toBe(true);
    expect(refusalOf(() => assertMay(p, 'publish', 'feed-1'))?.message).toMatch(/namespace 'feed-\*' does not allow publish/);
  });

  it('a namespace participant limit applies when lower than the node limit', () => {
    const environment: EnvironmentAuthorization = { ...OPEN, namespaces: [{ pattern: 'call-*', options: { maxParticipants: 2 } }] };
    expect(participantLimit(user({}, environment), 'call-1', 1000)).toEqual({ most: 2, setBy: "authorization.namespaces['call-*'].maxParticipants" });
    expect(participantLimit(user({}, environment), 'call-1', 1)).toEqual({ most: 1, setBy: 'PRESENCE_MAX_PARTICIPANTS' });
    expect(participantLimit(user({}, environment), 'room', 1000)).toEqual({ most: 1000, setBy: 'PRESENCE_MAX_PARTICIPANTS' });
  });

  it('grants.publish false keeps its old meaning: subscribe and presence, no publish, state or send', () => {
    const p = user({ publishGranted: false });
    expect(mayOnChannel(p, 'subscribe', 'a')).toBe(true);
    expect(mayOnChannel(p, 'presence', 'a')).toBe(true);
    expect(mayOnChannel(p, 'publish', 'a')).toBe(false);
    expect(refusalOf(() => assertMayWriteState(p, 'a'))).toMatchObject({ code: 'forbidden', field: 'state', data: { channel: 'a', operation: 'presence' } });
    expect(sendRefusal(p, 'bob')).toMatch(/grants do not allow publishing \(grants\.publish is false\)/);
  });

  it('a participant state on its own needs presence; anything more needs publish', () => {
    const presenceOnly = user({ capability: [{ pattern: 'room', operations: ['subscribe', 'presence'] }] });
    expect(refusalOf(() => assertMayMessage(presenceOnly, 'room', { state: { mic: true } }, true))).toBeUndefined();
    expect(refusalOf(() => assertMayMessage(presenceOnly, 'room', { state: 1, text: 'hi' }, true))?.data).toEqual({ channel: 'room', operation: 'publish' });
    // Not a participant: `state` is just content.
    expect(refusalOf(() => assertMayMessage(presenceOnly, 'room', { state: 1 }, false))?.data).toEqual({ channel: 'room', operation: 'publish' });
    const publishOnly = user({ capability: [{ pattern: 'room', operations: ['subscribe', 'publish'] }] });
    expect(refusalOf(() => assertMayMessage(publishOnly, 'room', { state: 1 }, true))?.data).toEqual({ channel: 'room', operation: 'presence' });
  });
});

const TOKEN_KEY = { kid: undefined, fingerprint: 'f' };
const scopeKeys = (env: 'test' | 'live') => {
  const signingKey = { kid: undefined, secret: new Uint8Array(), fingerprint: 'f' };
  return { app: 'a', env, issuer: 'pubk', signingKey, tokenKeys: [signingKey], audience: undefined };
};

describe('channel tokens', () => {
  const holder = { scope: { app: 'a', env: 'test' as const }, identity: 'bob', device: 'web', anonymous: false };
  const token = (over: Partial<VerifiedChannelToken> = {}): VerifiedChannelToken => ({
    scope: scopeKeys('test'),
    key: TOKEN_KEY,
    identity: 'bob',
    device: undefined,
    channel: 'private-bob-carol',
    operations: ['subscribe'],
    expiresAt: 2_000_000_000,
    ...over,
  });

  it('add their operations on their one channel until they expire, on top of the capability', () => {
    const p = withChannelToken(user({}, RESTRICTED), holder, 'private-bob-carol', token());
    expect(mayOnChannel(p, 'subscribe', 'private-bob-carol', 1_999_999_999_999)).toBe(true);
    expect(mayOnChannel(p, 'subscribe', 'private-bob-carol', 2_000_000_000_000)).toBe(false);
    expect(mayOnChannel(p, 'publish', 'private-bob-carol', 0)).toBe(false);
    expect(mayOnChannel(p, 'subscribe', 'private-bob-carol-2', 0)).toBe(false);
  });

  it('are refused for another user, device, channel or environment, and on anonymous connections', () => {
    const refused = (over: Partial<VerifiedChannelToken>, who = holder) => refusalOf(() => withChannelToken(user(), who, 'private-bob-carol', token(over)));
    expect(refused({ identity: 'mallory' })).toMatchObject({ code: 'forbidden', field: 'token' });
    expect(refused({ device: 'phone' })?.message).toMatch(/minted for 'bob\/phone'/);
    expect(refused({ device: 'web' })).toBeUndefined();
    expect(refused({ channel: 'other' })?.message).toMatch(/is for channel 'other'/);
    expect(refused({ scope: scopeKeys('live') })?.message).toMatch(/another app or environment/);
    expect(refused({}, { ...holder, anonymous: true })?.message).toMatch(/for users/);
  });

  it('survive a refreshed user token', () => {
    const granted = withChannelToken(user({}, RESTRICTED), holder, 'private-bob-carol', token());
    const refreshed = withChannelGrantsOf(user({}, RESTRICTED), granted);
    expect(mayOnChannel(refreshed, 'subscribe', 'private-bob-carol', 0)).toBe(true);
  });
});

describe('presence events', () => {
  const rule = presenceEventRule({ authorizationOf: (scope) => (scope.env === 'live' ? RESTRICTED : OPEN) });
  const open = { app: 'a', env: 'test' as const };
  const restricted = { app: 'a', env: 'live' as const };
  const state = { t: 'publish' as const, ch: 'c', from: 'a/b/c', fields: { state: 1 }, rev: 7 };

  it('joins and leaves always go to presence members only', () => {
    expect(rule(open, { t: 'leave', ch: 'c', from: 'a/b/c', rev: 3 } as never)).toBe(true);
  });

  it('stored state updates too, in restricted environments only; messages never', () => {
    expect(rule(restricted, state)).toBe(true);
    expect(rule(open, state)).toBe(false);
    expect(rule(restricted, { ...state, fields: { state: 1, text: 'hi' } })).toBe(false);
    expect(rule(restricted, { ...state, rev: undefined })).toBe(false);
    expect(rule(restricted, { t: 'send', from: 'a/b/c', fields: { state: 1 } } as never)).toBe(false);
  });
});

describe('send permissions', () => {
  it('default to any when open and none when restricted', () => {
    expect(sendRefusal(user(), 'bob')).toBeUndefined();
    expect(sendRefusal(user({}, RESTRICTED), 'bob')).toMatch(/'none'/);
    expect(sendRefusal(user({ send: 'any' }, RESTRICTED), 'bob')).toBeUndefined();
  });

  it('match the recipient identity against the patterns', () => {
    const p = user({ send: ['support-*', 'bob'] });
    expect(sendRefusal(p, 'support-7')).toBeUndefined();
    expect(sendRefusal(p, 'bob')).toBeUndefined();
    expect(sendRefusal(p, 'bobby')).toMatch(/no pattern/);
    expect(sendRefusal(user({ send: 'none' }), 'bob')).toMatch(/'none'/);
  });

  it('never lets an anonymous connection send', () => {
    expect(sendRefusal(anonymous(), 'bob')).toMatch(/publishable-key/);
  });

  it('refuse with forbidden naming the recipient, and check a channel-scoped send as a message in that channel', () => {
    expect(refusalOf(() => assertMaySend(user({ send: 'none' }), 'bob', { text: 'hi' }, undefined))).toMatchObject({
      code: 'forbidden',
      field: 'to',
      data: { to: 'bob', operation: 'send' },
    });
    const p = user({ capability: [{ pattern: 'room', operations: ['subscribe', 'presence'] }] });
    expect(refusalOf(() => assertMaySend(p, 'bob', { state: 1 }, 'room'))).toBeUndefined();
    expect(refusalOf(() => assertMaySend(p, 'bob', { text: 'hi' }, 'room'))?.data).toEqual({ channel: 'room', operation: 'publish' });
    expect(refusalOf(() => assertMaySend(p, 'bob', { text: 'hi' }, 'other'))?.data).toEqual({ channel: 'other', operation: 'publish' });
  });
});

/** An independent statement of the matching rule, to check the module against. */
function referenceMatch(pattern: string, name: string): boolean {
  if (!pattern.endsWith('*')) return pattern === name;
  const prefix = [...pattern.slice(0, -1)];
  return [...name].length >= prefix.length && prefix.every((c, i) => [...name][i] === c);
}

// A small alphabet so generated patterns and names often match each other.
const text = (min: number) => fc.string({ unit: fc.constantFrom('a', 'b', '-', '*', 'é', '🎉'), minLength: min, maxLength: 6 });
const operation = fc.constantFrom<Operation>(...OPERATIONS);
const capability = fc.array(fc.record({ pattern: text(1), operations: fc.uniqueArray(operation, { maxLength: 3 }) }), { maxLength: 6 });
const sendRule: fc.Arbitrary<SendRule> = fc.oneof(fc.constantFrom<SendRule>('any', 'none'), fc.array(text(1), { maxLength: 4 }));
const environment: fc.Arbitrary<EnvironmentAuthorization> = fc.record({
  policy: fc.constantFrom('open' as const, 'restricted' as const),
  anonymous: fc.array(text(1), { maxLength: 3 }),
  namespaces: fc.array(
    fc.record({ pattern: text(1), options: fc.record({ presence: fc.boolean(), publish: fc.boolean() }, { requiredKeys: [] }) }),
    { maxLength: 3 },
  ),
});
const claims: fc.Arbitrary<TokenClaims> = fc.record({
  anonymous: fc.boolean(),
  publishGranted: fc.boolean(),
  capability: fc.option(capability, { nil: undefined }),
  send: fc.option(sendRule, { nil: undefined }),
});

const NOW = 1_800_000_000_000;
// Channel grants for names of the same alphabet, some expired.
const grants: fc.Arbitrary<ReadonlyMap<string, ChannelGrant>> = fc
  .array(fc.record({ channel: text(1), operations: fc.uniqueArray(operation, { maxLength: 3 }), expiresAt: fc.constantFrom(NOW / 1000 - 1, NOW / 1000, NOW / 1000 + 1) }), { maxLength: 3 })
  .map((list) => new Map(list.map((g) => [g.channel, { ...g, key: TOKEN_KEY }])));

describe('permissions (property)', () => {
  it('never allow an operation on a channel that no rule grants', () => {
    fc.assert(
      fc.property(claims, environment, operation, text(1), grants, (token, env, op, channel, channelGrants) => {
        const base = permissionsOf(token, env);
        // Anonymous connections never hold channel grants (withChannelToken refuses them).
        const permissions = token.anonymous ? base : { ...base, channelGrants };
        if (!mayOnChannel(permissions, op, channel, NOW)) return;
        if (token.anonymous) {
          expect(op).toBe('subscribe');
          expect(env.anonymous.some((p) => referenceMatch(p, channel))).toBe(true);
          return;
        }
        if (op === 'publish') expect(token.publishGranted).toBe(true);
        const grant = channelGrants.get(channel);
        const byGrant = grant !== undefined && grant.operations.includes(op) && NOW < grant.expiresAt * 1000;
        if (!byGrant) {
          if (token.capability === undefined) expect(env.policy).toBe('open');
          else expect(token.capability.some((rule) => referenceMatch(rule.pattern, channel) && rule.operations.includes(op))).toBe(true);
        }
        // The most specific matching namespace does not withhold it.
        const namespaces = [...env.namespaces].sort((a, b) => specificity(b.pattern) - specificity(a.pattern));
        const namespace = namespaces.find((n) => referenceMatch(n.pattern, channel));
        if (namespace && op !== 'subscribe') expect(namespace.options[op]).not.toBe(false);
      }),
      { numRuns: 5000 },
    );
  });

  it('allow exactly what a capability grants in a restricted environment without namespaces', () => {
    fc.assert(
      fc.property(capability, operation, text(1), (granted, op, channel) => {
        const p = user({ capability: granted }, RESTRICTED);
        const expected = granted.some((rule) => referenceMatch(rule.pattern, channel) && rule.operations.includes(op));
        expect(mayOnChannel(p, op, channel)).toBe(expected);
      }),
      { numRuns: 5000 },
    );
  });

  it('never allow a send the rule does not grant', () => {
    fc.assert(
      fc.property(claims, environment, text(1), (token, env, identity) => {
        if (sendRefusal(permissionsOf(token, env), identity) !== undefined) return;
        expect(token.anonymous).toBe(false);
        expect(token.publishGranted).toBe(true);
        const rule = token.send ?? (env.policy === 'open' ? 'any' : 'none');
        if (rule === 'none') expect.unreachable('a none rule allowed a send');
        else if (rule !== 'any') expect(rule.some((p) => referenceMatch(p, identity))).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
});

function specificity(pattern: string): number {
  return pattern.endsWith('*') ? pattern.length - 1 : Number.MAX_SAFE_INTEGER;
}
