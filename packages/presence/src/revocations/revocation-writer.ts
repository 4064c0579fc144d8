import { JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { SignalError, type Scope } from '@signal/core';
import { isWrongLastSequence } from '../store/wrong-last-sequence.js';
import { decodeRevocation, encodeRevocationValue, revocationKey } from './revocation-entry.js';

/** JetStream API error: the stream is at max_bytes. */
const JS_MAX_BYTES = 10077;
/** Compare-and-set rounds before giving up on a user entry that keeps moving. */
const MAX_ROUNDS = 5;

export interface WrittenRevocation {
  /** For user revocations: tokens with `iat` before this (seconds since epoch) are revoked. */
  readonly before?: number;
  /** When the entry leaves the bucket (ms since epoch): every token it covers has expired by then. */
  readonly expiresAt: number;
}

/** Writes revocations (emit-api); gateways watch the same bucket (RevocationWatch). */
export class RevocationWriter {
  constructor(
    private readonly kv: KV,
    /** The bucket's max_age. */
    private readonly maxAgeMs: number,
  ) {}

  /** Revokes one token by its `jti`. Idempotent; revoking again restarts the entry's lifetime. */
  async revokeToken(scope: Scope, jti: string, now = Date.now()): Promise<WrittenRevocation> {
    const revocation = { kind: 'jti', scope, jti, at: now } as const;
    await this.write(() => this.kv.put(revocationKey(scope, 'jti', jti), encodeRevocationValue(revocation)));
    return { expiresAt: now + this.maxAgeMs };
  }

  /**
   * Revokes every token of a user issued before `before` (seconds). A user has one entry: a
   * later `before` replaces it (it covers everything the older one did), an earlier one changes
   * nothing (compare-and-set, so two concurrent revocations never narrow each other).
   */
  async revokeUser(scope: Scope, identity: string, before: number, now = Date.now()): Promise<WrittenRevocation> {
    const key = revocationKey(scope, 'user', identity);
    const value = encodeRevocationValue({ kind: 'user', scope, identity, before, at: now });
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const existing = await this.write(() => this.kv.get(key));
      const current = existing?.operation === 'PUT' ? decodeRevocation(key, existing.value) : undefined;
      if (current?.kind === 'user' && current.before >= before) return { before: current.before, expiresAt: current.at + this.maxAgeMs };
      try {
        if (existing) await this.kv.update(key, value, existing.revision);
        else await this.kv.create(key, value);
        return { before, expiresAt: now + this.maxAgeMs };
      } catch (error) {
        if (!isWrongLastSequence(error)) await this.write(() => Promise.reject(error as Error));
      }
    }
    throw new SignalError('unavailable', `the revocation of '${identity}' kept changing under concurrent writes; try again`);
  }

  private async write<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === JS_MAX_BYTES) {
        throw new SignalError('limit_exceeded', 'the revocation list is full (REVOCATION_MAX_BYTES); raise it, or revoke users rather than single tokens', {
          cause: error,
          data: { limit: 'REVOCATION_MAX_BYTES' },
        });
      }
      throw new SignalError('unavailable', `revocation store write failed: ${(error as Error).message}; try again`, { cause: error });
    }
  }
}
