import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeToken } from '@signal/core';
import { readLatest } from '@signal/presence';
import { sendJson } from '../http/respond.js';
import { requireSecretKey, type SecretKeys } from '../http/secret-key.js';

/** Most channels one answer lists (the busiest first); `truncated` says when there were more. */
export const MAX_CHANNELS_LISTED = 1000;

/**
 * GET /v1/channels: the key's environment's presence channels that have participants, with
 * how many (connections joined with presence), busiest first. Read from the presence bucket
 * (keys only: `<app>.<env>.<channel token>.<node>.<connection>`), so channels joined without
 * presence are not listed. With PRESENCE_SHARDS, every participants bucket is read: a channel
 * lives in one of them.
 */
export function channelsRoute(nc: NatsConnection, keys: SecretKeys, options: { buckets: readonly string[]; readTimeoutMs: number }) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const grant = requireSecretKey(req, keys);
    const filter = `${grant.app}.${grant.env}.*.*.*`;
    const records = (await Promise.all(options.buckets.map((bucket) => readLatest(nc, bucket, filter, options.readTimeoutMs, { headersOnly: true })))).flat();
    const counts = new Map<string, number>();
    for (const record of records) {
      if (record.deleted) continue;
      const token = record.key.split('.')[2]!;
      counts.set(token, (counts.get(token) ?? 0) + 1);
    }
    const channels = [...counts]
      .map(([token, occupancy]) => ({ channel: decodeToken(token), occupancy }))
      .sort((a, b) => b.occupancy - a.occupancy || a.channel.localeCompare(b.channel));
    sendJson(res, 200, { channels: channels.slice(0, MAX_CHANNELS_LISTED), truncated: channels.length > MAX_CHANNELS_LISTED });
  };
}
