import { jsonTextTooDeep, publicKeyFrom, type AsymmetricAlgorithm, type PublicKey } from '@signal/core';
import type { Logger } from 'pino';

/** Largest JWKS document read; a real one is a few KiB. */
export const JWKS_MAX_BYTES = 256 * 1024;
/** Keys taken from one document at most; the rest are ignored. */
export const JWKS_MAX_KEYS = 32;
/** Refresh interval when the answer has no usable Cache-Control max-age. */
const DEFAULT_MAX_AGE_MS = 5 * 60_000;
/** Refresh interval ceiling, whatever max-age says: a key the provider revokes is gone within a day. */
const MAX_AGE_CEILING_MS = 24 * 3600_000;

export interface JwksSettings {
  /** A fetch that has not completed by then is abandoned (JWKS_TIMEOUT_MS). */
  timeoutMs: number;
  /** Least time between two fetches of one URL, whatever the cause (JWKS_MIN_REFRESH_MS). */
  minRefreshMs: number;
}

interface Source {
  url: string;
  keys: readonly PublicKey[];
  /** When the last fetch (good or not) started; ms since epoch. */
  fetchedAt: number;
  timer: NodeJS.Timeout | undefined;
  inFlight: boolean;
  stopped: boolean;
}

/**
 * The keys of every JWKS URL the apps file names, fetched and refreshed in the background
 * (docs/authorization.md#asymmetric-tokens). Verification only reads `keysOf`, synchronously;
 * a token naming a `kid` not seen yet asks for an early refresh (`refreshSoon`), so a provider's
 * new key is picked up within JWKS_MIN_REFRESH_MS. A failed fetch keeps the last good keys. The
 * document is hostile input: bounded in time and size, nesting-checked, and each key that cannot
 * be used is skipped, not fatal. Nothing thrown here escapes into a timer.
 */
export class JwksKeys {
  private readonly sources = new Map<string, Source>();

  constructor(
    private readonly settings: JwksSettings,
    private readonly log: Logger,
  ) {}

  keysOf(url: string): readonly PublicKey[] {
    return this.sources.get(url)?.keys ?? [];
  }

  /** Starts fetching URLs not tracked yet and stops those no longer named (after an apps file reload). */
  track(urls: ReadonlySet<string>): void {
    for (const [url, source] of this.sources) {
      if (urls.has(url)) continue;
      source.stopped = true;
      if (source.timer !== undefined) clearTimeout(source.timer);
      this.sources.delete(url);
    }
    for (const url of urls) {
      if (this.sources.has(url)) continue;
      const source: Source = { url, keys: [], fetchedAt: 0, timer: undefined, inFlight: false, stopped: false };
      this.sources.set(url, source);
      void this.fetch(source);
    }
  }

  /** A token named a key this URL did not have: fetch again as soon as the minimum interval allows. */
  refreshSoon(url: string): void {
    const source = this.sources.get(url);
    if (!source || source.inFlight || source.stopped) return;
    const wait = Math.max(0, source.fetchedAt + this.settings.minRefreshMs - Date.now());
    this.schedule(source, wait);
  }

  stop(): void {
    this.track(new Set());
  }

  private schedule(source: Source, delayMs: number): void {
    if (source.timer !== undefined) clearTimeout(source.timer);
    source.timer = setTimeout(() => {
      source.timer = undefined;
      void this.fetch(source);
    }, delayMs);
    source.timer.unref();
  }

  private async fetch(source: Source): Promise<void> {
    if (source.stopped || source.inFlight) return;
    source.inFlight = true;
    source.fetchedAt = Date.now();
    let refreshInMs = this.settings.minRefreshMs;
    try {
      const { keys, skipped, maxAgeMs } = await this.download(source.url);
      if (source.stopped) return;
      source.keys = keys;
      refreshInMs = Math.min(MAX_AGE_CEILING_MS, Math.max(this.settings.minRefreshMs, maxAgeMs ?? DEFAULT_MAX_AGE_MS));
      this.log.info({ url: source.url, keys: keys.length, skipped, refreshInMs }, 'jwks fetched');
    } catch (error) {
      const message = (error as Error).message.slice(0, 300);
      this.log.warn({ url: source.url, error: message, kept: source.keys.length }, 'jwks fetch failed; keeping the last good keys');
    } finally {
      source.inFlight = false;
      if (!source.stopped) this.schedule(source, refreshInMs);
    }
  }

  private async download(url: string): Promise<{ keys: PublicKey[]; skipped: number; maxAgeMs: number | undefined }> {
    const response = await fetch(url, { signal: AbortSignal.timeout(this.settings.timeoutMs), redirect: 'error', headers: { accept: 'application/json' } });
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new Error(`answered ${response.status}`);
    }
    const text = await readCapped(response, JWKS_MAX_BYTES);
    if (jsonTextTooDeep(text, 8)) throw new Error('is nested deeper than a JWKS document can be');
    const document = JSON.parse(text) as unknown;
    const list = typeof document === 'object' && document !== null ? (document as { keys?: unknown }).keys : undefined;
    if (!Array.isArray(list)) throw new Error('is not a JWKS document: no keys array');
    const keys: PublicKey[] = [];
    let skipped = 0;
    for (const jwk of list.slice(0, JWKS_MAX_KEYS)) {
      const key = keyOf(jwk);
      if (key) keys.push(key);
      else skipped++;
    }
    skipped += Math.max(0, list.length - JWKS_MAX_KEYS);
    return { keys, skipped, maxAgeMs: maxAgeOf(response.headers.get('cache-control')) };
  }
}

/** A usable signing key of a JWKS entry, or undefined (encryption keys, unknown algorithms, private keys, malformed ones). */
function keyOf(jwk: unknown): PublicKey | undefined {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return undefined;
  const entry = jwk as Record<string, unknown>;
  if (entry.use !== undefined && entry.use !== 'sig') return undefined;
  if (entry.kid !== undefined && (typeof entry.kid !== 'string' || entry.kid.length > 256)) return undefined;
  const alg = algorithmOf(entry);
  if (alg === undefined) return undefined;
  try {
    return publicKeyFrom(alg, entry.kid as string | undefined, { jwk: entry });
  } catch {
    return undefined;
  }
}

/** The key's own `alg`, or the one its type implies; never what a token says. */
function algorithmOf(jwk: Record<string, unknown>): AsymmetricAlgorithm | undefined {
  if (jwk.alg !== undefined) return jwk.alg === 'RS256' || jwk.alg === 'ES256' || jwk.alg === 'EdDSA' ? jwk.alg : undefined;
  if (jwk.kty === 'RSA') return 'RS256';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  if (jwk.kty === 'OKP' && (jwk.crv === 'Ed25519' || jwk.crv === 'Ed448')) return 'EdDSA';
  return undefined;
}

/** `max-age` in ms; `no-store` and `no-cache` mean as often as allowed (0, raised to the minimum by the caller). */
export function maxAgeOf(header: string | null): number | undefined {
  if (header === null) return undefined;
  const directives = header.toLowerCase().split(',').map((d) => d.trim());
  if (directives.includes('no-store') || directives.includes('no-cache')) return 0;
  const maxAge = directives.find((d) => d.startsWith('max-age='));
  if (maxAge === undefined) return undefined;
  const seconds = Number(maxAge.slice('max-age='.length));
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

async function readCapped(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new Error(`is ${declared} bytes, over the ${maxBytes}-byte limit`);
  }
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new Error(`is over the ${maxBytes}-byte limit`);
    }
    chunks.push(value);
  }
  return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
}
