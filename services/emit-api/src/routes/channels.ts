import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeToken } from '@signal/core';
import { decodeOccupancy, nodeOfOccupancyKey, readLatest } from '@signal/presence';
import { sendJson } from '../http/respond.js';
import { requireSecretKey, type SecretKeys } from '../http/secret-key.js';

/** Most channels one answer lists (the busiest first); `truncated` says when there were more. */
export const MAX_CHANNELS_LISTED = 1000;

interface ChannelCounts {
  connections: number;
  participants: number;
}

/**
 * GET /v1/channels: the key's environment's channels that have connections, with how many
 * (and how many of them joined with presence), cluster-wide, busiest first. Read from the
 * occupancy bucket (`<app>.<env>.<channel token>.<node>`, one key per channel per gateway,
 * written at most once a second), counting only keys written by a live gateway process, as
 * GET …/occupancy does; so every channel is listed, joined with presence or not.
 */
export function channelsRoute(nc: NatsConnection, keys: SecretKeys, options: { bucket: string; readTimeoutMs: number; live: () => ReadonlyMap<string, string> }) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const grant = requireSecretKey(req, keys);
    const records = await readLatest(nc, options.bucket, `${grant.app}.${grant.env}.*.*`, options.readTimeoutMs);
    const live = options.live();
    const counts = new Map<string, ChannelCounts>();
    for (const record of records) {
      if (record.deleted) continue;
      const node = nodeOfOccupancyKey(record.key);
      const value = decodeOccupancy(record.value);
      if (node === undefined || !value || live.get(node) !== value.instance || value.connections === 0) continue;
      const token = record.key.split('.')[2]!;
      const sum = counts.get(token) ?? { connections: 0, participants: 0 };
      sum.connections += value.connections;
      sum.participants += value.participants;
      counts.set(token, sum);
    }
    const channels = [...counts]
      // `occupancy` (= participants) is the field this answer had before it listed connections.
      .map(([token, { connections, participants }]) => ({ channel: decodeToken(token), connections, participants, occupancy: participants }))
      .sort((a, b) => b.connections - a.connections || a.channel.localeCompare(b.channel));
    sendJson(res, 200, { channels: channels.slice(0, MAX_CHANNELS_LISTED), truncated: channels.length > MAX_CHANNELS_LISTED });
  };
}
