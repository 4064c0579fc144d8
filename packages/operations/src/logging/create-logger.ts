import { pino, type Logger, type LevelWithSilent } from 'pino';
import { scrubSecrets } from './scrub-secrets.js';

/** Field names that hold credentials wherever they appear, one or two levels deep. */
const SECRET_FIELDS = ['token', 'jwt', 'key', 'secret', 'secretKey', 'tokenSecret', 'password', 'authorization', 'cookie'];
const REDACT_PATHS = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((f) => `*.${f}`),
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
];

/**
 * JSON lines on stdout, one per event worth an operator's attention (never one per message).
 * Secrets are removed twice: by field name, and from the final line by pattern.
 */
export function createLogger(service: string, level: LevelWithSilent): Logger {
  return pino({
    level,
    base: { service },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    hooks: { streamWrite: scrubSecrets },
  });
}
