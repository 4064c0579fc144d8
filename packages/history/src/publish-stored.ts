import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { SignalError } from '@signal/core';

const PUBLISH_TIMEOUT_MS = 2000;

/**
 * Publishes a channel message into its environment's history stream and resolves with its
 * offset once stored (the stream then republishes it to the channel's members). A stream
 * without a leader (a NATS node just died) answers nothing: `unavailable`, retry.
 */
export class StoredPublisher {
  private readonly js: JetStreamClient;

  constructor(nc: NatsConnection) {
    this.js = jetstream(nc, { timeout: PUBLISH_TIMEOUT_MS });
  }

  async publish(subject: string, data: Uint8Array): Promise<number> {
    try {
      const ack = await this.js.publish(subject, data);
      return ack.seq;
    } catch (error) {
      throw new SignalError('unavailable', `channel history could not store the message: ${(error as Error).message}; try again`, { cause: error });
    }
  }
}
