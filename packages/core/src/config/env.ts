import { z } from 'zod';
import { ConfigError } from '../errors/signal-error.js';
import { DEFAULT_MAX_TOKEN_TTL_SECONDS } from '../auth/token-lifetime.js';

/**
 * Parses process environment variables with a zod object schema whose keys are the
 * variable names. A bad value fails start-up with the variable's name and what is allowed.
 */
export function parseEnv<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const name = issue.path.map(String).join('.');
    const value = env[name];
    const shown = value === undefined ? 'unset' : isSecretName(name) ? '(hidden)' : JSON.stringify(value);
    return `${name}=${shown}: ${issue.message}`;
  });
  throw new ConfigError(`invalid environment: ${lines.join('; ')}`);
}

function isSecretName(name: string): boolean {
  return /SECRET|TOKEN|KEY|PASSWORD/i.test(name);
}

/**
 * WEBHOOK_STREAM, the webhooks events stream's name (its dead letters are `<name>_dead`): the
 * dispatcher creates the streams, the emit-api reads and replays dead letters.
 */
export const webhookStreamVar = z
  .string()
  .regex(/^[a-zA-Z0-9_-]{1,200}$/, { error: 'must be 1-200 of a-z, A-Z, 0-9, _ or -' })
  .default('signal_webhook_events');

/** An integer environment variable with bounds, e.g. `intVar(1, 65535, 8080)` for a port. */
export function intVar(min: number, max: number, fallback: number) {
  return z.coerce
    .number({ error: `must be an integer from ${min} to ${max}` })
    .int({ error: `must be an integer from ${min} to ${max}` })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` })
    .default(fallback);
}

export const logLevelVar = z
  .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
    error: 'must be one of fatal, error, warn, info, debug, trace, silent',
  })
  .default('info');

export const natsUrlVar = z
  .string()
  .min(1)
  .default('nats://127.0.0.1:4222')
  .refine((v) => v.split(',').every((u) => /^(nats|tls|ws|wss):\/\/[^\s]+$/.test(u.trim())), {
    error: 'must be a comma-separated list of nats:// (or tls://) URLs',
  });

/**
 * MAX_TOKEN_TTL_SECONDS, read by both services with one meaning: the longest a token may live.
 * emit-api mints no longer-lived one; gateways refuse one whose `exp - iat` is longer.
 */
export const maxTokenTtlVar = intVar(60, 365 * 24 * 3600, DEFAULT_MAX_TOKEN_TTL_SECONDS);

/** APPS_FILE_WATCH: reload the apps file when it changes on disk (SIGHUP reloads it either way). */
export const appsFileWatchVar = z
  .enum(['true', 'false'], { error: 'must be true or false' })
  .default('true')
  .transform((value) => value === 'true');
