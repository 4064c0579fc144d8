import { z } from 'zod';
import { intVar, maxTokenTtlVar } from '@signal/core';

/**
 * Environment variables of the revocation list, shared by the emit-api (which writes it) and
 * every gateway (which watches it): both must agree on the bucket and on how long its entries live.
 */
export const revocationStoreVars = {
  /** The JetStream KV bucket that holds revocations (docs/authorization.md#revocation-and-disconnect). */
  REVOCATION_BUCKET: z
    .string()
    .regex(/^[a-zA-Z0-9_-]{1,200}$/, { error: 'must be 1-200 of a-z, A-Z, 0-9, _ or -' })
    .default('signal_revocations'),
  /** JetStream replicas of the bucket when it is created (3 on a 3-node NATS cluster). */
  REVOCATION_REPLICAS: intVar(1, 5, 1),
  /**
   * `file` by default: unlike presence, which clients rebuild by rejoining, a revocation lost in
   * a NATS restart would let a revoked token connect again.
   */
  REVOCATION_STORAGE: z.enum(['memory', 'file'], { error: 'must be memory or file' }).default('file'),
  /** Most bytes the bucket holds when it is created; past it new revocations get 429 limit_exceeded. */
  REVOCATION_MAX_BYTES: intVar(64 * 1024, 1024 ** 4, 64 * 1024 * 1024),
  /**
   * Longest lifetime of a user token (`exp - iat`): emit-api mints none longer, gateways refuse
   * longer-lived ones (401), and it is how long a revocation entry lives (the bucket's max_age):
   * by then every token it covers has expired.
   */
  MAX_TOKEN_TTL_SECONDS: maxTokenTtlVar,
};

export interface RevocationStoreSettings {
  bucket: string;
  replicas: number;
  storage: 'memory' | 'file';
  maxBytes: number;
  /** The bucket's max_age: MAX_TOKEN_TTL_SECONDS. */
  maxAgeMs: number;
}

type StoreVars = { [K in keyof typeof revocationStoreVars]: z.infer<(typeof revocationStoreVars)[K]> };

export function revocationSettingsFrom(env: StoreVars): RevocationStoreSettings {
  return {
    bucket: env.REVOCATION_BUCKET,
    replicas: env.REVOCATION_REPLICAS,
    storage: env.REVOCATION_STORAGE,
    maxBytes: env.REVOCATION_MAX_BYTES,
    maxAgeMs: env.MAX_TOKEN_TTL_SECONDS * 1000,
  };
}
