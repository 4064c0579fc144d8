import type { Credentials } from './auth/credentials.js';
import { tokenUser } from './auth/jwt-payload.js';
import { PublishableKey } from './auth/publishable-key.js';
import { TokenSource, type TokenProvider } from './auth/token-source.js';
import { Channel, type JoinOptions, type RecoveryOutcome } from './channels/channel.js';
import type { ChannelHost } from './channels/channel-host.js';
import type { State } from './channels/participant.js';
import { SignalClientError } from './errors/signal-client-error.js';
import { Emitter } from './events/emitter.js';
import type { Incoming, Outgoing, Payload, SendOptions } from './messages.js';
import { resolveOptions, type ResolvedOptions, type SignalOptions } from './options.js';
import { Outbox, type Queued } from './outbox/outbox.js';
import { PendingRequests } from './rpc/pending-requests.js';
import { positionOf, type ConnectedParams, type Position, type ServerFrame } from './rpc/server-frames.js';
import { GatewayUrls } from './transport/gateway-url.js';
import { Link } from './transport/link.js';
import { resolveWebSocket } from './transport/websocket-constructor.js';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';

/**
 * A user token, a function that returns one (called again before expiry and after a refusal),
 * or `{ publishableKey }` for an anonymous, receive-only connection.
 */
export type SignalCredentials = string | TokenProvider | { readonly publishableKey: string };

export interface SignalEvents<M extends Payload> {
  /** A direct message to you (not scoped to a channel), or a backend's signal to your user, device or everyone. */
  message: (message: Incoming<M>) => void;
  /** An attempt to open a connection starts. */
  connecting: (info: { attempt: number; url: string }) => void;
  /** Connected, with every channel (re)joined and queued messages sent. */
  connected: (info: { address: string; reconnected: boolean }) => void;
  /** The connection ended; `willReconnect` says whether the client tries again. */
  disconnected: (info: { code: number; reason: string; willReconnect: boolean }) => void;
  /** An attempt failed; the next one starts after `delayMs`. */
  reconnecting: (info: { attempt: number; delayMs: number; error: SignalClientError }) => void;
  /** Something failed with nobody waiting for the answer (a fire-and-forget message, a token refresh, giving up). */
  error: (error: SignalClientError) => void;
  /** Bit6: a fixed token expires in 10 s; call `update(newToken)`. (With a token provider the client refreshes by itself.) */
  expired: () => void;
  /**
   * Where the environment keeps direct messages (docs/recovery.md), after every reconnect
   * that had a position: `recovered: true` when every direct message to your user and device
   * missed while away came (as `message` events, or channel-scoped ones to their channel)
   * before this event; `recovered: false` when some may be lost, so resynchronise (e.g. ask
   * your backend for pending invites). Comes before `connected`.
   */
  recovery: (outcome: RecoveryOutcome) => void;
}

const OWN_ADDRESSES_KEPT = 32;

/**
 * A connection to signal. Connects at once, stays connected (reconnecting with backoff and
 * failing over between gateways), and keeps joined channels and their participants in sync.
 *
 * `M` types the messages you send and receive, `S` the participants' state.
 */
export class Signal<M extends Payload = Payload, S extends State = State> extends Emitter<SignalEvents<M>> {
  private readonly options: ResolvedOptions;
  private readonly tokens: TokenSource | undefined;
  private readonly link: Link;
  private readonly requests: PendingRequests;
  private readonly outbox: Outbox;
  private readonly channelMap = new Map<string, Channel<M, S>>();
  private readonly ownAddresses: string[] = [];
  /** Where this client's direct messages stand, where the environment keeps them; reconnects recover from it. */
  private direct: Position | undefined;
  /** The `since` the current connection attempt was made with. */
  private sinceSent: Position | undefined;
  private currentState: ConnectionState = 'connecting';
  private currentAddress: string | undefined;
  private everConnected = false;
  private epoch = 0;
  private finalError: SignalClientError | undefined;
  private readyWaiters: Array<{ resolve(): void; reject(error: SignalClientError): void }> = [];
  private readonly host: ChannelHost;

