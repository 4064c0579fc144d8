import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { SignalError, fromZodError } from '@signal/core';
import { readBody, type BodyLimits } from '../http/read-body.js';
import { sendJson } from '../http/respond.js';
import { queryParams } from '../http/query-params.js';
import { requireSecretKey, type SecretKeys } from '../http/secret-key.js';
import { metrics } from '../metrics/emit-metrics.js';
import type { DeadLetters } from '../webhooks/dead-letters.js';

/** Dead letters per page, and per replay by ids: each is one request to the stream. */
export const MAX_DEAD_LETTER_PAGE = 100;
/** Dead letters one `{all: true}` replay goes through at most; `more: true` says to call again. */
export const MAX_REPLAY_ALL = 1000;

/** An endpoint id: the first 16 hex digits of the SHA-256 of its URL (docs/webhooks.md). */
const endpointSchema = z.string().regex(/^[0-9a-f]{16}$/, { error: "must be an endpoint id: 16 lowercase hex digits (the first 16 of the SHA-256 of the endpoint's URL)" });
const deadLetterId = z.number({ error: 'must be a dead letter id (a positive whole number)' }).int().min(1).max(Number.MAX_SAFE_INTEGER);

const listQuery = z.strictObject({
  endpoint: endpointSchema.optional(),
  after: z.coerce.number({ error: 'must be a dead letter id (a whole number)' }).int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  limit: z.coerce.number({ error: `must be 1 to ${MAX_DEAD_LETTER_PAGE}` }).int().min(1).max(MAX_DEAD_LETTER_PAGE).default(50),
});

const byIds = z.strictObject({
  ids: z
    .array(deadLetterId)
    .min(1, { error: 'must list at least one id' })
    .max(MAX_DEAD_LETTER_PAGE, { error: `must list at most ${MAX_DEAD_LETTER_PAGE} ids; replay more in several requests, or use {all: true}` }),
});
const everything = z.strictObject({ all: z.literal(true, { error: 'must be true' }), endpoint: endpointSchema.optional() });
const USAGE = '{ids: [dead letter ids]} or {all: true, endpoint?}';

/**
 * GET /v1/webhooks/dead-letters?endpoint=&after=&limit=: the key's environment's webhook events
 * that were not delivered within WEBHOOK_RETRY_PERIOD_MS, oldest first, a page at a time
 * (docs/webhooks.md#dead-letters). Another environment's never appear.
 */
export function deadLettersRoute(keys: SecretKeys, deadLetters: DeadLetters) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const grant = requireSecretKey(req, keys);
    const query = queryParams(req, listQuery);
    const { endpoint, after, limit } = query;
    const page = await deadLetters.list({ app: grant.app, env: grant.env }, endpoint, after, limit);
    sendJson(res, 200, { deadLetters: page, next: page.length === limit ? page.at(-1)!.id : null });
  };
}

/**
 * POST /v1/webhooks/dead-letters/replay {ids} | {all: true, endpoint?}: sends dead letters of the
 * key's environment again, each to the endpoint it failed for, after what waits in its partition,
 * and removes them from the dead letters. Ids of another environment count as not found.
 */
export function replayDeadLettersRoute(keys: SecretKeys, deadLetters: DeadLetters, options: { body: BodyLimits }) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const grant = requireSecretKey(req, keys);
    const raw = await readBody(req, options.body);
    if (raw === undefined) throw new SignalError('bad_request', `body is required: ${USAGE}`);
    const fields = typeof raw === 'object' && raw !== null ? Object.keys(raw) : [];
    if (fields.includes('ids') === fields.includes('all')) throw new SignalError('bad_request', `body must be ${USAGE}`);
    const scope = { app: grant.app, env: grant.env };
    if (fields.includes('ids')) {
      const parsed = byIds.safeParse(raw);
      if (!parsed.success) throw fromZodError(parsed.error, 'bad_request');
      const result = await deadLetters.replay(scope, parsed.data.ids);
      metrics.webhookReplays.inc(result.replayed.length);
      return sendJson(res, 200, { replayed: result.replayed, notFound: result.notFound, endpointGone: result.endpointGone, more: false });
    }
    const parsed = everything.safeParse(raw);
    if (!parsed.success) throw fromZodError(parsed.error, 'bad_request');
    const result = await deadLetters.replayAll(scope, parsed.data.endpoint, MAX_REPLAY_ALL);
    metrics.webhookReplays.inc(result.replayed.length);
    sendJson(res, 200, { replayed: result.replayed, notFound: [], endpointGone: result.endpointGone, more: result.more });
  };
}
