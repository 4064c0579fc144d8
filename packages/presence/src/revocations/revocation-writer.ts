import { JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { SignalError, type Scope } from '@signal/core';
import { isWrongLastSequence } from '../store/wrong-last-sequence.js';
import { decodeRevocation, encodeRevocationValue, revocationKey } from './revocation-entry.js';

/** JetStream API error: the stream is at max_bytes. */
const JS_MAX_BYTES = 10077;
/**
 * Share of the bucket's max_bytes past which new entries are refused. nats-server 2.9 makes room
 * in a full KV bucket by dropping its oldest entries, discard policy `new` notwithstanding
 * (measured with 2.9.10, file and memory storage): a revocation must never push an older one
 * out, so the writer refuses first, with a margin for writes from other emit-api nodes in flight.
 */
const FULL_AT = 0.95;
/** Bytes an entry takes in the stream besides its key and value (subject prefix, headers, record). */
const ENTRY_OVERHEAD_BYTES = 128;
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
    const key = revocationKey(scope, 'jti', jti);
    const value = encodeRevocationValue(revocation);
    await this.assertRoom(key, value);
    await this.write(() => this.kv.put(key, value));
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
        // Replacing a user's entry takes no room (history 1); a new one must fit.
        if (existing) await this.kv.update(key, value, existing.revision);
        else await this.assertRoom(key, value).then(() => this.kv.create(key, value));
        return { before, expiresAt: now + this.maxAgeMs };
      } catch (error) {
        if (error instanceof SignalError) throw error;
        if (!isWrongLastSequence(error)) await this.write(() => Promise.reject(error as Error));
      }
    }
    throw new SignalError('unavailable', `the revocation of '${identity}' kept changing under concurrent writes; try again`);
  }

  private async assertRoom(key: string, value: Uint8Array): Promise<void> {
    const { config, state } = (await this.write(() => this.kv.status())).streamInfo;
    if (config.max_bytes <= 0) return;
    if (state.bytes + key.length + value.length + ENTRY_OVERHEAD_BYTES > config.max_bytes * FULL_AT) this.full();
  }

  private full(cause?: unknown): never {
    throw new SignalError('limit_exceeded', 'the revocation list is full (REVOCATION_MAX_BYTES); raise it, or revoke users rather than single tokens', {
      cause,
      data: { limit: 'REVOCATION_MAX_BYTES' },
    });
  }

  private async write<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === JS_MAX_BYTES) this.full(error);
      throw new SignalError('unavailable', `revocation store write failed: ${(error as Error).message}; try again`, { cause: error });
    }
  }
}
