import { SignalError, type SecretKeyGrant } from '@signal/core';
import { metrics } from '../metrics/emit-metrics.js';

export interface KeyRateSettings {
  /** Requests per second each secret key may make, sustained (RATE_LIMIT_PER_KEY). */
  perSecond: number;
  /** Requests a key may make at once after being idle (RATE_LIMIT_BURST). */
  burst: number;
}

/** How a refusal names the limit: its metric label, what is limited, and the variables that set it. */
export interface RateLimitNames {
  limit: string;
  subject: (label: string) => string;
  perSecondVar: string;
  burstVar: string;
  hint: string;
}

const PER_KEY: RateLimitNames = {
  limit: 'rate_limit_per_key',
  subject: (label) => `secret key ${label}`,
  perSecondVar: 'RATE_LIMIT_PER_KEY',
  burstVar: 'RATE_LIMIT_BURST',
  hint: ' or batch signals',
};

interface Bucket {
  tokens: number;
  refilledAt: number;
}

/**
 * A token bucket per secret key. Buckets are keyed by the key's hash (the grant's id), so their
 * number is bounded by the keys the apps files named, the clear key is never held, and a key
 * keeps its bucket when the apps file is reloaded.
 */
export class KeyRateLimit {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly settings: KeyRateSettings,
    private readonly now: () => number = () => performance.now(),
    private readonly names: RateLimitNames = PER_KEY,
  ) {}

  /** Takes one request from the key's bucket, or throws `rate_limited` saying when to retry. */
  take(grant: Pick<SecretKeyGrant, 'id' | 'label'>): void {
    const { perSecond, burst } = this.settings;
    const now = this.now();
    let bucket = this.buckets.get(grant.id);
    if (bucket === undefined) {
      bucket = { tokens: burst, refilledAt: now };
      this.buckets.set(grant.id, bucket);
    }
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.refilledAt) / 1000) * perSecond);
    bucket.refilledAt = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return;
    }
    const { limit, subject, perSecondVar, burstVar, hint } = this.names;
    metrics.limitRefusals.inc({ limit });
    // Retry-After is whole seconds (RFC 9110); round up so a client that obeys it is served.
    const retryAfter = Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond));
    throw new SignalError(
      'rate_limited',
      `${subject(grant.label)} is over its rate of ${perSecond} requests/s (${perSecondVar}, bursts of ${burst}: ${burstVar}); retry after ${retryAfter} s${hint}`,
      { data: { retryAfter } },
    );
  }
}
