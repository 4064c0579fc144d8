import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tokenExpiry } from '../src/auth/jwt-payload.js';
import { ParticipantList } from '../src/channels/participant-list.js';
import { sameJson } from '../src/channels/participant.js';
import { backoffDelay } from '../src/transport/backoff.js';
import { connectUrl } from '../src/transport/gateway-url.js';

const jwt = (payload: unknown) => `e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;

describe('backoff', () => {
  it('stays between half and all of the capped exponential step', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
        const step = Math.min(30_000, 500 * 2 ** (attempt - 1));
        const delay = backoffDelay(attempt, {}, () => r);
        return delay >= Math.floor(step / 2) && delay <= step;
      }),
    );
  });

  it('spreads clients out (jitter)', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(6)));
    expect(delays.size).toBeGreaterThan(10);
  });
});

describe('token expiry', () => {
  it('reads exp without verifying, and nothing from what is not a JWT', () => {
    expect(tokenExpiry(jwt({ sub: 'zoë/📱', exp: 1_900_000_000 }))).toBe(1_900_000_000);
    expect(tokenExpiry(jwt({ sub: 'x' }))).toBeUndefined();
    expect(tokenExpiry(jwt({ exp: '1900000000' }))).toBeUndefined();
    expect(tokenExpiry('opaque-token')).toBeUndefined();
    expect(tokenExpiry('a.!!!.c')).toBeUndefined();
    expect(tokenExpiry(jwt(null))).toBeUndefined();
  });
});

describe('connect URL', () => {
  const token = (value: string) => ({ param: 'token' as const, value });
  it('adds the native path and the token, and turns http into ws', () => {
    expect(connectUrl('ws://h:1', token('t'))).toBe('ws://h:1/v1/connect?token=t');
    expect(connectUrl('https://h/', token('a+b'))).toBe('wss://h/v1/connect?token=a%2Bb');
    expect(connectUrl('ws://h/custom/path?x=1', token('t'))).toBe('ws://h/custom/path?x=1&token=t');
  });

  it('puts a publishable key in key=', () => {
    expect(connectUrl('ws://h:1', { param: 'key', value: 'pubk_test_x' })).toBe('ws://h:1/v1/connect?key=pubk_test_x');
  });

  it('adds where the direct messages stand as since=', () => {
    expect(connectUrl('ws://h:1', token('t'), '42:tpa21o.6oj5g2')).toBe('ws://h:1/v1/connect?token=t&since=42%3Atpa21o.6oj5g2');
  });
});

describe('participant list resync', () => {
  it('announces only what changed: leaves for the gone, adds for the new, states for the changed', () => {
    const list = new ParticipantList<{ s: number }>();
    list.join('a/d/r-1', { s: 1 }, 'silent');
    list.join('b/d/r-1', { s: 1 }, 'silent');
    const b = list.map.get('b/d/r-1')!;
    const states: unknown[] = [];
    b.on('state', (state, previous) => states.push([state, previous]));
    const changes = list.sync([
      { address: 'b/d/r-1', state: { s: 2 } },
      { address: 'c/d/r-1', state: undefined },
    ]);
    expect(changes.map((c) => [c.participant.address, c.op])).toEqual([
      ['a/d/r-1', -1],
      ['c/d/r-1', 1],
    ]);
    expect(list.map.get('b/d/r-1')).toBe(b);
    expect(states).toEqual([[{ s: 2 }, { s: 1 }]]);
    expect(list.sync([{ address: 'b/d/r-1', state: { s: 2 } }, { address: 'c/d/r-1', state: undefined }])).toEqual([]);
  });

  it('uses Bit6 ops: 1 for a new participant, 0 for a repeated join, -1 for a leave', () => {
    const list = new ParticipantList();
    expect(list.join('a/d/r-1', undefined, 'announce').map((c) => c.op)).toEqual([1]);
    expect(list.join('a/d/r-1', undefined, 'announce').map((c) => c.op)).toEqual([0]);
    expect(list.join('a/d/r-1', undefined, 'silent')).toEqual([]);
    expect(list.leave('a/d/r-1').map((c) => c.op)).toEqual([-1]);
    expect(list.leave('a/d/r-1')).toEqual([]);
  });

  it('compares states as JSON values', () => {
    expect(sameJson({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toBe(true);
    expect(sameJson({ a: 1 }, { a: 1, b: undefined })).toBe(false);
    expect(sameJson([1], { 0: 1 })).toBe(false);
    expect(sameJson(undefined, null)).toBe(false);
  });
});
