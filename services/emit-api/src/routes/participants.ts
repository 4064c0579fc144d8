import type { IncomingMessage, ServerResponse } from 'node:http';
import { SignalError, channelNameSchema } from '@signal/core';
import { viewOf, type PresenceStore } from '@signal/presence';
import { sendJson } from '../http/respond.js';
import { requireSecretKey, type SecretKeys } from '../http/secret-key.js';

/**
 * GET /v1/channels/:channel/participants: who is in a presence channel of the key's app and
 * environment, with their states, earliest joiner first. A channel nobody joined is empty.
 */
export function participantsRoute(keys: SecretKeys, store: PresenceStore) {
  return async (req: IncomingMessage, res: ServerResponse, params: Record<string, string>): Promise<void> => {
    const grant = requireSecretKey(req, keys);
    const channel = channelNameSchema.safeParse(params.channel);
    if (!channel.success) {
      throw new SignalError('bad_request', `channel: ${channel.error.issues[0]?.message ?? 'invalid'}`, { field: 'channel' });
    }
    const participants = await store.participants(grant, channel.data);
    sendJson(res, 200, { channel: channel.data, participants: participants.map(viewOf) });
  };
}
