import { describe, expect, it } from 'vitest';
import { maxAgeOf } from '../src/auth/jwks.js';

describe('JWKS Cache-Control', () => {
  it('reads max-age, treats no-store and no-cache as "as often as allowed", and ignores the rest', () => {
    expect(maxAgeOf('public, max-age=600')).toBe(600_000);
    expect(maxAgeOf('Max-Age=60, must-revalidate')).toBe(60_000);
    expect(maxAgeOf('no-store')).toBe(0);
    expect(maxAgeOf('max-age=600, no-cache')).toBe(0);
    expect(maxAgeOf(null)).toBeUndefined();
    expect(maxAgeOf('max-age=soon')).toBeUndefined();
    expect(maxAgeOf('max-age=-5')).toBeUndefined();
    expect(maxAgeOf('private')).toBeUndefined();
  });
});
