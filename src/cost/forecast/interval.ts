// Prediction intervals for the SUM of the next h hours, calibrated on the history itself.
//
// Hourly errors are neither independent nor Gaussian (a level error persists for the whole
// horizon, spend spikes are skewed), so model-based per-step variances added up would be badly
// calibrated. Instead the ensemble is replayed at in-sample origins (rolling origin; parameters
// as fitted, states rebuilt from the data before each origin), and for a ladder of horizons
// h = 1, 2, 3, 5, 8, ... the relative errors of its h-hour sums, u = (actual - forecast) / scale,
// give empirical quantiles per side. A long rung's windows overlap, so it has seen only a few
// independent ones; its quantiles are widened as a prediction interval from that many samples
// would be (Student t). A horizon on the ladder's span is read off the ladder (interpolated in
// log h). Longer horizons, such as a month-end forecast made with three weeks of
// history, follow the shape of
//
//     q(h)^2 = A / h + C + D * h        (A, C, D >= 0)
//
// fitted to the ladder's day-or-longer rungs: the shape of a sum's relative error when hourly
// noise averages out (A/h), the level is off by a fixed fraction (C), and the level wanders like
// a random walk (D*h). Shorter rungs are left out of that fit because within a day the error
// depends on which hours the sum covers (a nightly job inside or outside it), not on h.
// Histories too short for a ladder use a prior of the same shape.
import type { Ensemble } from './ensemble.ts';
import { prefixSums } from './seasonal-naive.ts';

export interface QuantileCurve {
  A: number;
  C: number;
  D: number;
}

export interface SumErrorModel {
  /** 'rolling-origin' (in-sample errors), 'prior' (too little history) or 'none' (all-zero history: no spread). */
  kind: 'rolling-origin' | 'prior' | 'none';
  /** Ladder horizons, ascending, with the relative error at the lower and upper quantile on each. */
  horizons: number[];
  lower: number[];
  upper: number[];
  /** Shape beyond the ladder (and everything, for the prior). */
  lowerTail: QuantileCurve;
  upperTail: QuantileCurve;
}

export interface CalibrationOptions {
  /** Central coverage of the interval, e.g. 0.8. */
  coverage: number;
  /** At most this many in-sample origins (evenly strided): bounds the cost on long histories. */
  maxOrigins: number;
}

const DEFAULTS: CalibrationOptions = { coverage: 0.8, maxOrigins: 720 };
/** A ladder horizon needs this many origins for its quantiles to mean anything. */
const MIN_ORIGINS = 24;
/** ...and its origins must span this many of its own lengths (independent windows), or its quantiles are one window's luck. */
const MIN_WINDOWS = 3;
/** A side whose quantile lies past the forecast keeps this fraction of the other side's width. */
const ONE_SIDED_FLOOR = 0.25;
/** Rungs needed for a ladder; with fewer, the prior. */
const MIN_RUNGS = 4;
/** The tail shape is fitted on rungs of at least a day (when there are enough of them). */
const TAIL_FROM = 24;
const MIN_TAIL_RUNGS = 3;
/** The scale of a sum is the forecast, but at least this fraction of h hours at the recent rate, so hours forecast near 0 do not make relative errors explode. */
const SCALE_FLOOR = 0.25;
/** Recent rate: the mean over the last week (or as much as there is). */
const RECENT_HOURS = 168;
/**
 * The prior for short histories, as a relative error at the quantile: a new tenant's level is
 * uncertain by about this fraction (C), on top of hourly noise averaging out (A from the
 * history's own coefficient of variation).
 */
const PRIOR_LEVEL_ERROR = 0.3;

/** The standard normal quantile (1.2816 at 0.9). */
export function normalQuantile(p: number): number {
  // Acklam's rational approximation, relative error below 1.2e-9.
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo || p > 1 - lo) {
    const q = Math.sqrt(-2 * Math.log(p < lo ? p : 1 - p));
    const x = (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
    return p < lo ? x : -x;
  }
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

/**
 * How much wider the spread of the next window is than the spread of k windows seen: the ratio
 * of a prediction interval from k samples (Student t with k - 1 degrees of freedom, times
 * sqrt(1 + 1/k)) to the normal one. Long rungs see only a few independent windows, and quantiles
 * of a few windows understate the spread: without this, coverage fell as the horizon grew.
 */
export function smallSampleFactor(k: number, p: number): number {
  const nu = Math.max(1, k - 1);
  const z = normalQuantile(p);
  // Cornish-Fisher expansion of the t quantile in 1/nu (Abramowitz & Stegun 26.7.5).
  const z3 = z ** 3;
  const z5 = z ** 5;
  const t = z + (z3 + z) / (4 * nu) + (5 * z5 + 16 * z3 + 3 * z) / (96 * nu * nu) + (3 * z ** 7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * nu ** 3);
  return (t / z) * Math.sqrt(1 + 1 / Math.max(1, k));
}

/** Type-7 quantile (linear interpolation) of a sorted array. */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const x = (n - 1) * p;
  const i = Math.floor(x);
  const f = x - i;
  return i + 1 < n ? sorted[i]! * (1 - f) + sorted[i + 1]! * f : sorted[i]!;
}

