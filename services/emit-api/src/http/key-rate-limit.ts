import { SignalError, type SecretKeyGrant } from '@signal/core';
import { metrics } from '../metrics/emit-metrics.js';

export interface KeyRateSettings {
  /** Requests per second each secret key may make, sustained (RATE_LIMIT_PER_KEY). */
  perSecond: number;
  /** Requests a key may make at once after being idle (RATE_LIMIT_BURST). */
  burst: number;
}

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
  ) {}

  /** Takes one request from the key's bucket, or throws `rate_limited` saying when to retry. */
  take(grant: SecretKeyGrant): void {
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
    metrics.limitRefusals.inc({ limit: 'rate_limit_per_key' });
    // Retry-After is whole seconds (RFC 9110); round up so a client that obeys it is served.
    const retryAfter = Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond));
    throw new SignalError(
      'rate_limited',
      `secret key ${grant.label} is over its rate of ${perSecond} requests/s (RATE_LIMIT_PER_KEY, bursts of ${burst}: RATE_LIMIT_BURST); retry after ${retryAfter} s or batch signals`,
      { data: { retryAfter } },
    );
  }
}
