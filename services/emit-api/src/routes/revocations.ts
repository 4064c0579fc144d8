import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { SignalError, fromZodError, identitySchema } from '@signal/core';
import { MAX_JTI_LENGTH, type RevocationWriter } from '@signal/presence';
import { readBody, type BodyLimits } from '../http/read-body.js';
import { sendJson } from '../http/respond.js';
import { metrics } from '../metrics/emit-metrics.js';
import { requireSecretKey, type SecretKeys } from '../http/secret-key.js';

const tokenSchema = z.strictObject({ jti: z.string().min(1).max(MAX_JTI_LENGTH) });
const userSchema = z.strictObject({
  user: identitySchema,
  /** Seconds since epoch, may be fractional; tokens with an earlier `iat` are revoked. Default: now. */
  before: z.number().finite().positive().optional(),
});
const USAGE = '{jti} (one token) or {user, before?} (every token of the user issued before `before`, default now)';

/**
 * POST /v1/revocations: revokes one token (`jti`) or every token of a user issued before a time.
 * Gateways close the connections it covers with 4003 and refuse those tokens at connect
 * (docs/authorization.md#revocation-and-disconnect).
 */
export function revocationsRoute(keys: SecretKeys, writer: RevocationWriter, options: { body: BodyLimits }) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const grant = requireSecretKey(req, keys);
    const raw = await readBody(req, options.body);
    if (raw === undefined) throw new SignalError('bad_request', `body is required: ${USAGE}`);
    const fields = typeof raw === 'object' && raw !== null ? Object.keys(raw) : [];
    if (!fields.includes('jti') && !fields.includes('user')) throw new SignalError('bad_request', `body must be ${USAGE}`);
    // Which form is meant shows in its key, so a mistake is named by its field.
    const parsed = (fields.includes('jti') ? tokenSchema : userSchema).safeParse(raw);
    if (!parsed.success) throw fromZodError(parsed.error, 'bad_request');
    const body = parsed.data;
    const scope = { app: grant.app, env: grant.env };
    if ('jti' in body) {
      const written = await counted(writer.revokeToken(scope, body.jti));
      return sendJson(res, 201, { revoked: 'token', jti: body.jti, expiresAt: seconds(written.expiresAt), env: grant.env });
    }
    const now = Date.now() / 1000;
    if (body.before !== undefined && body.before > now) {
      throw new SignalError('bad_request', `before (${body.before}) is in the future (now is ${now.toFixed(3)}); omit it to revoke every token issued until now`, {
        field: 'before',
      });
    }
    const written = await counted(writer.revokeUser(scope, body.user, body.before ?? now));
    sendJson(res, 201, { revoked: 'user', user: body.user, before: written.before, expiresAt: seconds(written.expiresAt), env: grant.env });
  };
}

/** A full list is a limit refusal like any other (docs/limits.md). */
async function counted<T>(write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (error) {
    if (error instanceof SignalError && error.code === 'limit_exceeded') metrics.limitRefusals.inc({ limit: 'revocation_max_bytes' });
    throw error;
  }
}

function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
}
