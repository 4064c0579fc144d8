import type { IncomingMessage, ServerResponse } from 'node:http';
import { SignalError } from '@signal/core';
import type { HistoryStore } from '@signal/history';
import { z } from 'zod';
import { metrics } from '../metrics/emit-metrics.js';
import { channelParam } from '../http/channel-param.js';
import { sendJson } from '../http/respond.js';
import { queryParams } from '../http/query-params.js';
import { requireSecretKey, type SecretKeys } from '../http/secret-key.js';

/** Messages per page at most: the largest window an environment may keep per channel. */
export const MAX_HISTORY_PAGE = 1000;

const querySchema = z.strictObject({
  since: z.coerce.number({ error: 'must be an offset (a whole number)' }).int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  limit: z.coerce.number({ error: `must be 1 to ${MAX_HISTORY_PAGE}` }).int().min(1).max(MAX_HISTORY_PAGE).default(100),
});

/**
 * GET /v1/channels/:channel/history?since=&limit=: the stored messages of a channel of the
 * key's app and environment after offset `since` that its namespace's window still covers,
 * oldest first, with the stream's epoch; a page with more after it names the `next` offset
 * to ask from (docs/recovery.md).
 */
export function historyRoute(keys: SecretKeys, history: HistoryStore) {
  return async (req: IncomingMessage, res: ServerResponse, params: Record<string, string>): Promise<void> => {
    const grant = requireSecretKey(req, keys);
    const channel = channelParam(params);
    const query = queryParams(req, querySchema);
    if (!history.keeps(grant, channel)) {
      throw new SignalError('not_found', `channel '${channel}' keeps no history: give its namespace history: true and the environment a history window in the apps file`, {
        field: 'channel',
      });
    }
    const { since, limit } = query;
    const page = await history.page(grant, channel, since, limit);
    metrics.historyReads.inc();
    const messages = page.entries.map(({ envelope, storedAt }) => ({
      offset: envelope.pos!.offset,
      storedAt,
      ...(envelope.from === undefined ? {} : { from: envelope.from }),
      fields: envelope.fields,
    }));
    sendJson(res, 200, {
      channel: channel,
      epoch: page.epoch,
      messages,
      next: page.more ? messages.at(-1)!.offset : null,
    });
  };
}
