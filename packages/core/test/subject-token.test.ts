import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { channelNameSchema, channelSubject, decodeToken, encodeToken } from '../src/mod.js';

const wellFormed = fc.string({ unit: 'binary', maxLength: 64 }).filter((s) => s.isWellFormed());
// What nats-server accepts in one subject token without giving it meaning (no wildcards, separators or spaces).
const natsSafe = /^[A-Za-z0-9_-]+$/;

describe('channel name → subject token', () => {
  it('is injective: distinct names never share a token', () => {
    fc.assert(
      fc.property(wellFormed, wellFormed, (a, b) => {
        fc.pre(a !== b);
        expect(encodeToken(a)).not.toBe(encodeToken(b));
      }),
      { numRuns: 5000 },
    );
  });

  it('round-trips every well-formed string', () => {
    fc.assert(fc.property(wellFormed, (s) => {
      expect(decodeToken(encodeToken(s))).toBe(s);
    }), { numRuns: 5000 });
  });

  it('is NATS-safe: one non-empty token with no separators, wildcards, whitespace or $', () => {
    fc.assert(fc.property(wellFormed, (s) => {
      expect(encodeToken(s)).toMatch(natsSafe);
    }), { numRuns: 5000 });
  });

  it('keeps readable names readable and escapes the tricky ones', () => {
    expect(encodeToken('room-42')).toBe('room-42');
    expect(encodeToken('a.b')).toBe('a_2Eb');
    expect(encodeToken('a_2Eb')).toBe('a_5F2Eb');
    expect(encodeToken('>')).toBe('_3E');
    expect(encodeToken('*')).toBe('_2A');
    expect(encodeToken('$SYS')).toBe('_24SYS');
    expect(encodeToken('été')).toBe('_C3_A9t_C3_A9');
  });

  it('scopes channel subjects by app and environment', () => {
    expect(channelSubject({ app: 'a1', env: 'test' }, 'x.y')).toBe('sig.a1.test.ch.x_2Ey');
    expect(channelSubject({ app: 'a1', env: 'live' }, 'x')).not.toBe(channelSubject({ app: 'a1', env: 'test' }, 'x'));
  });

  it('refuses names that cannot be encoded injectively', () => {
    expect(channelNameSchema.safeParse('\uD800').success).toBe(false);
    expect(channelNameSchema.safeParse('').success).toBe(false);
    expect(channelNameSchema.safeParse('x'.repeat(257)).success).toBe(false);
  });
});
