import type { Proof } from '../auth/credentials.js';
import { tokenAudience } from '../auth/jwt-payload.js';
import { SignalClientError } from '../errors/signal-client-error.js';

export interface UrlRequest {
  /** 0 for the first connection, then counts every attempt. */
  attempt: number;
  /** The gateway of the previous attempt, if any. */
  previous: string | undefined;
}

/**
 * Where to connect: one gateway URL, a list to fail over through (the next one is tried
 * after each failure or drop), or a function asked before every attempt. Without one, the
 * token's `aud` is used, as the Bit6 SDK does.
 * `ws://host:port` gets the native path `/v1/connect`; `http(s)` is turned into `ws(s)`.
 */
export type GatewayUrl = string | readonly string[] | ((request: UrlRequest) => string | Promise<string>);

export class GatewayUrls {
  private index = -1;
  private attempt = 0;
  private previous: string | undefined;

  constructor(private readonly url: GatewayUrl | undefined) {
    if (url === undefined) return;
    if (typeof url === 'string') checkUrl(url);
    else if (Array.isArray(url)) {
      if (url.length === 0) throw new SignalClientError('invalid_options', 'options.url is an empty list; give at least one gateway URL');
      for (const u of url as readonly string[]) checkUrl(u);
    } else if (typeof url !== 'function') {
      throw new SignalClientError('invalid_options', 'options.url must be a gateway URL such as ws://localhost:8080, a list of them, or a function returning one');
    }
  }

  /** The gateway for the next attempt: the next in the list (wrapping), what the function says, or the token's audience. */
  async next(proof: Proof): Promise<string> {
    const url = this.url;
    let base: string;
    if (url === undefined) base = audienceOf(proof);
    else if (typeof url === 'string') base = url;
    else if (typeof url === 'function') {
      try {
        base = checkUrl(await url({ attempt: this.attempt, previous: this.previous }));
      } catch (error) {
        if (error instanceof SignalClientError) throw error;
        throw new SignalClientError('invalid_options', `options.url function failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
      }
    } else {
      const list = url as readonly string[];
      this.index = (this.index + 1) % list.length;
      base = list[this.index]!;
    }
    this.attempt++;
    this.previous = base;
    return base;
  }

  /** True when a URL was given; without one the token's `aud` is the only way to find the gateway. */
  get given(): boolean {
    return this.url !== undefined;
  }
}

function audienceOf(proof: Proof): string {
  const aud = proof.param === 'token' ? tokenAudience(proof.value) : undefined;
  if (aud === undefined) {
    throw new SignalClientError(
      'invalid_options',
      "options.url is required: the token has no aud claim to connect to (set GATEWAY_PUBLIC_URL on emit-api to put the gateway's URL there)",
    );
  }
  const url = new URL(checkUrl(aud));
  // Bit6 appends its paths to the audience (`<aud>/signal/v1/pubsub`, or `<aud>/signal/pubsub` when it ends in v1); the native one goes in the same place.
  url.pathname = `${url.pathname.replace(/\/+$/, '').replace(/\/v1$/, '')}/v1/connect`;
  return url.toString();
}

/** The full connection URL for a gateway base URL, the attempt's credentials, and where its direct messages stand. */
export function connectUrl(base: string, proof: Proof, since?: string): string {
  const url = new URL(base);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.pathname === '' || url.pathname === '/') url.pathname = '/v1/connect';
  url.searchParams.set(proof.param, proof.value);
  if (since !== undefined) url.searchParams.set('since', since);
  return url.toString();
}

function checkUrl(value: unknown): string {
  if (typeof value !== 'string') throw new SignalClientError('invalid_options', `a gateway URL must be a string, got ${typeof value}`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new SignalClientError('invalid_options', `'${value}' is not a URL; use e.g. ws://localhost:8080`);
  }
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(url.protocol)) {
    throw new SignalClientError('invalid_options', `'${value}' must start with ws://, wss://, http:// or https://`);
  }
  return value;
}