/** 1, 2, 3, 5, 8, 12, 18, ... up to max: about 1.5x apart, dense where hourly noise still matters. */
export function ladder(max: number): number[] {
  const out: number[] = [];
  for (let h = 1; h <= max; h = Math.max(h + 1, Math.round(h * 1.5))) out.push(h);
  return out;
}

export function evaluateCurve(c: QuantileCurve, h: number): number {
  return Math.sqrt(Math.max(0, c.A / h + c.C + c.D * h));
}

/**
 * Least squares of q^2 on (1/h, 1, h) with non-negative coefficients, relative to each q^2 (so a
 * 2% error at h = 500 weighs as much as a 50% one at h = 1) and weighted by how many independent
 * windows each rung saw (`samples`; a long rung's overlapping windows are nearly one sample).
 * Three unknowns: every subset of them is solved and the best feasible one kept.
 */
export function fitCurve(horizons: readonly number[], q: readonly number[], samples: readonly number[] = horizons.map(() => 1)): QuantileCurve {
  const rows = horizons.map((h, i) => {
    const target = Math.max(q[i]!, 1e-6) ** 2;
    const w = Math.sqrt(samples[i]!) / target;
    return { x: [1 / h, 1, h], y: target, w };
  });
  let best: QuantileCurve = { A: 0, C: 0, D: 0 };
  let bestErr = Infinity;
  for (let mask = 1; mask < 8; mask++) {
    const cols = [0, 1, 2].filter((k) => mask & (1 << k));
    const coef = weightedLeastSquares(rows, cols);
    if (!coef || coef.some((v) => v < 0)) continue;
    const full = [0, 0, 0];
    cols.forEach((k, i) => (full[k] = coef[i]!));
    let err = 0;
    for (const r of rows) err += (r.w * (full[0]! * r.x[0]! + full[1]! + full[2]! * r.x[2]! - r.y)) ** 2;
    if (err < bestErr) {
      bestErr = err;
      best = { A: full[0]!, C: full[1]!, D: full[2]! };
    }
  }
  return best;
}

function weightedLeastSquares(rows: Array<{ x: number[]; y: number; w: number }>, cols: number[]): number[] | null {
  const k = cols.length;
  const m = Array.from({ length: k }, () => new Array<number>(k + 1).fill(0));
  for (const r of rows) {
    const w2 = r.w * r.w;
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) m[i]![j]! += w2 * r.x[cols[i]!]! * r.x[cols[j]!]!;
      m[i]![k]! += w2 * r.x[cols[i]!]! * r.y;
    }
  }
  // Gaussian elimination with partial pivoting on a k x k system (k <= 3).
  for (let c = 0; c < k; c++) {
    let p = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    if (Math.abs(m[p]![c]!) < 1e-300) return null;
    [m[c], m[p]] = [m[p]!, m[c]!];
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = m[r]![c]! / m[c]![c]!;
      for (let j = c; j <= k; j++) m[r]![j]! -= f * m[c]![j]!;
    }
  }
  return m.map((row, i) => row[k]! / row[i]!);
}

/** Mean of y over the RECENT_HOURS before t. */
export function recentRate(prefix: Float64Array, t: number): number {
  const from = Math.max(0, t - RECENT_HOURS);
  return t > from ? (prefix[t]! - prefix[from]!) / (t - from) : 0;
}

/** What a sum forecast's error is measured relative to. */
export function errorScale(forecastSum: number, h: number, rate: number): number {
  return Math.max(forecastSum, SCALE_FLOOR * h * rate);
}

const ZERO_CURVE: QuantileCurve = { A: 0, C: 0, D: 0 };

