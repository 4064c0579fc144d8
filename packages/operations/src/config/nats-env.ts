import { z } from 'zod';
import { natsUrlVar } from '@signal/core';

const optionalText = z.string().min(1, { error: 'must not be empty; unset it instead' }).optional();

/**
 * How a service reaches NATS and proves who it is, to spread into the service's env schema
 * together with `checkNatsEnv`. One way to authenticate at most: user and password, a token,
 * or a creds file (JWT and nkey seed, for servers run with NATS accounts/operator mode).
 */
export const natsEnv = {
  NATS_URL: natsUrlVar,
  /** User name for NATS; needs NATS_PASSWORD. */
  NATS_USER: optionalText,
  /** Password of NATS_USER. */
  NATS_PASSWORD: optionalText,
  /** Token for a server configured with `authorization { token: … }`. */
  NATS_TOKEN: optionalText,
  /** Path of a NATS creds file (user JWT and nkey seed); read again at every reconnect, so it can be rotated in place. */
  NATS_CREDS_FILE: optionalText,
  /** PEM file of the CA(s) that signed the NATS servers' certificates; setting it requires TLS. */
  NATS_TLS_CA_FILE: optionalText,
  /** PEM client certificate for servers that verify clients (`tls { verify: true }`); needs NATS_TLS_KEY_FILE. */
  NATS_TLS_CERT_FILE: optionalText,
  /** PEM private key of NATS_TLS_CERT_FILE. */
  NATS_TLS_KEY_FILE: optionalText,
};

export interface NatsEnv {
  NATS_URL: string;
  NATS_USER?: string | undefined;
  NATS_PASSWORD?: string | undefined;
  NATS_TOKEN?: string | undefined;
  NATS_CREDS_FILE?: string | undefined;
  NATS_TLS_CA_FILE?: string | undefined;
  NATS_TLS_CERT_FILE?: string | undefined;
  NATS_TLS_KEY_FILE?: string | undefined;
}

/** Names of the variables that select a way to authenticate, in the order errors name them. */
const AUTH_METHODS = [
  ['NATS_USER', (env: NatsEnv) => env.NATS_USER !== undefined || env.NATS_PASSWORD !== undefined],
  ['NATS_TOKEN', (env: NatsEnv) => env.NATS_TOKEN !== undefined],
  ['NATS_CREDS_FILE', (env: NatsEnv) => env.NATS_CREDS_FILE !== undefined],
] as const;

/**
 * Combinations that cannot mean what the operator wanted, refused at start with every
 * variable involved named: two ways to authenticate, half a user/password or cert/key pair,
 * and `tls://` mixed with `nats://` (one list, one policy).
 */
export function checkNatsEnv(env: NatsEnv, ctx: z.core.$RefinementCtx): void {
  const chosen = AUTH_METHODS.filter(([, isSet]) => isSet(env)).map(([name]) => name);
  if (chosen.length > 1) {
    ctx.addIssue({
      code: 'custom',
      path: [chosen[1]!],
      message: `${chosen.join(' and ')} are both set: choose one way to authenticate to NATS (NATS_USER with NATS_PASSWORD, NATS_TOKEN, or NATS_CREDS_FILE)`,
    });
  }
  if ((env.NATS_USER === undefined) !== (env.NATS_PASSWORD === undefined)) {
    const missing = env.NATS_USER === undefined ? 'NATS_USER' : 'NATS_PASSWORD';
    ctx.addIssue({ code: 'custom', path: [missing], message: 'NATS_USER and NATS_PASSWORD go together: set both or neither' });
  }
  if ((env.NATS_TLS_CERT_FILE === undefined) !== (env.NATS_TLS_KEY_FILE === undefined)) {
    const missing = env.NATS_TLS_CERT_FILE === undefined ? 'NATS_TLS_CERT_FILE' : 'NATS_TLS_KEY_FILE';
    ctx.addIssue({ code: 'custom', path: [missing], message: 'NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE go together: set both or neither' });
  }
  const schemes = new Set(natsServers(env.NATS_URL).map((url) => url.slice(0, url.indexOf('://'))));
  if (schemes.has('tls') && schemes.size > 1) {
    ctx.addIssue({ code: 'custom', path: ['NATS_URL'], message: 'mixes tls:// with other schemes: use tls:// for every server or for none' });
  }
}

/** NATS_URL as the list nats.js takes. */
export function natsServers(url: string): string[] {
  return url.split(',').map((s) => s.trim());
}
