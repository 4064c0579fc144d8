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

const ACK_PREFIX = '$JS.ACK.';
/** Token starts kept: the last token read is the 11th (index 10) of the newer form. */
const KEPT = 12;
/**
 * Where each token of the reply being read starts (one past its dot), plus where the next
 * would: reused by every call, since a feed reads this for each of thousands of messages.
 */
const starts = new Int32Array(KEPT + 1);

/**
 * Stream sequence, timestamp and pending count from a JetStream delivery's reply subject, in
 * both the old (`$JS.ACK.<stream>.<consumer>.<n>.<sseq>.<dseq>.<ts>.<pending>`) and the newer
 * form that adds domain and account hash after `ACK`; undefined for anything else. Read in
 * place, without splitting: a channel feed's first read parses one per participant, and the
 * dozen strings a split made per message were a sizeable part of a 10,000-member read's CPU.
 */
export function jetStreamDelivery(reply: string | undefined): JetStreamDelivery | undefined {
  if (reply === undefined || !reply.startsWith(ACK_PREFIX)) return undefined;
  let tokens = 1;
  starts[0] = 0;
  for (let i = reply.indexOf('.'); i !== -1; i = reply.indexOf('.', i + 1)) {
    if (tokens < KEPT) starts[tokens] = i + 1;
    tokens++;
  }
  const offset = tokens === 9 ? 0 : tokens >= 11 ? 2 : -1;
  if (offset < 0) return undefined;
  // One past the end of the last token that can be read: the end of the reply, or a dot.
  starts[Math.min(tokens, KEPT)] = reply.length + 1;
  const sequence = digitsAt(reply, 5 + offset);
  const delivered = digitsAt(reply, 6 + offset);
  const pending = digitsAt(reply, 8 + offset);
  // Nanoseconds, past 2^53: parsed as a number (rounded), then whole ms.
  const storedAt = Math.floor(Number(reply.slice(starts[7 + offset], starts[8 + offset]! - 1)) / 1e6);
  return Number.isSafeInteger(sequence) && Number.isSafeInteger(delivered) && Number.isSafeInteger(pending) && Number.isFinite(storedAt)
    ? { sequence, delivered, pending, storedAt }
    : undefined;
}

/** Token `index` as a decimal number; NaN unless it is digits only. */
function digitsAt(reply: string, index: number): number {
  const from = starts[index]!;
  const to = starts[index + 1]! - 1;
  if (from >= to) return Number.NaN;
  let n = 0;
  for (let i = from; i < to; i++) {
    const digit = reply.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return Number.NaN;
    n = n * 10 + digit;
  }
  return n;
}
