import { RequestError, errors } from '@nats-io/transport-node';
import { JetStreamApiError } from '@nats-io/jetstream';

/**
 * JetStream API error codes that mean "not now": the cluster has no meta or stream leader for
 * the moment (a NATS node died and an election is running, or a fresh cluster is forming).
 * Any other API error is an answer, and retrying it changes nothing.
 */
const TRANSIENT_API_CODES: ReadonlySet<number> = new Set([
  10007, // JSClusterNotAssignedErr: "JetStream cluster not assigned to this server"
  10008, // JSClusterNotAvailErr: "JetStream system temporarily unavailable"
  10009, // JSClusterNotLeaderErr: "JetStream cluster can not handle request"
  10118, // JSStreamOfflineErr: "stream is offline"
]);

/** How deep a chain of `cause`s is followed (our SignalErrors wrap the NATS error). */
const MAX_CAUSE_DEPTH = 8;

/**
 * Whether a NATS or JetStream failure is worth retrying: a request that timed out, nobody to
 * answer it (a stream without a leader has no responder; nats.js turns that into
 * `JetStreamNotEnabled` with the no-responders error as its cause), or one of the API codes
 * above. Decided on typed errors and API codes only, never on message text, and following the
 * `cause` chain, so a `SignalError('unavailable')` that wraps one of those is transient too.
 * "JetStream not enabled for this account" (10039) is a misconfiguration, not transient.
 */
export function isTransient(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && current instanceof Error; depth++) {
    if (current instanceof errors.TimeoutError) return true;
    if (current instanceof RequestError && current.isNoResponders()) return true;
    if (current instanceof errors.NoRespondersError) return true;
    if (current instanceof JetStreamApiError) return TRANSIENT_API_CODES.has(current.code);
    current = current.cause;
  }
  return false;
}

export interface RetryPolicy {
  /** Past this (ms from the first attempt) the last error is thrown; 0 means one attempt only. */
  readonly deadlineMs: number;
  /** First pause between attempts; doubled after each, up to `maxDelayMs`, with ±50 % jitter. */
  readonly firstDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_DELAYS = { firstDelayMs: 50, maxDelayMs: 1000 } as const;

/** Called before each pause with the error that caused it; for logs and metrics. */
export type RetryObserver = (error: unknown, attempt: number) => void;

/**
 * Runs `operation` until it succeeds, fails with a non-transient error, or the deadline has
 * passed, with exponential backoff between attempts. A pause never runs past the deadline: the
 * last attempt starts at the latest at the deadline. Every presence operation that talks to
 * JetStream goes through here (and `waitFor` at start-up), so the rule lives in one place.
 */
export async function retryTransient<T>(operation: () => Promise<T>, policy: RetryPolicy, observe?: RetryObserver): Promise<T> {
  const started = performance.now();
  let delay = policy.firstDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      const left = policy.deadlineMs - (performance.now() - started);
      if (!isTransient(error) || left <= 0) throw error;
      observe?.(error, attempt);
      await sleep(Math.min(left, delay * (0.5 + Math.random())));
      delay = Math.min(policy.maxDelayMs, delay * 2);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
