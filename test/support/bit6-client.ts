import WebSocket from 'ws';
import { opened } from './open-websocket.js';

/**
 * A stand-in for the Bit6 JavaScript SDK v2 Signal service (its package is not published to
 * npm), written from shared/spec/bit6-compat.md and the SDK's documented behaviour:
 * - connects to the URL it derives from the token's `aud`, with `?jwt=`;
 * - sends only notifications (`signal.join/leave/publish/send`, no `id`);
 * - routes incoming frames by `params.id` to a joined channel (dropped when not joined),
 *   else `signal.send` is a direct message;
 * - keys participants by the full `from` address and emits `participant` with op 1 (first
 *   join/join_back), 0 (repeated), -1 (leave of a known participant);
 * - takes a `state` in a channel `publish`/`send` as that participant's state, dropped for an
 *   unknown participant (the SDK logs an error);
 * - when it has a state of its own, sends it to every participant it sees join;
 * - answers a server *request* (a frame with `id` and `method`) with error -32000.
 */
export interface ParticipantEvent {
  type: 'participant';
  from: string;
  op: 1 | 0 | -1;
}
export interface StateEvent {
  type: 'state';
  from: string;
  state: unknown;
}
export interface MessageEvent {
  type: 'message';
  method: string;
  params: Record<string, unknown>;
}
export type ChannelEvent = ParticipantEvent | StateEvent | MessageEvent;

export class Bit6Channel {
  readonly participants = new Map<string, { id: string; identity: string; state: unknown }>();
  readonly events: ChannelEvent[] = [];
  myState: unknown = null;

  constructor(
    private readonly client: Bit6Client,
    readonly id: string,
  ) {}

  handle(method: string, params: Record<string, unknown>): void {
    const from = params.from as string;
    const p = this.participants.get(from);
    switch (method) {
      case 'publish':
      case 'send':
        if (params.state) {
          if (p) {
            p.state = params.state;
            this.events.push({ type: 'state', from, state: params.state });
          }
          return;
        }
        this.events.push({ type: 'message', method, params });
        return;
      case 'join':
      case 'join_back': {
        let op: 1 | 0 = 0;
        if (!p) {
          op = 1;
          this.participants.set(from, { id: from, identity: from.split('/')[0]!, state: null });
        }
        this.events.push({ type: 'participant', from, op });
        if (this.myState) this.client.notify('signal.send', { state: this.myState, to: from, id: this.id });
        return;
      }
      case 'leave':
        if (p) {
          this.participants.delete(from);
          this.events.push({ type: 'participant', from, op: -1 });
        }
        return;
    }
  }

  publish(fields: Record<string, unknown>): void {
    this.client.notify('signal.publish', { ...fields, id: this.id });
  }

  updateState(state: unknown): void {
    this.myState = state;
    this.client.notify('signal.publish', { id: this.id, state });
  }

  leave(): void {
    this.client.leave(this.id);
  }
}

export class Bit6Client {
  readonly channels = new Map<string, Bit6Channel>();
  /** Direct messages without a channel. */
  readonly messages: Record<string, unknown>[] = [];
  /** Every text frame received, for asserting on the wire format. */
  readonly raw: string[] = [];
  /** Server frames that were requests (carried an `id`): the SDK cannot handle them. */
  readonly serverRequests: unknown[] = [];
  private waiters: Array<() => void> = [];
  readonly closed: Promise<void>;

  private constructor(
    readonly ws: WebSocket,
    readonly sub: string,
  ) {
    ws.on('message', (data) => {
      const text = String(data);
      this.raw.push(text);
      if (text !== '_pong') this.dispatch(text);
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => ws.on('close', () => resolve()));
  }

  /** The SDK's URL derivation from `aud`. */
  static urlFor(token: string): string {
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { aud: string };
    let url = claims.aud;
    url += url.indexOf('v1') > 0 ? '/signal/pubsub' : '/signal/v1/pubsub';
    if (url.indexOf('http') === 0) url = 'ws' + url.substring(4);
    return `${url}?jwt=${token}`;
  }

  /** Connects at the URL derived from the token; rejects with `<status> <body>` when refused at upgrade. */
  static async connect(token: string, url = Bit6Client.urlFor(token)): Promise<Bit6Client> {
    const ws = new WebSocket(url);
    const client = new Bit6Client(ws, subOf(token));
    await opened(ws);
    return client;
  }

  private dispatch(text: string): void {
    let frame: { id?: unknown; method?: string; params?: Record<string, unknown>; result?: unknown; error?: unknown };
    try {
      frame = JSON.parse(text) as typeof frame;
    } catch {
      return;
    }
    if (frame.result !== undefined || frame.error !== undefined || !frame.method || !frame.params) return;
    const dot = frame.method.indexOf('.');
    if (dot < 0 || frame.method.slice(0, dot) !== 'signal') return;
    if (frame.id !== undefined && frame.id !== null) {
      this.serverRequests.push(frame);
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id: frame.id, error: { code: -32000, message: 'Cannot handle this rpc call' } }));
      return;
    }
    const method = frame.method.slice(dot + 1);
    const params = frame.params;
    if (params.id !== undefined && params.id !== null) {
      this.channels.get(String(params.id))?.handle(method, params);
      return;
    }
    if (method === 'send') this.messages.push(params);
  }

  notify(method: string, params: Record<string, unknown>): void {
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', method, params }));
  }

  join(id: string, options: Record<string, unknown> = {}): Bit6Channel {
    const existing = this.channels.get(id);
    if (existing) return existing;
    const channel = new Bit6Channel(this, id);
    this.channels.set(id, channel);
    this.notify('signal.join', { id, ...options });
    return channel;
  }

  leave(id: string): void {
    if (this.channels.delete(id)) this.notify('signal.leave', { id });
  }

  send(params: Record<string, unknown>): void {
    this.notify('signal.send', params);
  }

  /** Polls a condition after every received frame; fails with `describe()` after the timeout. */
  async until(condition: () => boolean, describe: () => unknown, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`condition not met within ${timeoutMs} ms: ${JSON.stringify(describe())}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Frames of a method as received, parsed. */
  framesOf(method: string): Array<{ method: string; params: Record<string, unknown> }> {
    return this.raw
      .filter((t) => t !== '_pong')
      .map((t) => JSON.parse(t) as { method?: string; params: Record<string, unknown> })
      .filter((f): f is { method: string; params: Record<string, unknown> } => f.method === method);
  }

  close(): void {
    this.ws.close();
  }
}

/** Like the SDK, only decodes the token; a token that does not decode has no subject. */
function subOf(token: string): string {
  try {
    return (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: string }).sub ?? '';
  } catch {
    return '';
  }
}
