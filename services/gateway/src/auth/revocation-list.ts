import { TokenError, type Scope, type VerifiedUser } from '@signal/core';
import type { Revocation, RevocationListener } from '@signal/presence';
import type { TokenStamp } from '../core/session.js';
import { metrics } from '../metrics/gateway-metrics.js';

/** Which rule revoked a token. */
export type RevokedBy = 'jti' | 'user';

/**
 * This gateway's copy of the revocation list, fed by its one watch on the revocation bucket
 * (RevocationWatch) and asked synchronously: at every connect inside the upgrade callback, at
 * every `signal.auth`, and in the Stelace handshake. Entries are kept until every token they
 * can cover has expired (written at + the bucket's max_age, MAX_TOKEN_TTL_SECONDS): the bucket
 * drops them then without telling its watchers.
 *
 * Memory is bounded by the bucket (REVOCATION_MAX_BYTES): this holds at most what it holds.
 */
export class RevocationList implements RevocationListener {
  private readonly tokens = new Map<string, number>();
  private readonly users = new Map<string, { before: number; expiresAt: number }>();
  private listener: (revocation: Revocation) => void = () => undefined;

  constructor(
    /** The bucket's max_age. */
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Called for each revocation that is new to this node, after it is in the list (to close what it covers). */
  onRevoked(listener: (revocation: Revocation) => void): void {
    this.listener = listener;
  }

  revoked(revocation: Revocation): void {
    const expiresAt = revocation.at + this.maxAgeMs;
    if (expiresAt <= this.now()) return;
    if (revocation.kind === 'jti') {
      const key = keyOf(revocation.scope, revocation.jti);
      // A watch restart replays every entry: only what changed counts and closes connections.
      if (this.tokens.get(key) === expiresAt) return;
      this.tokens.set(key, expiresAt);
    } else {
      const key = keyOf(revocation.scope, revocation.identity);
      const previous = this.users.get(key);
      if (previous && previous.before >= revocation.before && previous.expiresAt >= expiresAt) return;
      this.users.set(key, { before: Math.max(revocation.before, previous?.before ?? 0), expiresAt: Math.max(expiresAt, previous?.expiresAt ?? 0) });
    }
    metrics.revocationsApplied.inc({ kind: revocation.kind });
    this.listener(revocation);
  }

  withdrawn(key: { scope: Scope; kind: 'jti' | 'user'; subject: string }): void {
    (key.kind === 'jti' ? this.tokens : this.users).delete(keyOf(key.scope, key.subject));
  }

  /**
   * Whether a token is revoked: by its `jti`, or by its user's entry when it was issued before
   * it. A token without `iat` cannot show it came after a user's revocation, so it is revoked by it.
   */
  revokedBy(scope: Scope, identity: string, token: TokenStamp | undefined): RevokedBy | undefined {
    if (token === undefined) return undefined;
    const now = this.now();
    if (token.id !== undefined) {
      const expiresAt = this.tokens.get(keyOf(scope, token.id));
      if (expiresAt !== undefined && expiresAt > now) return 'jti';
    }
    const user = this.users.get(keyOf(scope, identity));
    if (user && user.expiresAt > now && (token.issuedAt === undefined || token.issuedAt < user.before)) return 'user';
    return undefined;
  }

  /** Refuses a revoked token (401, reason `revoked`). */
  assertNotRevoked(user: VerifiedUser): void {
    const by = this.revokedBy(user.scope, user.identity, { id: user.tokenId, issuedAt: user.issuedAt });
    if (by === undefined) return;
    throw new TokenError(
      'revoked',
      by === 'jti' ? 'token has been revoked; get a new token' : `every token of '${user.identity}' issued before a revocation is revoked; get a new token`,
    );
  }

  /** Forgets entries whose tokens have all expired. */
  prune(): void {
    const now = this.now();
    for (const [key, expiresAt] of this.tokens) if (expiresAt <= now) this.tokens.delete(key);
    for (const [key, entry] of this.users) if (entry.expiresAt <= now) this.users.delete(key);
  }

  get size(): number {
    return this.tokens.size + this.users.size;
  }
}

function keyOf(scope: Scope, subject: string): string {
  return `${scope.app}\u0000${scope.env}\u0000${subject}`;
}
