import type { NatsConnection } from '@nats-io/transport-node';
import { SignalError, encodeEnvelope, type Envelope } from '@signal/core';
import { isNoResponders } from '@signal/operations';

export type DeliveryResult = 'delivered' | 'absent';

/**
 * Publishes with NATS request semantics, so the answer comes from the cluster's real state:
 * every gateway subscribed to the subject gets the message, and a gateway that holds a
 * matching connection answers `{"ok":true}` (a node's connection endpoint answers
 * `{"ok":false}` when the connection is not there). No responders means nobody is there.
 */
export async function deliverConfirmed(nc: NatsConnection, subject: string, envelope: Envelope, timeoutMs: number): Promise<DeliveryResult> {
  let reply;
  try {
    reply = await nc.request(subject, encodeEnvelope(envelope), { timeout: timeoutMs });
  } catch (error) {
    if (isNoResponders(error)) return 'absent';
    throw new SignalError('unavailable', 'delivery could not be confirmed in time; try again', { cause: error });
  }
  return reply.string() === '{"ok":true}' ? 'delivered' : 'absent';
}
