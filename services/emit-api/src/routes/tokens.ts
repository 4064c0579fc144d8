import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { SignalError, deviceSchema, fromZodError, identitySchema, mintUserToken } from '@signal/core';
import { readBody, type BodyLimits } from '../http/read-body.js';
import { sendJson } from '../http/respond.js';
import { requireSecretKey, type SecretKeys } from '../http/secret-key.js';

export interface TokensRouteOptions {
  body: BodyLimits;
  maxTtlSeconds: number;
  audience: string | undefined;
}

/** POST /v1/tokens: mints a user token for an identity (and optional device). */
export function tokensRoute(keys: SecretKeys, options: TokensRouteOptions) {
  const bodySchema = z.strictObject({
    identity: identitySchema,
    device: deviceSchema.optional(),
    ttl: z.number().int().min(10).max(options.maxTtlSeconds, { error: `must be at most ${options.maxTtlSeconds} seconds (MAX_TOKEN_TTL_SECONDS)` }).default(3600),
    grants: z.strictObject({ signal: z.boolean().optional(), publish: z.boolean().optional() }).optional(),
    audience: z
      .url()
      .transform((url) => url.replace(/\/+$/, ''))
      .optional(),
  });
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const grant = requireSecretKey(req, keys);
    const raw = await readBody(req, options.body);
    if (raw === undefined) throw new SignalError('bad_request', 'body is required: { identity, device?, ttl?, grants? }');
    const parsed = bodySchema.safeParse(raw);
    if (!parsed.success) throw fromZodError(parsed.error, 'bad_request');
    const body = parsed.data;
    const { token, expiresAt } = await mintUserToken(grant, {
      identity: body.identity,
      device: body.device,
      ttlSeconds: body.ttl,
      grants: { signal: true, ...body.grants },
      audience: body.audience ?? options.audience,
    });
    const sub = body.device === undefined ? body.identity : `${body.identity}/${body.device}`;
    sendJson(res, 201, { token, sub, expiresAt, env: grant.env });
  };
}
