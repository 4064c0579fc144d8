import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import {
  MAX_CAPABILITY_JSON,
  SignalError,
  capabilitySchema,
  deviceSchema,
  fromZodError,
  identitySchema,
  mintUserToken,
  sendRuleSchema,
  type ScopeKeys,
} from '@signal/core';
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
    /** Channel pattern → operations (docs/authorization.md). */
    capability: capabilitySchema.optional(),
    /** Whom the connection may send direct messages to. */
    send: sendRuleSchema.optional(),
  });
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const grant = requireSecretKey(req, keys);
    const raw = await readBody(req, options.body);
    if (raw === undefined) throw new SignalError('bad_request', 'body is required: { identity, device?, ttl?, grants?, capability?, send? }');
    const parsed = bodySchema.safeParse(raw);
    if (!parsed.success) throw fromZodError(parsed.error, 'bad_request');
    const body = parsed.data;
    const permissionsSize = JSON.stringify({ capability: (raw as Record<string, unknown>).capability, send: body.send }).length;
    if (permissionsSize > MAX_CAPABILITY_JSON) {
      throw new SignalError(
        'bad_request',
        `capability and send take ${permissionsSize} characters of JSON, over the ${MAX_CAPABILITY_JSON} a token that travels in a connect URL can carry; use prefix patterns (room-*) instead of listing channels`,
        { field: 'capability' },
      );
    }
    const { token, expiresAt, tokenId } = await mintUserToken(grant, {
      identity: body.identity,
      device: body.device,
      ttlSeconds: body.ttl,
      grants: { signal: true, ...body.grants },
      audience: audienceOf(grant, body.audience, options.audience),
      capability: body.capability,
      send: body.send,
    });
    const sub = body.device === undefined ? body.identity : `${body.identity}/${body.device}`;
    // `jti` is what POST /v1/revocations {jti} takes to revoke this one token.
    sendJson(res, 201, { token, sub, expiresAt, env: grant.env, jti: tokenId });
  };
}

/**
 * The token's `aud`: the one asked for, else the environment's first audience when the apps file
 * sets some (gateways then accept only those), else GATEWAY_PUBLIC_URL. A token gateways would
 * refuse is not minted.
 */
function audienceOf(scope: ScopeKeys, requested: string | undefined, gatewayUrl: string | undefined): string | undefined {
  if (scope.audience === undefined) return requested ?? gatewayUrl;
  if (requested === undefined) return scope.audience[0];
  if (scope.audience.includes(requested)) return requested;
  throw new SignalError('bad_request', `audience must be one of the environment's audiences in the apps file (${scope.audience.join(', ').slice(0, 200)})`, {
    field: 'audience',
  });
}
