import { SignalError } from '@signal/core';
import { describe, expect, it } from 'vitest';
import type { Session } from '../src/core/session.js';
import { assertTokenCurrent } from '../src/core/token-expiry.js';

const withExpiry = (expiresAt: number | undefined) => ({ expiresAt }) as Session;

describe('token expiry rule', () => {
  it('lets a connection start things until the second its token expires, as an upgrade would', () => {
    const exp = 1_800_000_000;
    expect(() => assertTokenCurrent(withExpiry(exp), exp * 1000 - 1)).not.toThrow();
    expect(() => assertTokenCurrent(withExpiry(exp), exp * 1000)).toThrow(SignalError);
  });

  it('names the expiry and the two ways back', () => {
    let caught: unknown;
    try {
      assertTokenCurrent(withExpiry(1_800_000_000), 1_800_000_000_500);
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({
      code: 'unauthorized',
      message: 'token expired at 2027-01-15T08:00:00.000Z; reconnect with a new token or refresh it with signal.auth',
    });
  });

  it('never refuses a connection without a token', () => {
    expect(() => assertTokenCurrent(withExpiry(undefined), Number.MAX_SAFE_INTEGER)).not.toThrow();
  });
});