  constructor(credentials: SignalCredentials, options: SignalOptions = {}) {
    super();
    this.options = resolveOptions(options);
    const urls = new GatewayUrls(this.options.url);
    const WebSocket = resolveWebSocket(this.options.WebSocket);
    let connectWith: Credentials;
    if (typeof credentials === 'object' && credentials !== null) {
      this.tokens = undefined;
      connectWith = new PublishableKey(credentials.publishableKey);
      if (!urls.given) throw new SignalClientError('invalid_options', 'options.url is required with a publishable key: there is no token whose aud names the gateway');
    } else {
      this.tokens = new TokenSource(credentials, {
        onRefreshError: (error) => this.report(error),
        onExpiring: () => this.emit('expired'),
        onRenewed: (token) => this.sendToken(token),
      });
      connectWith = this.tokens;
    }
    this.requests = new PendingRequests(this.options.requestTimeoutMs);
    this.outbox = new Outbox(this.options.queueLimit, 'the connection');
    this.host = this.channelHost();
    this.link = new Link(
      {
        urls,
        credentials: connectWith,
        WebSocket,
        timings: {
          connectTimeoutMs: this.options.connectTimeoutMs,
          pingIntervalMs: this.options.pingIntervalMs,
          pongTimeoutMs: this.options.pongTimeoutMs,
        },
        reconnect: this.options.reconnect,
        maxAuthFailures: this.options.maxAuthFailures,
        since: () => {
          this.sinceSent = this.direct;
          return this.direct === undefined ? undefined : `${this.direct.offset}:${this.direct.epoch}`;
        },
      },
      {
        onConnecting: (info) => this.setState('connecting', () => this.emit('connecting', info)),
        onOpen: (params) => void this.opened(params),
        onFrame: (frame) => this.route(frame),
        onLost: (info) => this.lost(info),
        onRetry: (info) => this.setState('reconnecting', () => this.emit('reconnecting', info)),
        onFatal: (error) => this.shutdown(error, true),
        onProtocolError: (error) => this.report(error),
      },
    );
    this.link.start();
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  /** This connection's `identity/device/route` (changes on every reconnect). */
  get address(): string | undefined {
    return this.currentAddress;
  }

  /**
   * Where this client's direct messages stand (environments that keep them only): every
   * reconnect recovers what came after it (the `recovery` event says how that went).
   */
  get directPosition(): Position | undefined {
    return this.direct;
  }

  /** Joined channels by name; they stay here across reconnects until left. */
  get channels(): ReadonlyMap<string, Channel<M, S>> {
    return this.channelMap;
  }

  /**
   * Resolves once connected (at once if already). Rejects if the client is closed or gives
   * up (e.g. its token keeps being refused), or after `timeoutMs` when given.
   */
  ready(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.currentState === 'connected') return Promise.resolve();
    if (this.finalError) return Promise.reject(this.finalError);
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      this.readyWaiters.push(waiter);
      if (options.timeoutMs !== undefined) {
        const timer = setTimeout(() => {
          this.readyWaiters = this.readyWaiters.filter((w) => w !== waiter);
          reject(new SignalClientError('timeout', `not connected within ${options.timeoutMs} ms (state: ${this.currentState})`));
        }, options.timeoutMs);
        waiter.resolve = () => {
          clearTimeout(timer);
          resolve();
        };
        waiter.reject = (error) => {
          clearTimeout(timer);
          reject(error);
        };
      }
    });
  }

  /**
   * Sends a direct message to `to`: `identity` (all of a user's connections), `identity/device`
   * or `identity/device/route` (one connection, e.g. a message's `from`). While disconnected it
   * is queued (or refused with `offline: 'reject'`). With `{ ack: true }` the promise resolves
   * once a gateway holding the recipient has it, and rejects with `not_found` when nobody is online there.
   */
  send(message: Outgoing<M>): void;
  send(message: Outgoing<M>, options: { ack: true }): Promise<void>;
  send(message: Outgoing<M>, options?: SendOptions): Promise<void> | undefined;
  send(message: Outgoing<M>, options: SendOptions = {}): Promise<void> | undefined {
    const ack = options.ack === true;
    if (typeof message !== 'object' || message === null || typeof message.to !== 'string' || message.to === '') {
      return refuse(ack, new SignalClientError('invalid_params', 'send() needs { to: address, ...fields }', { field: 'to' }));
    }
    return this.dispatch('signal.send', message, ack, this.currentState === 'connected', this.outbox);
  }

  /**
   * Joins a channel (or returns it if already joined). Await `channel.joined` to know it is
   * joined; with `{ presence: true }` it resolves with the participants.
   */
  join<CM extends Payload = M, CS extends State = S>(name: string, options: JoinOptions<CS> = {}): Channel<CM, CS> {
    if (typeof name !== 'string' || name.length < 1 || name.length > 256) {
      throw new SignalClientError('invalid_params', 'a channel name is a string of 1 to 256 characters', { field: 'id' });
    }
    if (this.finalError) throw this.finalError;
    const existing = this.channelMap.get(name);
    if (existing) return existing as unknown as Channel<CM, CS>;
    const channel = new Channel<CM, CS>(name, options, this.host);
    this.channelMap.set(name, channel as unknown as Channel<M, S>);
    if (this.link.isOpen) void channel.attach();
    return channel;
  }

  /** True for a `{ publishableKey }` client: it receives, and the gateway refuses its sends with `forbidden`. */
  get anonymous(): boolean {
    return this.tokens === undefined;
  }

  /** Replaces the token used from the next connection on (Bit6 `update`, after `expired`). */
  update(token: string): void {
    if (!this.tokens) throw new SignalClientError('invalid_options', 'this client connects anonymously with a publishable key; create a Signal with a user token to send and publish');
    this.tokens.update(token);
  }

  /** Closes the connection for good; queued and pending messages are refused with `closed`. */
  close(): void {
    if (this.finalError) return;
    this.shutdown(new SignalClientError('closed', 'the client was closed'), false);
  }

  private channelHost(): ChannelHost {
    return {
      address: () => this.currentAddress,
      isOwnAddress: (address) => this.ownAddresses.includes(address),
      request: (method, params) => this.request(method, params),
      dispatch: (method, params, ack, ready, outbox) => this.dispatch(method, params, ack, ready, outbox),
      flush: (outbox) => this.flush(outbox),
      outbox: (what) => new Outbox(this.options.queueLimit, what),
      forget: (name) => void this.channelMap.delete(name),
      report: (error, emitter) => this.report(error, emitter),
    };
  }

  private dispatch(method: Queued['method'], message: Record<string, unknown>, ack: boolean, ready: boolean, outbox: Outbox): Promise<void> | undefined {
    if (this.finalError) return refuse(ack, this.finalError);
    let params: string;
    try {
      params = this.encodeParams(method, message);
    } catch (error) {
      return refuse(ack, error as SignalClientError);
    }
    if (ready && this.link.isOpen) {
      if (ack) return this.request(method, params).then(() => undefined);
      this.notify(method, params);
      return undefined;
    }
    if (this.options.offline === 'reject' && this.currentState !== 'connected') {
      return refuse(ack, new SignalClientError('not_connected', `not connected (state: ${this.currentState}); the message was not sent`));
    }
    if (!ack) {
      try {
        outbox.push({ method, params, ack: undefined });
      } catch (error) {
        return refuse(false, error as SignalClientError);
      }
      return undefined;
    }
    return new Promise<void>((resolve, reject) => outbox.push({ method, params, ack: { resolve, reject } }));
  }

  /**
   * Serializes a message's params once, when it is made. Oversize frames are refused here:
   * the gateway refuses them without saying which request they were.
   */
  private encodeParams(method: string, message: Record<string, unknown>): string {
    let params: string;
    try {
      params = JSON.stringify(message);
    } catch (error) {
      throw new SignalClientError('invalid_params', `the message cannot be sent as JSON: ${(error as Error).message}`, { cause: error });
    }
    const frame = encodeFrame(method, params, Number.MAX_SAFE_INTEGER);
    const limit = this.options.maxFrameBytes;
    // UTF-8 takes at most 3 bytes per UTF-16 unit: only measure when it could matter.
    if (frame.length * 3 <= limit) return params;
    const bytes = new TextEncoder().encode(frame).length;
    if (bytes <= limit) return params;
    throw new SignalClientError(
      'payload_too_large',
      `the message is ${bytes} bytes as a frame, over the ${limit}-byte limit; send less, or raise options.maxFrameBytes to match the gateway's MAX_FRAME_BYTES`,
      { data: { bytes, limit } },
    );
  }

  private flush(outbox: Outbox): void {
    for (const item of outbox.drain()) {
      if (!this.link.isOpen) {
        outbox.push(item);
        continue;
      }
      if (!item.ack) this.notify(item.method, item.params);
      else {
        const { resolve, reject } = item.ack;
        this.request(item.method, item.params).then(() => resolve(), reject);
      }
    }
  }

  private notify(method: string, params: string): void {
    this.link.send(encodeFrame(method, params, undefined));
  }

  /** Sends a request; `params` is an object, or JSON already made by `encodeParams`. */
  private request(method: string, params: Record<string, unknown> | string): Promise<unknown> {
    if (!this.link.isOpen) return Promise.reject(disconnectedError(method));
    const { id, result } = this.requests.open(method);
    this.link.send(encodeFrame(method, typeof params === 'string' ? params : JSON.stringify(params), id));
    return result;
  }

  /**
   * Hands a renewed token to the open connection, which the gateway would otherwise close when
   * the old one expires. A token for another user or device is only for the next connection
   * (Bit6's `update`), so it is not sent.
   */
  private sendToken(token: string): void {
    const address = this.currentAddress;
    if (!this.link.isOpen || address === undefined || !address.startsWith(`${tokenUser(token)}/`)) return;
    this.request('signal.auth', { token }).catch((error: unknown) => this.report(error as SignalClientError));
  }

  private async opened({ address, direct }: ConnectedParams): Promise<void> {
    const epoch = ++this.epoch;
    this.advanceDirect(direct?.position);
    // The missed direct messages came before `signal.connected`: say whether that was all of them.
    if (this.sinceSent !== undefined) this.emit('recovery', directOutcome(direct));
    this.currentAddress = address;
    // Renewed while this connection was being opened: it still holds the older token.
    const latest = this.tokens?.latest;
    if (latest !== undefined && latest !== this.link.presented) this.sendToken(latest);
    this.ownAddresses.push(address);
    if (this.ownAddresses.length > OWN_ADDRESSES_KEPT) this.ownAddresses.shift();
    await Promise.all([...this.channelMap.values()].map((channel) => channel.attach()));
    if (epoch !== this.epoch || this.finalError) return;
    const reconnected = this.everConnected;
    this.everConnected = true;
    this.currentState = 'connected';
    this.flush(this.outbox);
    this.emit('connected', { address, reconnected });
    for (const waiter of this.readyWaiters.splice(0)) waiter.resolve();
  }

  private lost(info: { code: number; reason: string; willReconnect: boolean }): void {
    this.epoch++;
    this.requests.failAll(disconnectedError);
    for (const channel of this.channelMap.values()) channel.detach();
    this.currentState = 'reconnecting';
    this.emit('disconnected', info);
  }

  private route(frame: ServerFrame): void {
    try {
      switch (frame.kind) {
        case 'response':
          this.requests.settle(frame.id, { result: frame.result });
          return;
        case 'error':
          // An error without a waiting request answers a fire-and-forget message.
          if (frame.id === null || !this.requests.settle(frame.id, { error: frame.error })) this.report(frame.error);
          return;
        case 'notification': {
          const channelName = typeof frame.params.id === 'string' ? frame.params.id : undefined;
          // Every stored direct message (channel-scoped ones too) moves the position on.
          if (frame.method === 'signal.send') this.advanceDirect(positionOf(frame.params));
          if (frame.method === 'signal.send' && channelName === undefined) {
            this.emit('message', frame.params as Incoming<M>);
            return;
          }
          if (channelName !== undefined) this.channelMap.get(channelName)?.receive(frame.method, frame.params);
          return;
        }
      }
    } catch (error) {
      this.report(error as SignalClientError);
    }
  }

  /** A later offset, or any offset of a new epoch (the old history is gone). */
  private advanceDirect(position: Position | undefined): void {
    if (position === undefined) return;
    if (this.direct === undefined || this.direct.epoch !== position.epoch || this.direct.offset < position.offset) this.direct = position;
  }

  private setState(state: ConnectionState, announce: () => void): void {
    if (this.finalError) return;
    this.currentState = state;
    announce();
  }

  /** Ends everything: the link, channels, waiting requests and queued messages. */
  private shutdown(error: SignalClientError, announceError: boolean): void {
    if (this.finalError) return;
    this.finalError = error;
    this.link.stop();
    this.tokens?.stop();
    this.epoch++;
    this.currentState = 'disconnected';
    this.requests.failAll(() => error);
    let unsent = 0;
    for (const item of this.outbox.drain()) {
      if (item.ack) item.ack.reject(error);
      else unsent++;
    }
    for (const channel of [...this.channelMap.values()]) channel.end(error);
    for (const waiter of this.readyWaiters.splice(0)) waiter.reject(error);
    if (announceError) this.report(error);
    if (unsent > 0) this.report(new SignalClientError(error.code, `${unsent} queued direct message(s) were not sent: ${error.message}`));
    this.emit('disconnected', { code: 1000, reason: error.message, willReconnect: false });
  }

  /** An error nobody waits for goes to the closest 'error' listeners; with none at all, to the console. */
  private report(error: SignalClientError, emitter?: { listenerCount(event: 'error'): number; emit(event: 'error', error: SignalClientError): void }): void {
    if (emitter && emitter.listenerCount('error') > 0) return emitter.emit('error', error);
    if (this.listenerCount('error') > 0) return this.emit('error', error);
    console.error(`signal client: ${error.code}: ${error.message}`);
  }
}

function directOutcome(direct: ConnectedParams['direct']): RecoveryOutcome {
  if (direct?.recovered === true) return { recovered: true };
  if (direct?.recovered === undefined) return { recovered: false, reason: 'no_history' };
  return { recovered: false, reason: direct.reason ?? 'window' };
}

function encodeFrame(method: string, params: string, id: number | undefined): string {
  const idPart = id === undefined ? '' : `"id":${id},`;
  return `{"jsonrpc":"2.0",${idPart}"method":${JSON.stringify(method)},"params":${params}}`;
}

function refuse(ack: boolean, error: SignalClientError): Promise<void> | undefined {
  if (ack) return Promise.reject(error);
  throw error;
}

function disconnectedError(method: string): SignalClientError {
  return new SignalClientError('disconnected', `the connection dropped before the gateway answered ${method}; it may or may not have been applied`);
}
