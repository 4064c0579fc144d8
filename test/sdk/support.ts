import WebSocket from 'ws';
import { Signal, type Emitter, type EventMap, type Payload, type SignalOptions, type State } from '@signal/client';
import { startService, type ServiceProcess } from '@signal/harness';
import { eventually } from '../support/poll.js';
import { GATEWAY_ENTRY, emit, keysOf, serviceEnv, type Stack } from '../support/stack.js';

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
