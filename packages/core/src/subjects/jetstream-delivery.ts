/** What a JetStream push delivery says about the message in its reply subject. */
export interface JetStreamDelivery {
  /** The message's stream sequence. */
  readonly sequence: number;
  /** The consumer's own count of deliveries: a gap in it means a message was lost. */
  readonly delivered: number;
  /** Messages left for the consumer after this one. */
  readonly pending: number;
  /** When the stream stored it, ms since epoch (server clock). */
  readonly storedAt: number;
}

/**
 * Stream sequence, timestamp and pending count from a JetStream delivery's reply subject, in
 * both the old (`$JS.ACK.<stream>.<consumer>.<n>.<sseq>.<dseq>.<ts>.<pending>`) and the newer
 * form that adds domain and account hash after `ACK`; undefined for anything else.
 */
export function jetStreamDelivery(reply: string | undefined): JetStreamDelivery | undefined {
  const tokens = reply?.split('.');
  if (!tokens || tokens[0] !== '$JS' || tokens[1] !== 'ACK') return undefined;
  const offset = tokens.length === 9 ? 0 : tokens.length >= 11 ? 2 : -1;
  if (offset < 0) return undefined;
  const sequence = Number(tokens[5 + offset]);
  const delivered = Number(tokens[6 + offset]);
  const pending = Number(tokens[8 + offset]);
  const storedAt = Math.floor(Number(tokens[7 + offset]) / 1e6);
  return Number.isSafeInteger(sequence) && Number.isSafeInteger(delivered) && Number.isSafeInteger(pending)
    ? { sequence, delivered, pending, storedAt }
    : undefined;
}
