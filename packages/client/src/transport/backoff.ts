export interface BackoffOptions {
  /** Delay before the first retry, before jitter. Default 500 ms. */
  initialDelayMs?: number;
  /** Longest delay between attempts. Default 30 s. */
  maxDelayMs?: number;
  /** Growth per failed attempt. Default 2. */
  factor?: number;
}

/**
 * Exponential backoff with "equal jitter": each delay is between half and all of the
 * exponential step, so clients dropped together by one gateway do not come back in lockstep.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialDelayMs ?? 500;
  const max = options.maxDelayMs ?? 30_000;
  const factor = options.factor ?? 2;
  const step = Math.min(max, initial * factor ** Math.max(0, attempt - 1));
  return Math.round(step / 2 + random() * (step / 2));
}
