import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import {
  SignalError,
  channelNameSchema,
  channelOperationsSchema,
  deviceSchema,
  fromZodError,
  identitySchema,
  mintChannelToken,
} from '@signal/core';
import { readBody, type BodyLimits } from '../http/read-body.js';
import { sendJson } from '../http/respond.js';
import { requireSecretKey, type SecretKeys } from '../http/secret-key.js';

export interface ChannelTokensRouteOptions {
  body: BodyLimits;
  maxTtlSeconds: number;
}

/** Default lifetime of a channel token: short, since the SDK renews it and it cannot be taken back. */
export const DEFAULT_CHANNEL_TOKEN_TTL = 300;

/** POST /v1/channel-tokens: a grant of operations on one channel to one user (docs/authorization.md). */
export function channelTokensRoute(keys: SecretKeys, options: ChannelTokensRouteOptions) {
  const bodySchema = z.strictObject({
    identity: identitySchema,
    device: deviceSchema.optional(),
    channel: channelNameSchema,
    operations: channelOperationsSchema.default(['subscribe']),
    ttl: z
      .number()
      .int()
      .min(10)
      .max(options.maxTtlSeconds, { error: `must be at most ${options.maxTtlSeconds} seconds (MAX_TOKEN_TTL_SECONDS)` })
      .default(Math.min(DEFAULT_CHANNEL_TOKEN_TTL, options.maxTtlSeconds)),
  });
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const grant = requireSecretKey(req, keys);
    const raw = await readBody(req, options.body);
    if (raw === undefined) throw new SignalError('bad_request', 'body is required: { identity, device?, channel, operations?, ttl? }');
    const parsed = bodySchema.safeParse(raw);
    if (!parsed.success) throw fromZodError(parsed.error, 'bad_request');
    const body = parsed.data;
    const { token, expiresAt } = await mintChannelToken(grant, {
      identity: body.identity,
      device: body.device,
      channel: body.channel,
      operations: body.operations,
      ttlSeconds: body.ttl,
    });
    const sub = body.device === undefined ? body.identity : `${body.identity}/${body.device}`;
    sendJson(res, 201, { token, sub, channel: body.channel, operations: [...new Set(body.operations)], expiresAt, env: grant.env });
  };
}
