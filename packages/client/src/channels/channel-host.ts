import type { SignalClientError } from '../errors/signal-client-error.js';
import type { Outbox } from '../outbox/outbox.js';

/** What a channel needs from the client it belongs to; implemented by `Signal`. */
export interface ChannelHost {
  /** The current connection's own address, once the gateway has said it. */
  address(): string | undefined;
  /** True for every address this client has had (so its own ghost from a dead connection is not a participant). */
  isOwnAddress(address: string): boolean;
  /** Sends a request on the current connection; rejects with `disconnected` when it drops first. */
  request(method: string, params: Record<string, unknown>): Promise<unknown>;
  /**
   * Sends now when `ready` and the connection is up, else queues in `outbox` (or refuses,
   * per the offline policy). With `ack` it returns a promise and never throws; without, it
   * throws what it refuses.
   */
  dispatch(method: 'signal.publish', params: Record<string, unknown>, ack: boolean, ready: boolean, outbox: Outbox): Promise<void> | undefined;
  /** Sends queued messages now that their channel is joined. */
  flush(outbox: Outbox): void;
  /** Makes a new outbox with the configured limit. */
  outbox(what: string): Outbox;
  /** The channel is gone from `signal.channels`. */
  forget(name: string): void;
  /** Reports an error nobody waits for: to the channel's listeners, else the client's. */
  report(error: SignalClientError, emitter: { listenerCount(event: 'error'): number; emit(event: 'error', error: SignalClientError): void }): void;
}
