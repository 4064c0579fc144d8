import { setTimeout as sleep } from 'node:timers/promises';

export type PollOutcome = 'ready' | 'timeout' | 'gave_up';

export interface PollOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Checked before every attempt: a reason to stop waiting early, e.g. the process died. */
  giveUp?: () => boolean;
}

/** Repeats `check` until it returns true; a throwing check counts as "not yet". */
export async function pollUntil(check: () => Promise<boolean>, options: PollOptions): Promise<PollOutcome> {
  const deadline = Date.now() + options.timeoutMs;
  const intervalMs = options.intervalMs ?? 50;
  for (;;) {
    if (options.giveUp?.()) return 'gave_up';
    if (await check().catch(() => false)) return 'ready';
    if (options.giveUp?.()) return 'gave_up';
    if (Date.now() >= deadline) return 'timeout';
    await sleep(intervalMs);
  }
}
