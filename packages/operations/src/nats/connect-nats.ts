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

/**
 * Connects, or fails start-up saying which variables to look at: a refused login names the
 * credentials variables (never their values), anything else is passed on.
 */
export async function connectNats(env: NatsEnv, name: string, tuning: Pick<NodeConnectionOptions, 'pingInterval'> = {}): Promise<NatsConnection> {
  try {
    return await connect({ ...natsConnectOptions(env, name), ...tuning });
  } catch (error) {
    if (error instanceof errors.AuthorizationError || error instanceof errors.UserAuthenticationExpiredError) {
      throw new ConfigError(`NATS refused the credentials (${error.message}): check ${credentialsInUse(env)}`, { cause: error });
    }
    throw error;
  }
}

function credentialsInUse(env: NatsEnv): string {
  if (env.NATS_USER !== undefined) return 'NATS_USER and NATS_PASSWORD';
  if (env.NATS_TOKEN !== undefined) return 'NATS_TOKEN';
  if (env.NATS_CREDS_FILE !== undefined) return 'NATS_CREDS_FILE';
  return 'the NATS credentials: none are set (NATS_USER with NATS_PASSWORD, NATS_TOKEN or NATS_CREDS_FILE), and this server requires them';
}
