/**
 * Microseconds on CLOCK_MONOTONIC, which every process on the machine shares: the publisher
 * stamps it into each message and subscribers in other processes subtract it on receipt.
 */
export function nowMicros() {
  return Number(process.hrtime.bigint() / 1000n);
}
