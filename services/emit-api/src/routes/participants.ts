import type { IncomingMessage, ServerResponse } from 'node:http';
import { viewOf, type PresenceStore } from '@signal/presence';
import { channelParam } from '../http/channel-param.js';
import { sendJson } from '../http/respond.js';
import { requireSecretKey, type SecretKeys } from '../http/secret-key.js';

/**
 * GET /v1/channels/:channel/participants: who is in a presence channel of the key's app and
 * environment, with their states, earliest joiner first. A channel nobody joined is empty.
 */
export function participantsRoute(keys: SecretKeys, store: PresenceStore) {
  return async (req: IncomingMessage, res: ServerResponse, params: Record<string, string>): Promise<void> => {
    const grant = requireSecretKey(req, keys);
    const channel = channelParam(params);
    const participants = await store.participants(grant, channel);
    sendJson(res, 200, { channel, participants: participants.map(viewOf) });
  };
}
