import type { IncomingMessage, ServerResponse } from 'node:http';
import { SignalError, channelNameSchema } from '@signal/core';
import { readOccupancy, type KV } from '@signal/presence';
import { sendJson } from '../http/respond.js';
import { requireSecretKey, type SecretKeys } from '../http/secret-key.js';

/**
 * GET /v1/channels/:channel/occupancy: how many connections (and, among them, presence
 * participants) a channel of the key's app and environment has, cluster-wide: the sum of the
 * counts of every live gateway (`live`: node → process instance), one direct get each.
 */
export function occupancyRoute(keys: SecretKeys, kv: KV, live: () => ReadonlyMap<string, string>) {
  return async (req: IncomingMessage, res: ServerResponse, params: Record<string, string>): Promise<void> => {
    const grant = requireSecretKey(req, keys);
    const channel = channelNameSchema.safeParse(params.channel);
    if (!channel.success) {
      throw new SignalError('bad_request', `channel: ${channel.error.issues[0]?.message ?? 'invalid'}`, { field: 'channel' });
    }
    const counts = await readOccupancy(kv, grant, channel.data, live());
    sendJson(res, 200, { channel: channel.data, connections: counts.connections, participants: counts.participants });
  };
}
