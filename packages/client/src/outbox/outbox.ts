import { SignalClientError } from '../errors/signal-client-error.js';

/** A message waiting for the connection (or its channel) to be ready. */
export interface Queued {
  method: 'signal.send' | 'signal.publish';
  /** The params as JSON, taken when the message was made: later changes to the caller's object do not leak in. */
  params: string;
  /** Present when the caller waits for the server's answer. */
  ack: { resolve(): void; reject(error: SignalClientError): void } | undefined;
}

/**
 * A bounded FIFO of messages made while they could not be sent. It refuses, loudly, what
 * does not fit: a message is queued, sent, or its sender is told — never dropped silently.
 */
export class Outbox {
  private items: Queued[] = [];

  constructor(
    private readonly limit: number,
    private readonly what: string,
  ) {}

  get size(): number {
    return this.items.length;
  }

  /** Throws `queue_full` when the queue already holds `limit` messages. */
  push(item: Queued): void {
    if (this.items.length >= this.limit) {
      throw new SignalClientError(
        'queue_full',
        `${this.limit} messages are already waiting for ${this.what}; wait for 'connected' or raise options.queueLimit`,
      );
    }
    this.items.push(item);
  }

  /** Removes and returns everything, oldest first. */
  drain(): Queued[] {
    const items = this.items;
    this.items = [];
    return items;
  }
}
