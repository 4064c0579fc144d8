import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NatsConnection } from '@nats-io/transport-node';
import { SignalError, encodeControl, fromZodError } from '@signal/core';
import { assertNatsConnected } from '@signal/operations';
import { readBody, type BodyLimits } from '../http/read-body.js';
import { sendJson } from '../http/respond.js';
import { requireSecretKey, type SecretKeys } from '../http/secret-key.js';
import { destinationSchema, targetOf } from '../publishing/destinations.js';

/** The address forms of /v1/signals destinations, without channels and broadcast. */
const bodySchema = destinationSchema.refine((destination) => !('channel' in destination) && !('broadcast' in destination), {
  error: 'must be one of {user}, {device} or {connection}',
});

/**
 * POST /v1/disconnect: closes every connection of a user, of one device, or one connection,
 * on every gateway, with close code 4004. The command travels on the target's own subject, so
 * only gateways holding a matching connection get it, and never another app's or environment's.
 * Nothing stops the client from connecting again (revoke its token for that).
 */
export function disconnectRoute(nc: NatsConnection, keys: SecretKeys, options: { body: BodyLimits }) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const grant = requireSecretKey(req, keys);
    const raw = await readBody(req, options.body);
    if (raw === undefined) throw new SignalError('bad_request', 'body is required: {user}, {device} or {connection}');
    const parsed = bodySchema.safeParse(raw);
    if (!parsed.success) throw fromZodError(parsed.error, 'bad_request');
    const destination = parsed.data;
    const field = Object.keys(destination)[0]!;
    const { subject } = targetOf({ app: grant.app, env: grant.env }, destination, {}, field);
    const to = (destination as Record<string, string>)[field]!;
    assertNatsConnected(nc);
    nc.publish(subject, encodeControl({ t: 'disconnect', to }));
    await nc.flush();
    sendJson(res, 202, { disconnecting: { [field]: to }, env: grant.env });
  };
}
