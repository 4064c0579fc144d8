import WebSocket from 'ws';
import { Signal, type Emitter, type EventMap, type Payload, type SignalOptions, type State } from '@signal/client';
import { startService, type ServiceProcess } from '@signal/harness';
import { eventually } from '../support/poll.js';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { GATEWAY_ENTRY, emit, keysOf, serviceEnv, startStack, type Stack, type StackOptions } from '../support/stack.js';

/** Every client a test made, closed after each file so no socket outlives its stack. */
const clients = new Set<Signal<Payload, State>>();

export function closeClients(): void {
  for (const client of clients) client.close();
  clients.clear();
}

export type Provider = (() => Promise<string>) & { calls: number; tokens: string[] };

/** A token provider that mints through emit-api POST /v1/tokens (as an app backend would), counting its calls. */
export function tokenProvider(stack: Stack, identity: string, device: string, ttl = 3600, app: 'alpha' | 'beta' = 'alpha'): Provider {
  const provider = (async () => {
    provider.calls++;
    const { status, body } = await emit(stack, '/v1/tokens', keysOf(stack, app).secretKey, { identity, device, ttl });
    if (status !== 201) throw new Error(`minting failed: ${status} ${JSON.stringify(body)}`);
    const token = body!.token as string;
    provider.tokens.push(token);
    return token;
  }) as Provider;
  provider.calls = 0;
  provider.tokens = [];
  return provider;
}

/** A client for `identity/device`, through the `ws` package (Node 20 has no WebSocket). */
export function client<M extends Payload = Payload, S extends State = State>(
  stack: Stack,
  identity: string,
  device: string,
  options: Partial<SignalOptions> & { gateway?: number; provider?: Provider | string } = {},
): Signal<M, S> {
  const { gateway = 0, provider, ...rest } = options;
  const signal = new Signal<M, S>(provider ?? tokenProvider(stack, identity, device), {
    url: stack.gatewayUrl(gateway),
    WebSocket,
    ...rest,
  });
  clients.add(signal as unknown as Signal<Payload, State>);
  return signal;
}

/** An anonymous, receive-only client with the app's publishable key. */
export function anonymousClient(stack: Stack, options: Partial<SignalOptions> & { gateway?: number; publishableKey?: string } = {}): Signal {
  const { gateway = 0, publishableKey = keysOf(stack, 'alpha').publishableKey, ...rest } = options;
  const signal = new Signal({ publishableKey }, { url: stack.gatewayUrl(gateway), WebSocket, ...rest });
  clients.add(signal);
  return signal;
}

export interface Gateway {
  process: ServiceProcess;
  url: string;
}

/** One more gateway node on the stack's NATS, for tests that kill or stop one. */
export async function startGateway(stack: Stack, env: Record<string, string> = {}): Promise<Gateway> {
  const process = await startService({
    entry: GATEWAY_ENTRY,
    name: 'extra-gateway',
    env: { ...serviceEnv(stack), ...env },
  });
  return { process, url: `ws://127.0.0.1:${String(process.ready.port)}` };
}

export interface SdkStack {
  /** The file's stack (set once its `beforeAll` ran). */
  readonly stack: Stack;
  /** One more gateway for this test, SIGKILLed after it. */
  gateway(env?: Record<string, string>): Promise<Gateway>;
  /** A gateway this test started another way, SIGKILLed after it too. */
  adopt(gateway: Gateway): void;
}

/**
 * A file's stack, started before its tests and stopped after them; after each test its clients
 * are closed and the gateways it started are SIGKILLed.
 */
export function sdkStack(options: StackOptions): SdkStack {
  let stack: Stack | undefined;
  const extra: Gateway[] = [];
  beforeAll(async () => {
    stack = await startStack(options);
  });
  afterEach(async () => {
    closeClients();
    await Promise.all(extra.splice(0).map((g) => g.process.stop('SIGKILL')));
  });
  afterAll(async () => {
    await stack?.stop();
  });
  return {
    get stack() {
      if (!stack) throw new Error('the stack is not started yet: use it inside a test or hook');
      return stack;
    },
    async gateway(env = {}) {
      const g = await startGateway(this.stack, env);
      extra.push(g);
      return g;
    },
    adopt(gateway) {
      extra.push(gateway);
    },
  };
}

/** Polls until `check` holds; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  await eventually(check, what, timeoutMs, 25);
}

/** Resolves with the arguments of the next `event` that passes `accept`. */
export function next<E extends EventMap<E>, K extends keyof E>(
  source: Emitter<E>,
  event: K,
  accept: (...args: Parameters<E[K]>) => boolean = () => true,
  timeoutMs = 15_000,
): Promise<Parameters<E[K]>> {
  type Args = Parameters<E[K]>;
  return new Promise((resolve, reject) => {
    const listener = ((...args: Args) => {
      if (!accept(...args)) return;
      clearTimeout(timer);
      source.off(event, listener);
      resolve(args);
    }) as unknown as E[K];
    const timer = setTimeout(() => {
      source.off(event, listener);
      reject(new Error(`no '${String(event)}' event within ${timeoutMs} ms`));
    }, timeoutMs);
    source.on(event, listener);
  });
}

/** Records every `event` from now on. */
export function record<E extends EventMap<E>, K extends keyof E>(source: Emitter<E>, event: K): Array<Parameters<E[K]>> {
  type Args = Parameters<E[K]>;
  const seen: Args[] = [];
  source.on(event, ((...args: Args) => void seen.push(args)) as unknown as E[K]);
  return seen;
}
