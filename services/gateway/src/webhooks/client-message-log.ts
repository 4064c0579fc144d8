import type { NatsConnection } from '@nats-io/transport-node';
import { SignalError, webhookMessageSubject, type Apps, type Fields } from '@signal/core';
import { isNoResponders } from '@signal/operations';
import { metrics } from '../metrics/gateway-metrics.js';
import type { Session } from '../core/session.js';

const STORE_TIMEOUT_MS = 2000;

/** What a gateway stores for one client publish; the dispatcher turns it into a `client_message` event. */
export interface ClientMessageRecord {
  channel: string;
  sender: { address: string; identity: string; device: string; connection: string };
  fields: Fields;
}

/**
 * Stores what clients publish on channels whose namespace says `webhooks: { clientMessages: true }`
 * in the webhooks dispatcher's messages log (a JetStream stream it creates), before the message
 * goes to the channel: a publish that was answered is durably on its way to the webhook, and one
 * that could not be stored is refused (`unavailable`), so a client retrying never gets a message
 * delivered to members but missing from the webhooks. Other channels cost one namespace lookup.
 */
export class ClientMessageLog {
  constructor(
    private readonly nc: NatsConnection,
    private readonly apps: Apps,
  ) {
    // Both series exist from the start, so a panel or an alert on `failed` has one to read.
    for (const result of ['stored', 'failed']) metrics.webhookClientMessages.inc({ result }, 0);
  }

  wants(session: Session, channel: string): boolean {
    return this.apps.sendsClientMessages(session.scope, channel);
  }

  async store(session: Session, channel: string, fields: Fields): Promise<void> {
    const record: ClientMessageRecord = {
      channel,
      sender: { address: session.address, identity: session.identity, device: session.device, connection: session.route },
      fields,
    };
    let why: string;
    try {
      // A JetStream publish is a request the stream answers with its ack (or an error, e.g. full).
      // Not nats.js's js.publish: it reports a missing stream (no responders) as "jetstream is not
      // enabled", and the client must be told the dispatcher has not created the log yet.
      const reply = await this.nc.request(webhookMessageSubject(session.scope, channel), JSON.stringify(record), { timeout: STORE_TIMEOUT_MS });
      const ack = reply.json<{ seq?: number; error?: { description?: string } }>();
      if (typeof ack.seq === 'number') {
        metrics.webhookClientMessages.inc({ result: 'stored' });
        return;
      }
      why = ack.error?.description ?? 'the stream did not store it';
    } catch (error) {
      why = isNoResponders(error) ? 'the webhooks messages log does not exist yet (the webhooks dispatcher creates it when it starts)' : (error as Error).message;
    }
    metrics.webhookClientMessages.inc({ result: 'failed' });
    throw new SignalError('unavailable', `this channel's messages go to webhooks, and this one could not be stored (${why}); try again`);
  }
}