/** Calibrates the ensemble's sum errors on y (clean, the history it was fitted on). */
export function calibrateSumErrors(y: Float64Array, ensemble: Ensemble, options: Partial<CalibrationOptions> = {}): SumErrorModel {
  const o = { ...DEFAULTS, ...options };
  const n = y.length;
  const prefix = prefixSums(y);
  const pLow = (1 - o.coverage) / 2;
  const pHigh = 1 - pLow;
  if (prefix[n]! <= 0) return { kind: 'none', horizons: [], lower: [], upper: [], lowerTail: ZERO_CURVE, upperTail: ZERO_CURVE };

  // Origins after the members' warm-up and the first quarter (states learning from a rough
  // start would overstate the errors). A rung needs MIN_ORIGINS origins spanning MIN_WINDOWS of
  // its own lengths.
  const first = Math.max(ensemble.warmup, 24, Math.floor(n / 4));
  const horizons = ladder(Math.min(n - first - MIN_ORIGINS, Math.floor((n - first) / MIN_WINDOWS)));
  if (horizons.length >= MIN_RUNGS) {
    const stride = Math.max(1, Math.ceil((n - first) / o.maxOrigins));
    const origins: number[] = [];
    for (let t = first; t < n; t += stride) origins.push(t);
    const sums = ensemble.backtestSums(origins, horizons);
    const rates = origins.map((t) => recentRate(prefix, t));
    const used: number[] = [];
    const windows: number[] = [];
    const lower: number[] = [];
    const upper: number[] = [];
    horizons.forEach((h, j) => {
      const u: number[] = [];
      origins.forEach((t, i) => {
        if (t + h > n) return;
        const f = sums[i * horizons.length + j]!;
        const scale = errorScale(f, h, rates[i]!);
        if (scale > 0) u.push((prefix[t + h]! - prefix[t]! - f) / scale);
      });
      if (u.length < MIN_ORIGINS / stride) return;
      u.sort((a, b) => a - b);
      used.push(h);
      windows.push(Math.min(u.length, (n - first) / h));
      // A side whose quantile is past the forecast (every window erred the other way) keeps a
      // quarter of the other side's width: a few windows all erring one way is weak evidence
      // that the other way cannot happen.
      const below = Math.max(0, -quantileSorted(u, pLow));
      const above = Math.max(0, quantileSorted(u, pHigh));
      const widen = smallSampleFactor(windows.at(-1)!, pHigh);
      lower.push(widen * Math.max(below, ONE_SIDED_FLOOR * above));
      upper.push(widen * Math.max(above, ONE_SIDED_FLOOR * below));
    });
    if (used.length >= MIN_RUNGS) {
      const tail = used.filter((h) => h >= TAIL_FROM).length >= MIN_TAIL_RUNGS ? (h: number) => h >= TAIL_FROM : () => true;
      const pick = (xs: number[]) => xs.filter((_, i) => tail(used[i]!));
      return {
        kind: 'rolling-origin',
        horizons: used,
        lower,
        upper,
        lowerTail: fitCurve(pick(used), pick(lower), pick(windows)),
        upperTail: fitCurve(pick(used), pick(upper), pick(windows)),
      };
    }
  }

  // The prior: hourly coefficient of variation for the noise, a fixed level uncertainty.
  const mean = prefix[n]! / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (y[i]! - mean) ** 2;
  const cv = n > 1 ? Math.sqrt(ss / (n - 1)) / mean : 1;
  const z = normalQuantile(pHigh);
  const curve = { A: (z * cv) ** 2, C: (z * PRIOR_LEVEL_ERROR) ** 2, D: 0 };
  return { kind: 'prior', horizons: [], lower: [], upper: [], lowerTail: curve, upperTail: curve };
}

/** The relative error at one side's quantile for an h-hour sum: on the ladder, interpolated; past it, along the tail's shape. */
export function relativeQuantile(model: SumErrorModel, side: 'lower' | 'upper', h: number): number {
  const hs = model.horizons;
  const qs = model[side];
  const tail = side === 'lower' ? model.lowerTail : model.upperTail;
  if (!hs.length) return evaluateCurve(tail, h);
  if (h <= hs[0]!) return qs[0]!;
  const last = hs.length - 1;
  if (h >= hs[last]!) {
    const at = evaluateCurve(tail, hs[last]!);
    return at > 0 ? (qs[last]! * evaluateCurve(tail, h)) / at : qs[last]!;
  }
  let i = 1;
  while (hs[i]! < h) i++;
  const f = Math.log(h / hs[i - 1]!) / Math.log(hs[i]! / hs[i - 1]!);
  return qs[i - 1]! * (1 - f) + qs[i]! * f;
}

/**
 * The interval for a forecast sum of the next h hours (h may be fractional), given the recent
 * hourly rate; never below 0.
 */
export function sumInterval(model: SumErrorModel, forecastSum: number, h: number, rate: number): { lower: number; upper: number } {
  if (h <= 0) return { lower: 0, upper: 0 };
  const scale = errorScale(forecastSum, h, rate);
  return {
    lower: Math.max(0, forecastSum - relativeQuantile(model, 'lower', h) * scale),
    upper: Math.max(forecastSum, forecastSum + relativeQuantile(model, 'upper', h) * scale),
  };
}
