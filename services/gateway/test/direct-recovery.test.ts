import { SignalError } from '@signal/core';
import { describe, expect, it } from 'vitest';
import { parseConnectSince } from '../src/history/direct-recovery.js';

describe('the connect URL since', () => {
  it('is absent, or <offset>:<epoch> with the epoch taken as it is', () => {
    expect(parseConnectSince(null)).toBeUndefined();
    expect(parseConnectSince('42:tpa21o.6oj5g2')).toEqual({ offset: 42, epoch: 'tpa21o.6oj5g2' });
    expect(parseConnectSince('0:2026-11-29T18:00:00Z')).toEqual({ offset: 0, epoch: '2026-11-29T18:00:00Z' });
  });

  it('refuses anything else with bad_request naming since', () => {
    for (const bad of ['', '42', ':abc', '-1:abc', '1.5:abc', '42:', `9007199254740992:e`, `1:${'e'.repeat(65)}`, '1:a b']) {
      let caught: unknown;
      try {
        parseConnectSince(bad);
      } catch (error) {
        caught = error;
      }
      expect(caught, bad).toBeInstanceOf(SignalError);
      expect(caught).toMatchObject({ code: 'bad_request', field: 'since' });
    }
  });
});
