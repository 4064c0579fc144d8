import type { Credentials } from '../auth/credentials.js';
import { SignalClientError } from '../errors/signal-client-error.js';
import { connectedParams, parseServerFrame, readParams, type ConnectedParams, type ServerFrame } from '../rpc/server-frames.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { CONNECT_TIMEOUT_CLOSE, GatewaySocket, type SocketEnd, type SocketTimings } from './gateway-socket.js';
import { connectUrl, type GatewayUrls } from './gateway-url.js';
import type { WebSocketConstructor } from './websocket-constructor.js';

export interface ReconnectOptions extends BackoffOptions {
  /** Give up after this many failed attempts in a row (a drop counts as one). Default: never give up. */
  maxAttempts?: number;
}

export interface LinkOptions {
  urls: GatewayUrls;
  credentials: Credentials;
  WebSocket: WebSocketConstructor;
  timings: SocketTimings;
  reconnect: ReconnectOptions;
  /** Refused upgrades (HTTP 401) in a row, each with a new token, before giving up. */
  maxAuthFailures: number;
  /** Asked before every attempt: the connect URL's `since`, where the client's direct messages stand (docs/recovery.md). */
  since: () => string | undefined;
}

export interface LinkHandlers {
  onConnecting(info: { attempt: number; url: string }): void;
  /** The gateway accepted the connection and said who we are. */
  onOpen(params: ConnectedParams): void;
  onFrame(frame: ServerFrame): void;
  /** An open connection ended. */
  onLost(info: { code: number; reason: string; willReconnect: boolean }): void;
  /** The next attempt is scheduled after a failure. */
  onRetry(info: { attempt: number; delayMs: number; error: SignalClientError }): void;
  /** The link gave up for good. */
  onFatal(error: SignalClientError): void;
  /** A frame that broke the protocol; the connection goes on. */
  onProtocolError(error: SignalClientError): void;
}

/** Gateway shutdown and restart: another gateway can take us right away. */
const RECONNECT_AT_ONCE = new Set([1001, 1012]);
/**
 * The gateway ended the connection because its token expired (4001, no refresh reached it in
 * time) or because the key or token secret it was accepted with was removed from the apps file
 * (4005): either way the next connection needs a new token, asked for at once.
 */
const NEEDS_NEW_TOKEN = new Set([4001, 4005]);
/**
 * The connection's token was revoked: never presented again. A backend disconnect (4004) is
 * not special: it reconnects with backoff like any drop (a backend that wants the user out
 * revokes the token too).
 */
const TOKEN_REVOKED = 4003;

/**
 * Keeps one connection to a gateway up: picks the gateway, gets a token, opens the socket,
 * waits for `signal.connected`, and after a failure or a drop tries again with jittered
 * exponential backoff (at once after a gateway shutdown), asking for a new token when the
 * gateway refused the last one.
 */
export class Link {
  private socket: GatewaySocket | undefined;
  private ready = false;
  private stopped = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  private attempts = 0;
  private failures = 0;
  private authFailures = 0;
  /** Ask the token source for a new token before the next attempt. */
  private newToken = false;
  /** Set after a 4003: the revoked token, until a connection with a fresh one is accepted. */
  private revokedToken: string | undefined;
  private presentedValue: string | undefined;

  constructor(
    private readonly options: LinkOptions,
    private readonly handlers: LinkHandlers,
  ) {}

  /** The token or key the current connection (or attempt) presented. */
  get presented(): string | undefined {
    return this.presentedValue;
  }

  /** True when frames can be sent (open, and the gateway has said who we are). */
  get isOpen(): boolean {
    return this.ready && this.socket?.isOpen === true;
  }

  start(): void {
    void this.connect();
  }

  send(text: string): boolean {
    return this.isOpen && this.socket!.send(text);
  }

