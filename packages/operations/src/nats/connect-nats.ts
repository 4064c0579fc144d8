import { accessSync, constants, readFileSync } from 'node:fs';
import { connect, credsAuthenticator, errors, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { ConfigError } from '@signal/core';
import { natsServers, type NatsEnv } from '../config/nats-env.js';

/**
 * Connection options from the NATS variables (already checked by `checkNatsEnv`). Files are
 * checked here, at start, so a wrong path fails with its variable's name instead of a TLS or
 * authentication error on the first (re)connect.
 */
export function natsConnectOptions(env: NatsEnv, name: string): NodeConnectionOptions {
  const options: NodeConnectionOptions = {
    servers: natsServers(env.NATS_URL),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    // By default nats.js builds an Error (a stack trace) up front for every request, in case it
    // fails: ~10 % of a gateway's CPU under presence churn (bench/README.md). Failures keep their
    // types and causes; only the caller's stack is missing from a timeout.
    noAsyncTraces: true,
  };
  if (env.NATS_USER !== undefined && env.NATS_PASSWORD !== undefined) {
    options.user = env.NATS_USER;
    options.pass = env.NATS_PASSWORD;
  }
  if (env.NATS_TOKEN !== undefined) options.token = env.NATS_TOKEN;
  if (env.NATS_CREDS_FILE !== undefined) {
    const path = env.NATS_CREDS_FILE;
    checkCredsFile(path);
    // Read at every (re)connect: a creds file rotated in place is picked up without a restart.
    options.authenticator = credsAuthenticator(() => readFileSync(path));
  }
  const tls = tlsOptions(env);
  if (tls !== undefined) options.tls = tls;
  return options;
}

/**
 * nats.js ignores the URL scheme and upgrades to TLS only when the server offers it; a
 * `tls://` URL or a CA/client certificate means the operator requires TLS, so the client
 * refuses a server that does not offer it.
 */
function tlsOptions(env: NatsEnv): NodeConnectionOptions['tls'] {
  const files = { caFile: env.NATS_TLS_CA_FILE, certFile: env.NATS_TLS_CERT_FILE, keyFile: env.NATS_TLS_KEY_FILE };
  const required = natsServers(env.NATS_URL).some((url) => url.startsWith('tls://')) || Object.values(files).some((f) => f !== undefined);
  if (!required) return undefined;
  const tls: NonNullable<NodeConnectionOptions['tls']> = {};
  for (const [option, variable] of [
    ['caFile', 'NATS_TLS_CA_FILE'],
    ['certFile', 'NATS_TLS_CERT_FILE'],
    ['keyFile', 'NATS_TLS_KEY_FILE'],
  ] as const) {
    const path = files[option];
    if (path === undefined) continue;
    checkReadable(path, variable);
    tls[option] = path;
  }
  return tls;
}

function checkReadable(path: string, variable: string): void {
  try {
    accessSync(path, constants.R_OK);
  } catch (cause) {
    throw new ConfigError(`${variable}=${path}: cannot read the file (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, { cause });
  }
}

function checkCredsFile(path: string): void {
  checkReadable(path, 'NATS_CREDS_FILE');
  const text = readFileSync(path, 'utf8');
  if (!/-----BEGIN NATS USER JWT-----/.test(text) || !/-----BEGIN USER NKEY SEED-----/.test(text)) {
    throw new ConfigError(`NATS_CREDS_FILE=${path}: not a NATS creds file (needs a user JWT and a user nkey seed, as \`nsc generate creds\` writes)`);
  }
}

/** Socket errors that mean "nobody answers there yet", not "wrong address": waited out at start. */
const NOT_YET_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
const FIRST_WAIT_MS = 200;
const MAX_WAIT_MS = 5000;

/** The log call `connectNats` needs to say what it waits for (pino's, by shape). */
export interface WaitLog {
  warn(fields: object, message: string): void;
}

/**
 * Connects, or fails start-up saying which variables to look at: a refused login names the
 * credentials variables (never their values), anything else is passed on. With `waitLog`
 * (services, not the CLI), NATS not accepting connections yet (refused, unreachable: a NATS
 * server starting after the service) is waited out with backoff up to 5 s and logged, while
 * /readyz says "starting"; a wrong host name, TLS or credentials still fail at once.
 */
export async function connectNats(
  env: NatsEnv,
  name: string,
  tuning: Pick<NodeConnectionOptions, 'pingInterval'> = {},
  waitLog?: WaitLog,
): Promise<NatsConnection> {
  let wait = FIRST_WAIT_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await connect({ ...natsConnectOptions(env, name), ...tuning });
    } catch (error) {
      if (error instanceof errors.AuthorizationError || error instanceof errors.UserAuthenticationExpiredError) {
        throw new ConfigError(`NATS refused the credentials (${error.message}): check ${credentialsInUse(env)}`, { cause: error });
      }
      if (!waitLog || !notYetReachable(error)) throw error;
      waitLog.warn({ err: error, waitingFor: 'NATS', attempt, retryInMs: wait }, 'waiting for NATS: no server accepts connections yet');
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(MAX_WAIT_MS, wait * 2);
    }
  }
}

/** A connection error whose socket error code (not its text) says the server is not there yet. */
function notYetReachable(error: unknown): boolean {
  if (!(error instanceof errors.ConnectionError)) return false;
  const code = (error.cause as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && NOT_YET_CODES.has(code);
}

function credentialsInUse(env: NatsEnv): string {
  if (env.NATS_USER !== undefined) return 'NATS_USER and NATS_PASSWORD';
  if (env.NATS_TOKEN !== undefined) return 'NATS_TOKEN';
  if (env.NATS_CREDS_FILE !== undefined) return 'NATS_CREDS_FILE';
  return 'the NATS credentials: none are set (NATS_USER with NATS_PASSWORD, NATS_TOKEN or NATS_CREDS_FILE), and this server requires them';
}
