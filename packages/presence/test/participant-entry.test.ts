import { describe, expect, it } from 'vitest';
import { decodeParticipant, participantValueSchema } from '../src/store/participant-entry.js';

const valid = { channel: 'room', address: 'ann/web/n1-1', identity: 'ann', device: 'web', node: 'n1', instance: 'i1', joinedAt: 1700000000000 };

/** Bucket contents a reader may meet: entries, stray writes, hostile values. */
const inputs: string[] = [
  JSON.stringify(valid),
  JSON.stringify({ ...valid, state: { n: 1, deep: [1, { a: null }] } }),
  JSON.stringify({ ...valid, state: null }),
  JSON.stringify({ ...valid, state: 0 }),
  JSON.stringify({ ...valid, extra: 'dropped' }),
  '{"__proto__":{"state":1},"channel":"c","address":"a","identity":"i","device":"d","node":"n","instance":"x","joinedAt":1}',
  JSON.stringify({ ...valid, joinedAt: '1700000000000' }),
  JSON.stringify({ ...valid, channel: 7 }),
  JSON.stringify({ ...valid, address: null }),
  JSON.stringify({ ...valid, identity: ['a'] }),
  JSON.stringify({ ...valid, device: {} }),
  JSON.stringify({ ...valid, node: true }),
  JSON.stringify({ ...valid, instance: undefined }),
  JSON.stringify({ ...valid, joinedAt: -1.5 }),
  JSON.stringify([valid]),
  JSON.stringify({ channel: 'only' }),
  '{"channel":"c","address":"a","identity":"i","device":"d","node":"n","instance":"x","joinedAt":1e400}',
  'null',
  '42',
  '"a string"',
  '{not json',
  '',
];

describe('decodeParticipant', () => {
  it('accepts, shapes and refuses exactly what participantValueSchema does', () => {
    for (const text of inputs) {
      let expected: unknown;
      try {
        const parsed = participantValueSchema.safeParse(JSON.parse(text));
        expected = parsed.success ? parsed.data : undefined;
      } catch {
        expected = undefined;
      }
      expect(decodeParticipant(new TextEncoder().encode(text)), text).toStrictEqual(expected);
    }
  });
});
