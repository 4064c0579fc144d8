/**
 * The benchmark message: `s` is the step it belongs to (late messages of an earlier step are
 * not counted), `ts` the publish time in monotonic microseconds, `pad` fills it to a realistic size.
 */
export function benchMessage(step, ts, pad) {
  return { s: step, ts, pad };
}

const STEP = Buffer.from('"s":');
const TS = Buffer.from('"ts":');

/**
 * Reads the step and timestamp straight from a received frame's bytes. Parsing every frame
 * as JSON would make the subscriber process, not the server, the bottleneck.
 */
export function readStamp(buffer, start = 0, end = buffer.length) {
  const step = intAfter(buffer, STEP, start, end);
  return step === undefined ? undefined : { step, ts: intAfter(buffer, TS, start, end) };
}

function intAfter(buffer, key, start, end) {
  const at = buffer.indexOf(key, start);
  if (at === -1 || at >= end) return undefined;
  let value = 0;
  let digits = 0;
  for (let i = at + key.length; i < end; i++) {
    const c = buffer[i];
    if (c < 48 || c > 57) break;
    value = value * 10 + (c - 48);
    digits++;
  }
  return digits === 0 ? undefined : value;
}
