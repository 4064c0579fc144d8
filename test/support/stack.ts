import { fileURLToPath } from 'node:url';
import { AppRegistry, generateApp, mintUserToken, parseAppsFile, type AppsFile } from '@signal/core';
import { RpcClient } from './rpc-client.js';
import { startNats, startService, writeTempFile, type NatsServer, type ServiceProcess, type StartNatsOptions } from '@signal/harness';

const root = fileURLToPath(new URL('../..', import.meta.url));
export const GATEWAY_ENTRY = `${root}services/gateway/dist/main.js`;
export const EMIT_API_ENTRY = `${root}services/emit-api/dist/main.js`;

export interface Stack {
  nats: NatsServer;
  apps: AppsFile['apps'];
  appsFile: string;
  gateways: ServiceProcess[];
  emitApi: ServiceProcess;
  gatewayUrl(i?: number): string;
  emitUrl: string;
  stop(): Promise<void>;
}

export interface StackOptions {
  gateways?: number;
  gatewayEnv?: Record<string, string>;
  emitEnv?: Record<string, string>;
  /** Changes the generated apps before the apps file is written (e.g. an environment's settings). */
  configureApps?: (apps: AppsFile['apps']) => void;
  /** How the stack's nats-server starts, e.g. with an authorization config. */
  nats?: StartNatsOptions;
}

/**
 * A real system on loopback: one nats-server of its own, N gateway processes and one emit-api,
 * with two apps (`alpha` may broadcast, `beta` may not), each with test and live keys.
 */
let stacks = 0;

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const nats = await startNats(options.nats);
  const apps = [generateApp('alpha', { broadcast: true }), generateApp('beta')];
  options.configureApps?.(apps);
  // One file per stack: services reload their apps file when it changes, so two stacks of one
  // test file must never share one.
  const appsFile = await writeTempFile(`apps-${++stacks}.json`, JSON.stringify({ apps }));
  const common = serviceEnv({ nats, appsFile });
  const gateways = await Promise.all(
    Array.from({ length: options.gateways ?? 2 }, (_, i) =>
      startService({ entry: GATEWAY_ENTRY, name: `gateway-${i}`, env: { ...common, ...options.gatewayEnv } }),
    ),
  );
  const emitApi = await startService({ entry: EMIT_API_ENTRY, name: 'emit-api', env: { ...common, ...options.emitEnv } });
  return {
    nats,
    apps,
    appsFile,
    gateways,
    emitApi,
    gatewayUrl: (i = 0) => `ws://127.0.0.1:${String(gateways[i]!.ready.port)}`,
    emitUrl: `http://127.0.0.1:${String(emitApi.ready.port)}`,
    async stop() {
      await Promise.all([...gateways, emitApi].map((s) => s.stop()));
      await nats.stop();
    },
  };
}

/**
 * The environment of a service process on a stack: its NATS and apps file, and port 0 for both
 * ports, so test files running side by side never ask for the same one.
 */
export function serviceEnv(stack: Pick<Stack, 'nats' | 'appsFile'>): Record<string, string> {
  return { NATS_URL: stack.nats.url, APPS_FILE: stack.appsFile, PORT: '0', ADMIN_PORT: '0', LOG_LEVEL: 'info' };
}

type EnvName = 'test' | 'live';

export function keysOf(stack: Stack, app: 'alpha' | 'beta', env: EnvName = 'test') {
  const cfg = stack.apps.find((a) => a.id === app)!.environments[env]!;
  return { publishableKey: cfg.publishableKeys[0]!, secretKey: cfg.secretKeys[0]!.key! };
}

/** POST to the emit API with a secret key as Bearer; returns status and parsed body. */
export async function emit(stack: Stack, path: string, secretKey: string | undefined, body: unknown, init: RequestInit = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (secretKey !== undefined) headers.authorization = `Bearer ${secretKey}`;
  const res = await fetch(`${stack.emitUrl}${path}`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>) };
}

export async function mintToken(
  stack: Stack,
  app: 'alpha' | 'beta',
  identity: string,
  device?: string,
  env: EnvName = 'test',
  extra: Record<string, unknown> = {},
): Promise<string> {
  const { status, body } = await emit(stack, '/v1/tokens', keysOf(stack, app, env).secretKey, { identity, device, ...extra });
  if (status !== 201) throw new Error(`minting a token failed: ${status} ${JSON.stringify(body)}`);
  return body!.token as string;
}

/**
 * A user token signed here, as emit-api signs them, for lifetimes emit-api refuses to mint:
 * seconds-long, or already expired (negative `ttlSeconds`).
 */
export async function signToken(
  stack: Stack,
  user: { identity: string; device?: string; ttlSeconds: number; grants?: Record<string, unknown> },
): Promise<string> {
  const scope = new AppRegistry(parseAppsFile({ apps: stack.apps })).byPublishableKey(keysOf(stack, 'alpha').publishableKey)!;
  return (await mintUserToken(scope, user)).token;
}

export interface NativeUser {
  identity: string;
  device: string;
  gateway: number;
  app?: 'alpha' | 'beta';
  env?: EnvName;
  /** Appended to the connect URL's query (e.g. `since=…`). */
  query?: string;
}

/** A native-protocol connection for a user, with a freshly minted token, on one gateway. */
export async function connectNative(stack: Stack, user: NativeUser): Promise<RpcClient> {
  const token = await mintToken(stack, user.app ?? 'alpha', user.identity, user.device, user.env ?? 'test');
  const query = user.query === undefined ? '' : `&${user.query}`;
  return RpcClient.connect(`${stack.gatewayUrl(user.gateway)}/v1/connect?token=${token}${query}`);
}
