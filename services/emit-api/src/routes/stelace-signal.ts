import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import {
  SignalError,
  broadcastSubject,
  encodeEnvelope,
  fromZodError,
  stelaceEventSchema,
  stelaceNameSchema,
} from '@signal/core';
import { assertNatsConnected } from '@signal/operations';
import { readBody, type BodyLimits } from '../http/read-body.js';
import { sendJson } from '../http/respond.js';
import { requireSecretKey, type SecretKeys } from '../http/secret-key.js';
import { deliverConfirmed } from '../publishing/confirmed-delivery.js';
import { stelaceDeliveryStages } from '../publishing/stelace-destination.js';

const bodySchema = z.strictObject(
  {
    destination: stelaceNameSchema.optional(),
    event: stelaceEventSchema.default('signal'),
    message: z.unknown().optional(),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown field ${issue.keys.map((k) => `'${k}'`).join(', ')}; POST /signal accepts destination, event and message`
        : 'body must be an object: { destination?, event?, message? }',
  },
);

export interface StelaceSignalRouteOptions {
  body: BodyLimits;
  deliveryTimeoutMs: number;
}

/**
 * POST /signal, Stelace's emit endpoint. A destination must have a connected socket
 * somewhere in the cluster (404 otherwise); without one the signal goes to every socket of
 * the app and environment, which needs the key's broadcast permission.
 */
export function stelaceSignalRoute(nc: NatsConnection, keys: SecretKeys, options: StelaceSignalRouteOptions) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const grant = requireSecretKey(req, keys);
    const raw = await readBody(req, options.body);
    if (raw === undefined) throw new SignalError('bad_request', 'body is required: { destination?, event?, message }');
    const parsed = bodySchema.safeParse(raw);
    if (!parsed.success) throw fromZodError(parsed.error, 'bad_request');
    const { destination, event, message } = parsed.data;
    const fields = { event, message };
    assertNatsConnected(nc);
    if (destination === undefined) {
      if (!grant.permissions.has('broadcast')) {
        throw new SignalError('forbidden', 'Forbidden', {
          field: 'destination',
          data: { reason: "sending to every socket needs a secret key with the 'broadcast' permission; give a destination instead" },
        });
      }
      nc.publish(broadcastSubject(grant), encodeEnvelope({ t: 'send', fields }));
    } else if (!(await deliver(nc, stelaceDeliveryStages(grant, destination, fields), options.deliveryTimeoutMs))) {
      throw new SignalError('not_found', `Signal destination '${destination}' not found`, { field: 'destination' });
    }
    sendJson(res, 200, { message, destination, event, env: grant.env });
  };
}

async function deliver(nc: NatsConnection, stages: ReturnType<typeof stelaceDeliveryStages>, timeoutMs: number): Promise<boolean> {
  for (const stage of stages) {
    const results = await Promise.allSettled(stage.map((step) => deliverConfirmed(nc, step.subject, step.envelope, timeoutMs)));
    if (results.some((r) => r.status === 'fulfilled' && r.value === 'delivered')) return true;
    const failure = results.find((r) => r.status === 'rejected');
    if (failure) throw failure.reason;
  }
  return false;
}
