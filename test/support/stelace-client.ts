import ioV2 from 'socket.io-client-v2';
import { io as ioV4 } from 'socket.io-client-v4';
import { keysOf, type Stack } from './stack.js';

export type ClientVersion = 'v2' | 'v4';
export const CLIENT_VERSIONS: ClientVersion[] = ['v2', 'v4'];

type Ack = (answer: unknown) => void;

interface Received {
  name: string;
  args: unknown[];
}

/**
 * A real socket.io client (2.3 or 4.8) connected the way Stelace apps connect, recording
 * every server event so a test can wait for one or check that one never came.
 */
export class StelaceClient {
  readonly events: Received[] = [];
  /** Resolves with the client's disconnect reason, e.g. `io server disconnect`. */
  readonly disconnected: Promise<string>;
  /** Rejects when the client cannot connect at all. */
  readonly authentication: Promise<{ id: string; ack: Ack }>;
  private waiters: Array<() => void> = [];
  private readonly socket: { id?: string; connected: boolean; close(): unknown };

  constructor(gatewayHttpUrl: string, readonly version: ClientVersion) {
    const options = { path: '/signal', transports: ['websocket'], reconnection: false, forceNew: true };
    let onDisconnect!: (reason: string) => void;
    this.disconnected = new Promise((resolve) => (onDisconnect = resolve));
    let onAuth!: (value: { id: string; ack: Ack }) => void;
    let onConnectError!: (error: Error) => void;
    this.authentication = new Promise((resolve, reject) => {
      onAuth = resolve;
      onConnectError = reject;
    });
    const record = (args: unknown[]) => {
      const [name, ...rest] = args;
      this.events.push({ name: String(name), args: rest });
      for (const wake of this.waiters.splice(0)) wake();
    };
    if (this.version === 'v2') {
      const socket = ioV2(`${gatewayHttpUrl}/signal`, options);
      const onevent = socket.onevent.bind(socket);
      socket.onevent = (packet) => {
        record([...(packet.data ?? [])]);
        onevent(packet);
      };
      socket.on('authentication', (id: unknown, ack: unknown) => onAuth({ id: id as string, ack: ack as Ack }));
      socket.on('disconnect', (reason) => onDisconnect(String(reason)));
      socket.on('connect_error', (error) => onConnectError(error as Error));
      socket.on('error', (error) => onConnectError(new Error(String(error))));
      this.socket = socket;
    } else {
      const socket = ioV4(`${gatewayHttpUrl}/signal`, options);
      socket.onAny((...args: unknown[]) => record(args));
      socket.on('authentication', (id: string, ack: Ack) => onAuth({ id, ack }));
      socket.on('disconnect', (reason) => onDisconnect(reason));
      socket.on('connect_error', (error) => onConnectError(error));
      this.socket = socket;
    }
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /** Waits for `authentication(id, ack)`, answers it, and returns the connection id. */
  async authenticate(answer: unknown): Promise<string> {
    const { id, ack } = await this.authentication;
    ack(answer);
    return id;
  }

  /** Resolves with the arguments of the first event (already received or still to come) that matches; consumes it. */
  async next(name: string, match: (args: unknown[]) => boolean = () => true, timeoutMs = 10_000): Promise<unknown[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.events.findIndex((e) => e.name === name && match(e.args));
      if (index !== -1) return this.events.splice(index, 1)[0]!.args;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no '${name}' event within ${timeoutMs} ms; got ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Names of events received and not yet consumed. */
  names(): string[] {
    return this.events.map((e) => e.name);
  }

  close(): void {
    this.socket.close();
  }
}

export function gatewayHttpUrl(stack: Stack, gateway = 0): string {
  return stack.gatewayUrl(gateway).replace(/^ws:/, 'http:');
}

/** POST /signal the way Stelace backends do: Basic auth with the secret key and an empty password. */
export async function postSignal(
  stack: Stack,
  secretKey: string | undefined,
  body: unknown,
  contentType = 'application/json',
): Promise<{ status: number; body: Record<string, unknown> | undefined }> {
  const headers: Record<string, string> = { 'content-type': contentType };
  if (secretKey !== undefined) headers.authorization = `Basic ${Buffer.from(`${secretKey}:`).toString('base64')}`;
  const res = await fetch(`${stack.emitUrl}/signal`, {
    method: 'POST',
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>) };
}

/**
 * Success of the handshake sends nothing, so readiness is proven by delivery: the socket's
 * own id is addressable once its session is open, and its channel subscriptions were sent to
 * NATS in the same step, before the gateway's reply to this probe.
 */
export async function waitUntilReady(stack: Stack, client: StelaceClient, app: 'alpha' | 'beta' = 'alpha', env: 'test' | 'live' = 'test'): Promise<void> {
  const { id } = await client.authentication;
  const { secretKey } = keysOf(stack, app, env);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await postSignal(stack, secretKey, { destination: id, event: 'ready', message: id });
    if (res.status === 200) break;
    if (res.status !== 404 || Date.now() > deadline) throw new Error(`socket ${id} never became ready: ${res.status} ${JSON.stringify(res.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await client.next('ready');
}

/** Connects, answers the handshake, and waits until the socket receives signals. */
export async function connectStelace(
  stack: Stack,
  version: ClientVersion,
  answer: Record<string, unknown>,
  options: { gateway?: number; app?: 'alpha' | 'beta'; env?: 'test' | 'live' } = {},
): Promise<{ client: StelaceClient; id: string }> {
  const client = new StelaceClient(gatewayHttpUrl(stack, options.gateway ?? 0), version);
  const id = await client.authenticate(answer);
  await waitUntilReady(stack, client, options.app, options.env);
  return { client, id };
}
