import { describe, expect, it } from 'vitest';
import { SessionExpiry } from '../src/auth/session-expiry.js';
import type { Session } from '../src/core/session.js';

const rethrow = (error: unknown) => {
  throw error;
};

const session = (expiresAt: number | undefined) => ({ expiresAt }) as Session;
const EXP = 1_800_000_000;

describe('session expiry watcher', () => {
  it('ends sessions at the second their token expires, not before, once each', () => {
    let now = EXP * 1000 - 1;
    const ended: Session[] = [];
    const expiry = new SessionExpiry((s) => ended.push(s), rethrow, () => now);
    const early = session(EXP);
    const late = session(EXP + 60);
    expiry.watch(early);
    expiry.watch(late);
    expiry.expireDue();
    expect(ended).toEqual([]);
    now = EXP * 1000;
    expiry.expireDue();
    expiry.expireDue();
    expect(ended).toEqual([early]);
    expect(expiry.size).toBe(1);
    expiry.forget(late);
  });

  it('follows a refresh: the session is due at its new expiry only', () => {
    let now = EXP * 1000;
    const ended: Session[] = [];
    const expiry = new SessionExpiry((s) => ended.push(s), rethrow, () => now);
    const s = session(EXP);
    expiry.watch(s);
    s.expiresAt = EXP + 3600;
    expiry.watch(s);
    expiry.expireDue();
    expect(ended).toEqual([]);
    expect(expiry.groups).toBe(1);
    now = (EXP + 3600) * 1000;
    expiry.expireDue();
    expect(ended).toEqual([s]);
  });

  it('holds nothing once every watched connection is gone: no session, no expiry group, no timer', () => {
    // Under churn every connection has its own expiry; what a closed connection leaves behind grows the heap.
    const expiry = new SessionExpiry(() => {}, rethrow, () => EXP * 1000 - 10_000_000);
    const sessions = Array.from({ length: 1000 }, (_, i) => session(EXP + i));
    for (const s of sessions) expiry.watch(s);
    expect(expiry.size).toBe(1000);
    expect(expiry.groups).toBe(1000);
    expect(expiry.ticking).toBe(true);
    for (const s of sessions) expiry.forget(s);
    expect(expiry.size).toBe(0);
    expect(expiry.groups).toBe(0);
    expect(expiry.ticking).toBe(false);
  });

  it('lets expired sessions go too, and ignores connections without a token', () => {
    const expiry = new SessionExpiry(() => {}, rethrow, () => EXP * 1000);
    expiry.watch(session(EXP - 1));
    expiry.watch(session(undefined));
    expect(expiry.size).toBe(1);
    expiry.expireDue();
    expect(expiry.size).toBe(0);
    expect(expiry.groups).toBe(0);
    expect(expiry.ticking).toBe(false);
  });
});
