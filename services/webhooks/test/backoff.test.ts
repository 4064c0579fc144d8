import { describe, expect, it } from 'vitest';
import { backoffMs } from '../src/deliver/endpoint-worker.js';

describe('retry backoff (docs/webhooks.md "Retries")', () => {
  it('with the defaults: 1 s, 2 s, 4 s, … 256 s, then 300 s each time', () => {
    const policy = { minMs: 1000, maxMs: 300_000, periodMs: 86_400_000 };
    const waits = Array.from({ length: 12 }, (_, i) => backoffMs(policy, i + 1) / 1000);
    expect(waits).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    // Far into a day of retries it stays at the cap (no overflow).
    expect(backoffMs(policy, 10_000)).toBe(300_000);
  });

  it('the test settings (FAST_RETRIES): 200, 400, 800, 1600 ms, then 1600', () => {
    const policy = { minMs: 200, maxMs: 1600, periodMs: 60_000 };
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(policy, n))).toEqual([200, 400, 800, 1600, 1600]);
  });
});
