/**
 * Latency histogram in microseconds with about 0.2% relative precision: exact below 1024 µs,
 * then 512 sub-buckets per power of two. Subscriber processes record into one and ship the
 * non-empty buckets to the orchestrator, which merges them, so no sample is ever dropped.
 */
const LINEAR = 1024;
const SUB = 512;
const SIZE = LINEAR + 40 * SUB;

export class Histogram {
  constructor() {
    this.counts = new Float64Array(SIZE);
    this.total = 0;
    this.max = 0;
  }

  record(micros) {
    const v = micros < 0 ? 0 : Math.floor(micros);
    this.counts[bucketOf(v)]++;
    this.total++;
    if (v > this.max) this.max = v;
  }

  /** Non-empty buckets as [index, count] pairs, small enough to send over IPC. */
  toSparse() {
    const pairs = [];
    for (let i = 0; i < SIZE; i++) if (this.counts[i] !== 0) pairs.push([i, this.counts[i]]);
    return { pairs, total: this.total, max: this.max };
  }

  addSparse({ pairs, total, max }) {
    for (const [i, n] of pairs) this.counts[i] += n;
    this.total += total;
    if (max > this.max) this.max = max;
  }

  /** The value at quantile q (0..1), in microseconds; NaN when empty. */
  quantile(q) {
    if (this.total === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < SIZE; i++) {
      seen += this.counts[i];
      if (seen >= rank) return lowerBoundOf(i);
    }
    return this.max;
  }
}

function bucketOf(v) {
  if (v < LINEAR) return v;
  const shift = Math.floor(Math.log2(v)) - 9;
  return Math.min(SIZE - 1, LINEAR + (shift - 1) * SUB + Math.floor(v / 2 ** shift) - SUB);
}

function lowerBoundOf(index) {
  if (index < LINEAR) return index;
  const shift = Math.floor((index - LINEAR) / SUB) + 1;
  return (SUB + ((index - LINEAR) % SUB)) * 2 ** shift;
}
