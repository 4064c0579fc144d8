/** A message's own fields: any JSON object your app defines. */
export type Payload = Record<string, unknown>;

/**
 * A message as received, exactly as the gateway delivers it (the Bit6 shape): your fields plus
 * `from` (the sender's `identity/device/route`; absent for signals a backend sent through the
 * emit API) and `id` (the channel, for channel messages and channel-scoped direct messages).
 */
export type Incoming<M extends Payload> = M & { from?: string; id?: string };

/** A direct message: your fields plus `to` (`identity`, `identity/device` or `identity/device/route`) and optionally the channel `id` it belongs to. */
export type Outgoing<M extends Payload> = M & { to: string; id?: string };

export interface SendOptions {
  /** Wait for the gateway to confirm (a JSON-RPC request): the promise rejects with the server's error. */
  ack?: boolean;
}
