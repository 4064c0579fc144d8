import { SignalClientError } from '../errors/signal-client-error.js';
import type { Credentials, Proof } from './credentials.js';
import { tokenExpiry } from './jwt-payload.js';

/** Returns a fresh user token, e.g. by asking your backend (which mints one with POST /v1/tokens). */
export type TokenProvider = () => string | Promise<string>;

export interface TokenSourceHooks {
  /** A background refresh failed; the source retries until the token has expired. */
  onRefreshError(error: SignalClientError): void;
  /** A fixed token is about to expire (Bit6's `expired`): the app should call `update()`. */
  onExpiring(): void;
  /** A new token replaced the current one ahead of expiry (refresh or `update()`): an open connection should get it. */
  onRenewed(token: string): void;
}

/** Bit6 warns this long before a fixed token expires. */
const EXPIRING_NOTICE_MS = 10_000;
const MAX_MARGIN_MS = 30_000;
const MIN_MARGIN_MS = 1_000;
const FIRST_RETRY_MS = 1_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Holds the token the next connection attempt uses. With a provider it fetches a new one
 * ahead of expiry (so a reconnect never presents an expired token), again when the gateway
 * refused the current one, and whenever the cached one is close to expiry.
 */
export class TokenSource implements Credentials {
  readonly refusedHint = 'the token is invalid or expired; pass a token provider function, or call update() with a new token';
  private current: string | undefined;
  private expiresAtMs: number | undefined;
  /** How long before expiry the token counts as stale, from its lifetime when it arrived. */
  private marginMs = 0;
  private inflight: Promise<string> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private readonly provider: TokenProvider | undefined;

  constructor(
    input: string | TokenProvider,
    private readonly hooks: TokenSourceHooks,
  ) {
    if (typeof input === 'function') {
      this.provider = input;
    } else {
      this.provider = undefined;
      this.accept(checkToken(input));
    }
  }

  /** The newest token this source holds (possibly newer than the one a connection opened with). */
  get latest(): string | undefined {
    return this.current;
  }

  /** True when a new token can be had by asking again (a provider); false for a fixed token. */
  get refreshable(): boolean {
    return this.provider !== undefined;
  }

  /**
   * The token to connect with. `afterRefusal` asks for a new one even if the cached token
   * looks valid (the gateway refused it, or may have and could not say).
   */
  async token(afterRefusal = false): Promise<string> {
    if (this.current !== undefined && (!this.provider || (!afterRefusal && !this.expiringSoon()))) return this.current;
    return this.fetch();
  }

  async proof(afterRefusal: boolean): Promise<Proof> {
    return { param: 'token', value: await this.token(afterRefusal) };
  }

  /** Replaces the token (Bit6 `update(jwt)`): used from the next connection attempt on, and sent to an open one. */
  update(token: string): void {
    this.accept(checkToken(token));
    this.hooks.onRenewed(token);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private fetch(): Promise<string> {
    const provider = this.provider!;
    this.inflight ??= (async () => {
      try {
        let value: unknown;
        try {
          value = await provider();
        } catch (error) {
          throw new SignalClientError('token_provider', `the token provider failed: ${describe(error)}`, { cause: error });
        }
        const token = checkToken(value);
        const exp = tokenExpiry(token);
        if (exp !== undefined && exp * 1000 <= Date.now()) {
          throw new SignalClientError(
            'token_provider',
            `the token provider returned a token that expired at ${new Date(exp * 1000).toISOString()}; it must mint a fresh one`,
          );
        }
        this.accept(token);
        return token;
      } finally {
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }

  private accept(token: string): void {
    this.current = token;
    const exp = tokenExpiry(token);
    this.expiresAtMs = exp === undefined ? undefined : exp * 1000;
    this.marginMs = exp === undefined ? 0 : margin(exp * 1000 - Date.now());
    this.schedule(FIRST_RETRY_MS);
  }

  private expiringSoon(): boolean {
    if (this.expiresAtMs === undefined) return false;
    return this.expiresAtMs - Date.now() <= this.marginMs;
  }

  private schedule(retryMs: number): void {
    clearTimeout(this.timer);
    if (this.stopped || this.expiresAtMs === undefined) return;
    const remaining = this.expiresAtMs - Date.now();
    const delay = Math.max(0, remaining - (this.provider ? this.marginMs : EXPIRING_NOTICE_MS));
    // Timers fire at once past 2^31-1 ms, and tokens may live for weeks: wait in steps.
    if (delay > MAX_TIMER_MS) {
      this.timer = setTimeout(() => this.schedule(retryMs), MAX_TIMER_MS);
      return;
    }
    this.timer = setTimeout(() => (this.provider ? this.refresh(retryMs) : this.hooks.onExpiring()), delay);
  }

  private refresh(retryMs: number): void {
    if (this.stopped) return;
    this.fetch().then((token) => this.hooks.onRenewed(token), (error: unknown) => {
      if (this.stopped) return;
      this.hooks.onRefreshError(error as SignalClientError);
      // Keep trying while the old token is still good; after that the next connection attempt asks anyway.
      if (this.expiresAtMs !== undefined && this.expiresAtMs - Date.now() > retryMs) {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.refresh(retryMs * 2), retryMs);
      }
    });
  }
}

/** How long before expiry to fetch a new token: a fifth of its life, between 1 s and 30 s. */
function margin(remainingMs: number): number {
  return Math.min(MAX_MARGIN_MS, Math.max(MIN_MARGIN_MS, remainingMs / 5));
}

function checkToken(value: unknown): string {
  if (typeof value === 'string' && value.length > 0) return value;
  throw new SignalClientError('token_provider', `a token must be a non-empty string, got ${value === '' ? 'an empty string' : typeof value}`);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
