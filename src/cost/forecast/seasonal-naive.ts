// Seasonal naive: every future hour repeats the same hour one cycle earlier. The M4 competition's
// reference method, and the yardstick MASE divides by; in an ensemble it anchors the forecast to
// what actually happened last week when a smoothing model has drifted.

/** prefix[i] = y[0] + ... + y[i-1], so any window sum is two lookups. */
export function prefixSums(y: ArrayLike<number>): Float64Array {
  const p = new Float64Array(y.length + 1);
  for (let i = 0; i < y.length; i++) p[i + 1] = p[i]! + y[i]!;
  return p;
}

/** Hourly forecasts for the h hours after y: y's last `period` hours, repeated. Needs y.length >= period. */
export function seasonalNaivePath(y: ArrayLike<number>, period: number, h: number): Float64Array {
  const n = y.length;
  if (period < 1 || n < period) throw new RangeError(`seasonal naive with period ${period} needs at least ${period} values, got ${n}`);
  const out = new Float64Array(h);
  for (let k = 0; k < h; k++) out[k] = y[n - period + (k % period)]!;
  return out;
}

/** The sum of seasonal-naive forecasts of y[t..t+h) made at origin t (from y[0..t)), in O(1). */
export function seasonalNaiveSum(prefix: Float64Array, t: number, period: number, h: number): number {
  const start = t - period;
  const cycle = prefix[t]! - prefix[start]!;
  const rest = h % period;
  return Math.floor(h / period) * cycle + prefix[start + rest]! - prefix[start]!;
}

/**
 * Drift per hour for seasonal naive with drift at origin t: the change between the first and the
 * last cycle of y[0..t), over the hours between them; 0 before two cycles. Repeating the last
 * cycle then adds drift * (hours between the repeated hour and the forecast hour).
 */
export function seasonalDrift(prefix: Float64Array, t: number, period: number): number {
  if (t < 2 * period) return 0;
  return (prefix[t]! - prefix[t - period]! - prefix[period]!) / period / (t - period);
}

/** Sum over k = 0..h-1 of period * (floor(k / period) + 1): what the drift is multiplied by in an h-hour sum. */
export function driftWeight(period: number, h: number): number {
  const cycles = Math.floor(h / period);
  return period * ((period * cycles * (cycles + 1)) / 2 + (h % period) * (cycles + 1));
}

/**
 * Mean absolute one-step seasonal-naive error in sample: (1 / (n - m)) * sum |y[t] - y[t - m]|,
 * the denominator of MASE (M4's definition). NaN when the history is shorter than m + 1.
 */
export function seasonalNaiveScale(y: ArrayLike<number>, period: number): number {
  const n = y.length;
  if (n <= period) return NaN;
  let s = 0;
  for (let t = period; t < n; t++) s += Math.abs(y[t]! - y[t - period]!);
  return s / (n - period);
}
