// Latency histogram: log-linear buckets over microseconds (64 sub-buckets per power of two,
// so a recorded value is off by at most 1/64 = 1.6 %). Workers record into one, send the
// non-empty buckets to the parent, and the parent merges them and reads percentiles.

const SUB_BITS = 6;
const SUB = 1 << SUB_BITS; // 64
const SIZE = 27 * SUB; // values up to 2^31 us (35 minutes); larger ones land in the last bucket

function bucketOf(us: number): number {
  if (!(us >= 0)) return 0;
  if (us < SUB) return Math.floor(us);
  const v = us >= 2147483647 ? 2147483647 : Math.floor(us);
  const pow = 31 - Math.clz32(v); // v in [2^pow, 2^(pow+1)), pow >= SUB_BITS
  const shift = pow - SUB_BITS;
  return (shift + 1) * SUB + ((v >>> shift) & (SUB - 1));
}

/** Lower bound (us) of a bucket's range, and its midpoint for reporting. */
function bucketValue(idx: number): number {
  if (idx < SUB) return idx;
  const group = Math.floor(idx / SUB); // >= 1
  const sub = idx % SUB;
  const shift = group - 1;
  const lo = (SUB + sub) * 2 ** shift;
  const width = 2 ** shift;
  return lo + (width - 1) / 2;
}

export interface HistogramSnapshot {
  /** bucket index -> count, only non-empty buckets */
  b: Record<string, number>;
  max: number;
  min: number;
  sum: number;
  n: number;
}

export class Histogram {
  private counts = new Float64Array(SIZE);
  n = 0;
  sum = 0;
  max = 0;
  min = Infinity;

  /** Record a value in milliseconds (fractional). */
  recordMs(ms: number, times = 1): void {
    const us = ms * 1000;
    this.counts[bucketOf(us)] += times;
    this.n += times;
    this.sum += us * times;
    if (us > this.max) this.max = us;
    if (us < this.min) this.min = us;
  }

  reset(): void {
    this.counts.fill(0);
    this.n = 0;
    this.sum = 0;
    this.max = 0;
    this.min = Infinity;
  }

  snapshot(): HistogramSnapshot {
    const b: Record<string, number> = {};
    const c = this.counts;
    for (let i = 0; i < SIZE; i++) if (c[i] !== 0) b[i] = c[i];
    return { b, max: this.max, min: this.min === Infinity ? 0 : this.min, sum: this.sum, n: this.n };
  }

  merge(s: HistogramSnapshot): void {
    for (const k of Object.keys(s.b)) this.counts[Number(k)] += s.b[k];
    this.n += s.n;
    this.sum += s.sum;
    if (s.max > this.max) this.max = s.max;
    if (s.n > 0 && s.min < this.min) this.min = s.min;
  }

  /** Percentile in milliseconds (p in 0..100); NaN when empty. */
  percentileMs(p: number): number {
    if (this.n === 0) return NaN;
    if (p >= 100) return this.max / 1000;
    const rank = Math.max(1, Math.ceil((p / 100) * this.n));
    let seen = 0;
    const c = this.counts;
    for (let i = 0; i < SIZE; i++) {
      seen += c[i];
      if (seen >= rank) return Math.min(bucketValue(i), this.max) / 1000;
    }
    return this.max / 1000;
  }

  meanMs(): number {
    return this.n === 0 ? NaN : this.sum / this.n / 1000;
  }
}

export interface LatencySummary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(h: Histogram): LatencySummary | null {
  if (h.n === 0) return null;
  return { n: h.n, p50: h.percentileMs(50), p95: h.percentileMs(95), p99: h.percentileMs(99), max: h.max / 1000, mean: h.meanMs() };
}