  stop(code = 1000, reason = 'client closed'): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.handshakeTimer);
    this.socket?.close(code, reason);
    this.socket = undefined;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const attempt = this.attempts++;
    let url: string;
    try {
      const proof = await this.options.credentials.proof(this.newToken);
      if (this.revokedToken !== undefined && proof.value === this.revokedToken) {
        return this.fail(revokedError('the token provider returned the revoked token again; it must mint a new one'));
      }
      const base = await this.options.urls.next(proof);
      url = connectUrl(base, proof, this.options.since());
      this.presentedValue = proof.value;
      this.newToken = false;
      this.handlers.onConnecting({ attempt, url: base });
    } catch (error) {
      const failure = asClientError(error, 'unavailable', 'could not prepare the connection');
      if (failure.code === 'invalid_options') return this.fail(failure);
      // One fresh token after a revocation, not a retry loop.
      if (this.revokedToken !== undefined) return this.fail(revokedError(`no fresh token after the revocation: ${failure.message}`, failure));
      return this.retry(failure);
    }
    if (this.stopped) return;
    this.ready = false;
    try {
      this.socket = new GatewaySocket(this.options.WebSocket, url, this.options.timings, {
        onOpen: () => this.awaitHandshake(),
        onText: (text) => this.receive(text),
        onEnd: (end) => this.ended(end),
      });
    } catch (error) {
      // The URL was checked before; what is left is a WebSocket class that cannot be used.
      return this.fail(asClientError(error, 'invalid_options', 'options.WebSocket could not open a connection'));
    }
  }

  private awaitHandshake(): void {
    const socket = this.socket;
    this.handshakeTimer = setTimeout(
      () => socket?.close(CONNECT_TIMEOUT_CLOSE, 'the gateway did not send signal.connected; is the URL a signal gateway (native path /v1/connect)?'),
      this.options.timings.connectTimeoutMs,
    );
  }

  private receive(text: string): void {
    let frame: ServerFrame;
    try {
      frame = parseServerFrame(text);
    } catch (error) {
      return this.handlers.onProtocolError(error as SignalClientError);
    }
    if (!this.ready) {
      if (frame.kind === 'notification' && frame.method === 'signal.connected') {
        let params;
        try {
          params = readParams(connectedParams, frame.method, frame.params);
        } catch (error) {
          return this.handlers.onProtocolError(error as SignalClientError);
        }
        clearTimeout(this.handshakeTimer);
        this.ready = true;
        this.failures = 0;
        this.authFailures = 0;
        this.revokedToken = undefined;
        return this.handlers.onOpen(params);
      }
    }
    this.handlers.onFrame(frame);
  }

  private ended(end: SocketEnd): void {
    clearTimeout(this.handshakeTimer);
    this.socket = undefined;
    const wasReady = this.ready;
    this.ready = false;
    if (this.stopped) return;
    if (end.code === TOKEN_REVOKED || (end.httpStatus === 401 && this.revokedToken !== undefined)) return this.revoked(end, wasReady);
    if (wasReady) {
      this.handlers.onLost({ code: end.code, reason: end.reason, willReconnect: true });
      if (RECONNECT_AT_ONCE.has(end.code)) return void this.connect();
      if (NEEDS_NEW_TOKEN.has(end.code)) {
        this.newToken = this.options.credentials.refreshable;
        return void this.connect();
      }
      return this.retry(new SignalClientError('disconnected', `connection lost: ${end.detail}`, { data: { code: end.code } }));
    }
    if (end.httpStatus === 401) return this.refused(end);
    // A browser cannot tell a refused token from an unreachable gateway: try a new token too.
    if (end.httpStatus === undefined && end.code !== CONNECT_TIMEOUT_CLOSE && this.options.credentials.refreshable) this.newToken = true;
    this.retry(new SignalClientError('unavailable', end.detail, { data: { code: end.code, status: end.httpStatus } }));
  }

  /**
   * The token was revoked (4003), or the fresh token asked for after that was refused too: with a
   * provider, one more attempt at once with a new token; otherwise, or the second time, the end.
   */
  private revoked(end: SocketEnd, wasReady: boolean): void {
    const retry = this.options.credentials.refreshable && this.revokedToken === undefined;
    // Without a retry the end is reported once, by the failure (with `data.code` 4003).
    if (wasReady && retry) this.handlers.onLost({ code: end.code, reason: end.reason, willReconnect: true });
    if (!retry) {
      const why = this.revokedToken === undefined
        ? `the gateway closed the connection because its token was revoked (close code ${end.code}); connect with a new token`
        : `the fresh token asked for after a revocation was refused too (${end.detail})`;
      return this.fail(revokedError(why));
    }
    this.revokedToken = this.presentedValue;
    this.newToken = true;
    void this.connect();
  }

  private refused(end: SocketEnd): void {
    this.authFailures++;
    const { credentials, maxAuthFailures } = this.options;
    if (!credentials.refreshable) {
      return this.fail(
        new SignalClientError('unauthorized', `${end.detail}: ${credentials.refusedHint}`, {
          data: { status: 401 },
        }),
      );
    }
    if (this.authFailures >= maxAuthFailures) {
      return this.fail(
        new SignalClientError(
          'unauthorized',
          `the gateway refused ${this.authFailures} tokens in a row (HTTP 401); the token provider must return tokens minted for this app and environment`,
          { data: { status: 401 } },
        ),
      );
    }
    this.newToken = true;
    this.retry(new SignalClientError('unauthorized', `${end.detail}; asking the token provider for a new token`, { data: { status: 401 } }));
  }

  private retry(error: SignalClientError): void {
    if (this.stopped) return;
    this.failures++;
    const max = this.options.reconnect.maxAttempts;
    if (max !== undefined && this.failures >= max) {
      return this.fail(new SignalClientError(error.code, `gave up after ${max} failed attempts: ${error.message}`, { data: error.data, cause: error }));
    }
    const delayMs = backoffDelay(this.failures, this.options.reconnect);
    this.handlers.onRetry({ attempt: this.failures, delayMs, error });
    this.retryTimer = setTimeout(() => void this.connect(), delayMs);
  }

  private fail(error: SignalClientError): void {
    this.stop();
    this.handlers.onFatal(error);
  }
}

function revokedError(message: string, cause?: unknown): SignalClientError {
  return new SignalClientError('revoked', message, { data: { code: TOKEN_REVOKED }, cause });
}

function asClientError(error: unknown, code: 'unavailable' | 'invalid_options', context: string): SignalClientError {
  if (error instanceof SignalClientError) return error;
  return new SignalClientError(code, `${context}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}
