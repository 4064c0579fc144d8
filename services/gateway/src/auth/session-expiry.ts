import type { Session } from '../core/session.js';

/** setTimeout's ceiling (~24.8 days); longer-lived tokens are re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Ends connections whose user token has expired and was not replaced with `signal.auth`.
 * One timer per watched connection; watching again (after a refresh) replaces it.
 */
export class SessionExpiry {
  private readonly timers = new Map<Session, NodeJS.Timeout>();

  constructor(private readonly onExpired: (session: Session) => void) {}

  watch(session: Session): void {
    this.forget(session);
    const { expiresAt } = session;
    if (expiresAt === undefined) return;
    const delay = Math.min(Math.max(0, expiresAt * 1000 - Date.now()), MAX_TIMER_MS);
    const timer = setTimeout(() => {
      this.timers.delete(session);
      if (expiresAt * 1000 > Date.now()) return this.watch(session);
      this.onExpired(session);
    }, delay);
    timer.unref();
    this.timers.set(session, timer);
  }

  forget(session: Session): void {
    const timer = this.timers.get(session);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.timers.delete(session);
  }
}
