import type { Session } from '../core/session.js';

/** How often due expiries are looked for: a connection is closed at most this long after its token's `exp`. */
export const EXPIRY_CHECK_MS = 1000;

/**
 * Ends connections whose user token has expired and was not replaced with `signal.auth`.
 *
 * Watched sessions are grouped by their token's `exp` (whole seconds, as in the JWT) and one shared
 * interval closes the groups that are due. Not one timer per connection: Node keeps a timer list
 * per distinct duration, and an unref'd timer's list is not freed when the timer is cleared, only
 * when its time comes — so under connection churn every closed connection left an empty list
 * behind for as long as its token had left to live (hours), a heap that grew with the connect
 * rate (bench/memory-soak.mjs). Watching again (after a refresh) moves the session to its new group.
 */
export class SessionExpiry {
  private readonly dueAt = new Map<number, Set<Session>>();
  private readonly watched = new Map<Session, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly onExpired: (session: Session) => void,
    private readonly onError: (error: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {}

  watch(session: Session): void {
    this.forget(session);
    const { expiresAt } = session;
    if (expiresAt === undefined) return;
    let sessions = this.dueAt.get(expiresAt);
    if (sessions === undefined) {
      sessions = new Set();
      this.dueAt.set(expiresAt, sessions);
    }
    sessions.add(session);
    this.watched.set(session, expiresAt);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.expireDue(), EXPIRY_CHECK_MS);
      // Never what keeps the process alive: shutdown closes connections its own way.
      this.timer.unref();
    }
  }

  forget(session: Session): void {
    const expiresAt = this.watched.get(session);
    if (expiresAt === undefined) return;
    this.watched.delete(session);
    const sessions = this.dueAt.get(expiresAt);
    sessions?.delete(session);
    // Keys go with their last session, and the timer with the last key: nothing outlives the connections.
    if (sessions?.size === 0) this.dueAt.delete(expiresAt);
    if (this.watched.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Ends every watched session whose token has expired (the interval's work; tests call it directly). */
  expireDue(): void {
    const now = this.now();
    for (const [expiresAt, sessions] of this.dueAt) {
      // The same instant as the rule every request asks (core/token-expiry.ts).
      if (expiresAt * 1000 > now) continue;
      for (const session of sessions) {
        this.forget(session);
        // One shared interval for every connection: a close that throws must not skip the rest.
        try {
          this.onExpired(session);
        } catch (error) {
          this.onError(error);
        }
      }
    }
  }

  /** Sessions watched now (zero once every watched connection has closed). */
  get size(): number {
    return this.watched.size;
  }

  /** Distinct expiry seconds held now; zero with size. */
  get groups(): number {
    return this.dueAt.size;
  }

  get ticking(): boolean {
    return this.timer !== undefined;
  }
}
