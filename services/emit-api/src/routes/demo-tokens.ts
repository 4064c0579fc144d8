import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { SignalError, capabilitySchema, fromZodError, mintUserToken, sendRuleSchema, type Apps } from '@signal/core';
import type { KeyRateLimit } from '../http/key-rate-limit.js';
import { readBody, type BodyLimits } from '../http/read-body.js';
import { sendJson } from '../http/respond.js';

/** Demo users are `demo-<name>`; they may use only `demo-*` channels and message only each other. */
export const DEMO_PREFIX = 'demo-';
const DEMO_DEVICE = 'web';
/** Short-lived: the demo page's token provider asks again before expiry. */
export const DEMO_TOKEN_TTL_SECONDS = 600;
const capability = capabilitySchema.parse({ [`${DEMO_PREFIX}*`]: ['subscribe', 'publish', 'presence'] });
const send = sendRuleSchema.parse([`${DEMO_PREFIX}*`]);

const bodySchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,23}$/, { error: 'must be 1-24 of a-z, 0-9, _ or -, starting with a letter or digit' }),
});

export interface DemoTokensOptions {
  body: BodyLimits;
  /** The publishable key naming the environment demo users belong to (DEMO_TOKENS_KEY). */
  publishableKey: string;
  /** Gateway URLs the demo page connects to, in failover order (DEMO_GATEWAYS, else GATEWAY_PUBLIC_URL). */
  gateways: string[];
  gatewayPublicUrl: string | undefined;
  /** One shared bucket for every caller: the endpoint takes no credential (DEMO_TOKENS_PER_SECOND). */
  rateLimit: KeyRateLimit;
}

/**
 * POST /v1/demo-tokens `{ name }`: a user token for the web console's live demo, with no
 * credential at all, so it exists only where DEMO_TOKENS_KEY is set (the dev stack of
 * `pnpm start`). What it hands out is fenced: identity `demo-<name>`, device `web`, 10 minutes,
 * channels `demo-*` only and direct messages to `demo-*` users only, in one environment.
 */
export function demoTokensRoute(registry: Apps, options: DemoTokensOptions) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    options.rateLimit.take({ id: 'demo-tokens', label: 'demo tokens' });
    const raw = await readBody(req, options.body);
    if (raw === undefined) throw new SignalError('bad_request', 'body is required: { name }');
    const parsed = bodySchema.safeParse(raw);
    if (!parsed.success) throw fromZodError(parsed.error, 'bad_request');
    const scope = registry.byPublishableKey(options.publishableKey);
    if (scope === undefined) throw new SignalError('unavailable', 'DEMO_TOKENS_KEY names no environment of the apps file any more; set it to a publishable key the file has');
    const identity = `${DEMO_PREFIX}${parsed.data.name}`;
    const { token, expiresAt } = await mintUserToken(scope, {
      identity,
      device: DEMO_DEVICE,
      ttlSeconds: DEMO_TOKEN_TTL_SECONDS,
      grants: { signal: true, publish: true },
      // The environment's own audiences win, as for POST /v1/tokens.
      audience: scope.audience === undefined ? options.gatewayPublicUrl : undefined,
      capability,
      send,
    });
    sendJson(res, 201, { token, identity, expiresAt, gateways: options.gateways });
  };
}
