import * as z from 'zod/mini';
import { SignalClientError } from './errors/signal-client-error.js';
import type { GatewayUrl } from './transport/gateway-url.js';
import type { ReconnectOptions } from './transport/link.js';
import type { WebSocketConstructor } from './transport/websocket-constructor.js';

export interface SignalOptions {
  /**
   * Gateway URL (`ws://host:port`), a list to fail over through, or a function asked before
   * each attempt. Optional when tokens carry the gateway's URL as `aud` (emit-api's GATEWAY_PUBLIC_URL), as with Bit6.
   */
  url?: GatewayUrl;
  /** WebSocket class; defaults to the platform's. Node 20 has none: pass the `ws` package's default export. */
  WebSocket?: WebSocketConstructor;
  /** Backoff between attempts. Defaults: 500 ms doubling up to 30 s, with jitter, never giving up. */
  reconnect?: ReconnectOptions;
  /** What `send`/`publish` do while disconnected: `queue` (default) until reconnected, or `reject`. */
  offline?: 'queue' | 'reject';
  /** Most messages kept while offline: for direct messages, and separately per channel. Default 100. */
  queueLimit?: number;
  /** How long to wait for the gateway's answer to a request (join, leave, acked sends). Default 10 s. */
  requestTimeoutMs?: number;
  /** How long an attempt may take to open. Default 10 s. */
  connectTimeoutMs?: number;
  /** How often to ping the gateway. Default 25 s. */
  pingIntervalMs?: number;
  /** Reconnect when a ping gets no answer within this time. Default 10 s. */
  pongTimeoutMs?: number;
  /** Refused upgrades (HTTP 401) in a row, each with a fresh token from the provider, before giving up. Default 3. */
  maxAuthFailures?: number;
  /**
   * Largest frame to send, in bytes: bigger messages are refused here with `payload_too_large`
   * (the gateway could not say which message it refused). Match the gateway's MAX_FRAME_BYTES. Default 65536.
   */
  maxFrameBytes?: number;
}

export type ResolvedOptions = Required<Omit<SignalOptions, 'WebSocket' | 'url'>> & Pick<SignalOptions, 'WebSocket' | 'url'>;

const ms = (max: number) => z.optional(z.int().check(z.minimum(1), z.maximum(max)));

const schema = z.object({
  offline: z.optional(z.enum(['queue', 'reject'])),
  queueLimit: z.optional(z.int().check(z.minimum(0), z.maximum(1_000_000))),
  requestTimeoutMs: ms(600_000),
  connectTimeoutMs: ms(600_000),
  pingIntervalMs: ms(3_600_000),
  pongTimeoutMs: ms(600_000),
  maxAuthFailures: z.optional(z.int().check(z.minimum(1), z.maximum(100))),
  maxFrameBytes: z.optional(z.int().check(z.minimum(256))),
  reconnect: z.optional(
    z.object({
      initialDelayMs: z.optional(z.number().check(z.minimum(0))),
      maxDelayMs: z.optional(z.number().check(z.minimum(0))),
      factor: z.optional(z.number().check(z.minimum(1))),
      maxAttempts: z.optional(z.int().check(z.minimum(1))),
    }),
  ),
});

export function resolveOptions(options: SignalOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new SignalClientError('invalid_options', "options must be an object, e.g. new Signal(token, { url: 'ws://localhost:8080' })");
  }
  const { url, WebSocket, ...rest } = options;
  const parsed = schema.safeParse(rest);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new SignalClientError('invalid_options', `options.${issue.path.join('.')}: ${issue.message}`, { field: issue.path.join('.') });
  }
  return {
    url,
    WebSocket,
    reconnect: parsed.data.reconnect ?? {},
    offline: parsed.data.offline ?? 'queue',
    queueLimit: parsed.data.queueLimit ?? 100,
    requestTimeoutMs: parsed.data.requestTimeoutMs ?? 10_000,
    connectTimeoutMs: parsed.data.connectTimeoutMs ?? 10_000,
    pingIntervalMs: parsed.data.pingIntervalMs ?? 25_000,
    pongTimeoutMs: parsed.data.pongTimeoutMs ?? 10_000,
    maxAuthFailures: parsed.data.maxAuthFailures ?? 3,
    maxFrameBytes: parsed.data.maxFrameBytes ?? 65_536,
  };
}
