import { TokenError, type Scope, type VerifiedUser } from '@signal/core';
import { decodeRevocation, encodeRevocationValue, revocationKey, revocationKeyParts, type Revocation } from '@signal/presence';
import { describe, expect, it } from 'vitest';
import { RevocationList } from '../src/auth/revocation-list.js';

const alpha: Scope = { app: 'alpha', env: 'test' };
const alphaLive: Scope = { app: 'alpha', env: 'live' };
const beta: Scope = { app: 'beta', env: 'test' };
const HOUR = 3_600_000;

function listAt(now: { ms: number }): { list: RevocationList; seen: Revocation[] } {
  const list = new RevocationList(HOUR, () => now.ms);
  const seen: Revocation[] = [];
  list.onRevoked((revocation) => seen.push(revocation));
  return { list, seen };
}

const user = (scope: Scope, identity: string, tokenId: string | undefined, issuedAt: number | undefined) =>
  ({ scope, identity, tokenId, issuedAt }) as unknown as VerifiedUser;

describe('revocation list', () => {
  it('revokes one token by jti, only in its own app and environment', () => {
    const now = { ms: 1_800_000_000_000 };
    const { list } = listAt(now);
    list.revoked({ kind: 'jti', scope: alpha, jti: 'j1', at: now.ms });
    expect(list.revokedBy(alpha, 'ann', { id: 'j1', issuedAt: 1 })).toBe('jti');
    expect(list.revokedBy(alpha, 'ann', { id: 'j2', issuedAt: 1 })).toBeUndefined();
    expect(list.revokedBy(beta, 'ann', { id: 'j1', issuedAt: 1 })).toBeUndefined();
    expect(list.revokedBy(alphaLive, 'ann', { id: 'j1', issuedAt: 1 })).toBeUndefined();
    expect(() => list.assertNotRevoked(user(alpha, 'ann', 'j1', 1))).toThrow(TokenError);
    try {
      list.assertNotRevoked(user(alpha, 'ann', 'j1', 1));
    } catch (error) {
      expect((error as TokenError).reason).toBe('revoked');
      expect((error as TokenError).status).toBe(401);
    }
  });

  it('revokes a user\'s tokens issued strictly before `before`; a token without iat is revoked too', () => {
    const now = { ms: 1_800_000_000_000 };
    const { list } = listAt(now);
    list.revoked({ kind: 'user', scope: alpha, identity: 'ann', before: 1_800_000_000.5, at: now.ms });
    expect(list.revokedBy(alpha, 'ann', { id: 'x', issuedAt: 1_800_000_000.499 })).toBe('user');
    expect(list.revokedBy(alpha, 'ann', { id: 'x', issuedAt: 1_800_000_000.5 })).toBeUndefined();
    expect(list.revokedBy(alpha, 'ann', { id: undefined, issuedAt: undefined })).toBe('user');
    expect(list.revokedBy(alpha, 'bob', { id: undefined, issuedAt: 1 })).toBeUndefined();
    expect(list.revokedBy(beta, 'ann', { id: undefined, issuedAt: 1 })).toBeUndefined();
  });

  it('keeps an entry until every token it covers has expired (written at + max age), then forgets it', () => {
    const now = { ms: 1_800_000_000_000 };
    const { list } = listAt(now);
    list.revoked({ kind: 'jti', scope: alpha, jti: 'j1', at: now.ms });
    list.revoked({ kind: 'user', scope: alpha, identity: 'ann', before: now.ms / 1000, at: now.ms });
    now.ms += HOUR - 1;
    expect(list.revokedBy(alpha, 'ann', { id: 'j1', issuedAt: now.ms / 1000 })).toBe('jti');
    now.ms += 1;
    expect(list.revokedBy(alpha, 'ann', { id: 'j1', issuedAt: 0 })).toBeUndefined();
    expect(list.size).toBe(2);
    list.prune();
    expect(list.size).toBe(0);
    // An entry already past its life (a late replay) is not taken.
    list.revoked({ kind: 'jti', scope: alpha, jti: 'old', at: now.ms - HOUR });
    expect(list.size).toBe(0);
  });

  it('tells its listener only about what is new: a replayed entry or an earlier `before` is not', () => {
    const now = { ms: 1_800_000_000_000 };
    const { list, seen } = listAt(now);
    const entry: Revocation = { kind: 'user', scope: alpha, identity: 'ann', before: 100, at: now.ms };
    list.revoked(entry);
    list.revoked(entry);
    list.revoked({ ...entry, before: 50 });
    expect(seen).toHaveLength(1);
    expect(list.revokedBy(alpha, 'ann', { id: undefined, issuedAt: 99 })).toBe('user');
    list.revoked({ ...entry, before: 200, at: now.ms + 1 });
    expect(seen).toHaveLength(2);
  });

  it('forgets a deleted entry', () => {
    const now = { ms: 1_800_000_000_000 };
    const { list } = listAt(now);
    list.revoked({ kind: 'jti', scope: alpha, jti: 'j1', at: now.ms });
    list.withdrawn({ scope: alpha, kind: 'jti', subject: 'j1' });
    expect(list.revokedBy(alpha, 'ann', { id: 'j1', issuedAt: 1 })).toBeUndefined();
  });
});

describe('revocation entries', () => {
  it('round-trip through key and value, whatever the jti or identity holds', () => {
    for (const revocation of [
      { kind: 'jti', scope: { app: 'a_b-1', env: 'live' }, jti: 'x.y*>/ é', at: 5 },
      { kind: 'user', scope: alpha, identity: 'ann.o\'neil', before: 12.345, at: 6 },
    ] as Revocation[]) {
      const key = revocationKey(revocation.scope, revocation.kind, revocation.kind === 'jti' ? revocation.jti : revocation.identity);
      expect(key.split('.')).toHaveLength(4);
      expect(key).toMatch(/^[-/=.\w]+$/);
      expect(decodeRevocation(key, encodeRevocationValue(revocation))).toEqual(revocation);
      expect(revocationKeyParts(key)).toMatchObject({ scope: revocation.scope, kind: revocation.kind });
    }
  });

  it('anything else is not a revocation', () => {
    const value = new TextEncoder().encode('{"at":1}');
    expect(decodeRevocation('alpha.test.jti', value)).toBeUndefined();
    expect(decodeRevocation('alpha.prod.jti.x', value)).toBeUndefined();
    expect(decodeRevocation('alpha.test.other.x', value)).toBeUndefined();
    expect(decodeRevocation('alpha.test.user.x', value)).toBeUndefined();
    expect(decodeRevocation('alpha.test.jti.x', new TextEncoder().encode('nope'))).toBeUndefined();
    expect(decodeRevocation('alpha.test.jti.x', new TextEncoder().encode('{"at":"1"}'))).toBeUndefined();
  });
});
