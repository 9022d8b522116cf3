// A fixed-size histogram with logarithmic buckets, reset and reused every second. It gives
// the per-second latency quantiles the detectors watch at a few nanoseconds per observation
// and no allocation, where a DDSketch per second and per query would allocate constantly.

/** Each bucket is 20% wider than the one below: quantiles are within ±10% of the true value. */
const GROWTH = 1.2;
const LOG_GROWTH = Math.log(GROWTH);
/** Bucket 0 holds everything up to 1 µs; the last one everything above ~1.2^120 µs (about 89 minutes). */
const MIN_SECONDS = 1e-6;
const BUCKETS = 120;

export class LogHistogram {
  private readonly counts = new Uint32Array(BUCKETS);
  count = 0;
  sum = 0;
  max = 0;

  observe(seconds: number): void {
    let i = seconds <= MIN_SECONDS ? 0 : Math.ceil(Math.log(seconds / MIN_SECONDS) / LOG_GROWTH);
    if (i >= BUCKETS) i = BUCKETS - 1;
    this.counts[i]!++;
    this.count++;
    this.sum += seconds;
    if (seconds > this.max) this.max = seconds;
  }

  /** The q-quantile in seconds (the bucket's geometric middle), NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        if (i === 0) return Math.min(MIN_SECONDS, this.max);
        if (i === BUCKETS - 1) return this.max;
        const upper = MIN_SECONDS * GROWTH ** i;
        return Math.min(upper / Math.sqrt(GROWTH), this.max);
      }
    }
    return this.max;
  }

  reset(): void {
    if (this.count === 0) return;
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.max = 0;
  }
}
