// Additive Holt-Winters exponential smoothing, in its state-space (error-correction) form:
// ETS(A,Ad,A) with zero, one or two seasonal cycles. Two cycles is Taylor's double-seasonal
// Holt-Winters (J. W. Taylor, "Short-term electricity demand forecasting using double seasonal
// exponential smoothing", 2003): hourly spend has a daily rhythm (24) and a weekly one (168), and
// a separate daily component is updated seven times as often as a weekly slot, so a few weeks of
// history are enough to pin it down.
//
//   forecast  f_t = l + phi*b + d[t mod 24] + w[t mod 168]
//   error     e_t = y_t - f_t
//   update    l += phi*b + alpha*e;  b = phi*b + beta*e;  d[t mod 24] += gamma1*e;  w[t mod 168] += gamma2*e
//
// Seasonal slots are positional (index t mod period, t counted from the first value given), so
// the history must be contiguous hours; the caller fills gaps. The initial states come from the
// first few cycles of the data (classical decomposition), the smoothing parameters from
// Nelder-Mead (as in forecast::ets) on in-sample errors of the next hour and of day and week
// sums (fitEts).
// Additive, not multiplicative, seasonality: spend has hours of exactly 0, which multiplicative
// models cannot represent.
import { nelderMead } from './nelder-mead.ts';
import { prefixSums } from './seasonal-naive.ts';

export interface EtsSpec {
  /** A damped additive trend; without it the level is flat in the forecast. */
  trend: boolean;
  /** Seasonal cycles in hours, shortest first: [], [24] or [24, 168]. */
  periods: readonly number[];
}

export interface EtsParams {
  alpha: number;
  /** Trend smoothing (0 without a trend). */
  beta: number;
  /** Trend damping per hour (1 without a trend, where it has no effect). */
  phi: number;
  /** One per seasonal cycle. */
  gammas: number[];
}

export interface EtsState {
  level: number;
  trend: number;
  /** Ring per cycle: seasons[i][t mod periods[i]] is the component for hour t. */
  seasons: Float64Array[];
  /** Hours consumed so far (the index of the next hour). */
  t: number;
}

export interface EtsModel {
  spec: EtsSpec;
  params: EtsParams;
  /** State before the first value. */
  initial: EtsState;
  /** State after the last value: the forecast origin. */
  final: EtsState;
  /** In-sample one-step errors' mean square. */
  mse: number;
  /** Objective evaluations the fit took. */
  evals: number;
}

/**
 * Parameter ranges. alpha is capped well below 1: hourly spend is noisy, and a level that jumps
 * to every hour's value makes a month-long sum hostage to the last hour. phi is a per-hour
 * damping, so its range is narrow and close to 1: from 0.9 (a trend fades within a day) to
 * 0.9995 (it fades over months).
 */
const ALPHA = [0.001, 0.5] as const;
const BETA_OF_ALPHA = [0, 0.1] as const;
const PHI = [0.9, 0.9995] as const;
const GAMMA_OF_REST = [0, 0.5] as const;
const START = { alpha: 0.05, betaRatio: 0.01, phi: 0.99, gammaRatio: 0.1 };
/** Cycles of data used to initialise the level and seasonal states. */
const INIT_CYCLES = 4;

const logistic = (x: number) => 1 / (1 + Math.exp(-x));
const logit = (p: number) => Math.log(p / (1 - p));
const within = (range: readonly [number, number], u: number) => range[0] + (range[1] - range[0]) * u;
const unwithin = (range: readonly [number, number], v: number) => logit(Math.min(1 - 1e-9, Math.max(1e-9, (v - range[0]) / (range[1] - range[0]))));

/** Unconstrained vector -> parameters inside the usual region (beta <= alpha, gammas <= 1 - alpha). */
function toParams(spec: EtsSpec, x: readonly number[]): EtsParams {
  const alpha = within(ALPHA, logistic(x[0]!));
  let i = 1;
  let beta = 0;
  let phi = 1;
  if (spec.trend) {
    beta = alpha * within(BETA_OF_ALPHA, logistic(x[i++]!));
    phi = within(PHI, logistic(x[i++]!));
  }
  const gammas = spec.periods.map(() => (1 - alpha) * within(GAMMA_OF_REST, logistic(x[i++]!)));
  return { alpha, beta, phi, gammas };
}

function startVector(spec: EtsSpec): number[] {
  const x = [unwithin(ALPHA, START.alpha)];
  if (spec.trend) x.push(unwithin(BETA_OF_ALPHA, START.betaRatio), unwithin(PHI, START.phi));
  spec.periods.forEach(() => x.push(unwithin(GAMMA_OF_REST, START.gammaRatio)));
  return x;
}

export function copyState(s: EtsState): EtsState {
  return { level: s.level, trend: s.trend, seasons: s.seasons.map((r) => r.slice()), t: s.t };
}

/**
 * Level, trend and seasonal states from the first few cycles: the seasonal components are the
 * mean of each slot minus the overall mean (the weekly one also minus the daily one), the trend
 * the change between the first and the last of those cycles.
 */
export function initialState(y: ArrayLike<number>, spec: EtsSpec): EtsState {
  const n = y.length;
  const longest = spec.periods.at(-1) ?? 24;
  const cycles = Math.max(1, Math.min(INIT_CYCLES, Math.floor(n / longest)));
  const len = Math.min(n, cycles * longest);
  if (len === 0) return { level: 0, trend: 0, seasons: spec.periods.map((m) => new Float64Array(m)), t: 0 };
  const mean = (from: number, to: number) => {
    let s = 0;
    for (let i = from; i < to; i++) s += y[i]!;
    return s / (to - from);
  };
  const base = mean(0, len);
  let trend = 0;
  if (spec.trend && cycles >= 2) trend = (mean(len - longest, len) - mean(0, longest)) / ((cycles - 1) * longest);
  const seasons: Float64Array[] = [];
  let explained: Float64Array | null = null;
  for (const m of spec.periods) {
    const ring = new Float64Array(m);
    const count = new Float64Array(m);
    for (let i = 0; i < len; i++) {
      // Detrended, and net of the shorter cycles already extracted.
      ring[i % m]! += y[i]! - base - trend * (i - (len - 1) / 2) - (explained ? explained[i % explained.length]! : 0);
      count[i % m]!++;
    }
    for (let k = 0; k < m; k++) ring[k] = count[k]! ? ring[k]! / count[k]! : 0;
    seasons.push(ring);
    explained = ring;
  }
  // The level before the first hour: the window's mean, moved back to t = -1 along the trend.
  return { level: base - trend * ((len + 1) / 2), trend, seasons, t: 0 };
}

/**
 * Scoring of multi-hour sums during a filter pass: at every `stride`-th hour from `first`, the
 * state's forecast of the next h hours' sum, for each h in `horizons`, against what followed.
 */
export interface SumScoring {
  /** prefixSums of the same y the filter reads. */
  prefix: Float64Array;
  horizons: readonly number[];
  first: number;
  stride: number;
  /** Per horizon: sum of squared sum errors divided by h, and the count of origins. */
  sse: Float64Array;
  count: Float64Array;
}

/**
 * Feeds y[from..to) through the state, updating it in place; returns the sum of squared one-step
 * errors (and fills `scoring` when given). The hot loop of the fit: two rings at most, unrolled.
 */
export function filter(y: ArrayLike<number>, from: number, to: number, state: EtsState, params: EtsParams, scoring?: SumScoring): number {
  const { alpha, beta, phi } = params;
  const r1 = state.seasons[0];
  const r2 = state.seasons[1];
  const g1 = params.gammas[0] ?? 0;
  const g2 = params.gammas[1] ?? 0;
  const m1 = r1?.length ?? 1;
  const m2 = r2?.length ?? 1;
  let l = state.level;
  let b = state.trend;
  let t = state.t;
  let sse = 0;
  let total1 = 0;
  let total2 = 0;
  let trendSums: number[] = [];
  if (scoring) {
    for (let k = 0; k < m1; k++) total1 += r1 ? r1[k]! : 0;
    for (let k = 0; k < m2; k++) total2 += r2 ? r2[k]! : 0;
    trendSums = scoring.horizons.map((h) => dampedTrendSum(phi, h));
  }
  for (let i = from; i < to; i++, t++) {
    if (scoring && i >= scoring.first && (i - scoring.first) % scoring.stride === 0) {
      const hs = scoring.horizons;
      for (let j = 0; j < hs.length; j++) {
        const h = hs[j]!;
        if (i + h > to) break;
        let f = h * l + trendSums[j]! * b;
        if (r1) f += Math.floor(h / m1) * total1 + partialCycle(r1, t, h % m1);
        if (r2) f += Math.floor(h / m2) * total2 + partialCycle(r2, t, h % m2);
        const e = scoring.prefix[i + h]! - scoring.prefix[i]! - f;
        scoring.sse[j]! += (e * e) / h;
        scoring.count[j]!++;
      }
    }
    const k1 = t % m1;
    const k2 = t % m2;
    const s1 = r1 ? r1[k1]! : 0;
    const s2 = r2 ? r2[k2]! : 0;
    const base = l + phi * b;
    const e = y[i]! - base - s1 - s2;
    sse += e * e;
    l = base + alpha * e;
    b = phi * b + beta * e;
    if (r1) {
      r1[k1] = s1 + g1 * e;
      total1 += g1 * e;
    }
    if (r2) {
      r2[k2] = s2 + g2 * e;
      total2 += g2 * e;
    }
  }
  state.level = l;
  state.trend = b;
  state.t = t;
  return sse;
}

/** ring[t mod m] + ... + ring[(t + len - 1) mod m]. */
function partialCycle(ring: Float64Array, t: number, len: number): number {
  const m = ring.length;
  let s = 0;
  for (let k = 0, idx = t % m; k < len; k++, idx = idx + 1 === m ? 0 : idx + 1) s += ring[idx]!;
  return s;
}

/** Sum over j = 1..h of (phi + phi^2 + ... + phi^j): how much of the trend h forecast hours add up. */
export function dampedTrendSum(phi: number, h: number): number {
  if (Math.abs(1 - phi) < 1e-12) return (h * (h + 1)) / 2;
  const r = phi / (1 - phi);
  return r * (h - (phi * (1 - Math.pow(phi, h))) / (1 - phi));
}

/** Hourly point forecasts for the h hours after the state. */
export function forecastPath(state: EtsState, params: EtsParams, h: number): Float64Array {
  const out = new Float64Array(h);
  let damp = 0;
  let pow = 1;
  for (let k = 0; k < h; k++) {
    pow *= params.phi;
    damp += pow;
    let s = 0;
    for (const ring of state.seasons) s += ring[(state.t + k) % ring.length]!;
    out[k] = state.level + damp * state.trend + s;
  }
  return out;
}

/**
 * Sums of the next h hourly forecasts from one state, for many h at O(1) each after an O(period)
 * set-up: rolling-origin interval calibration asks this at every in-sample origin.
 */
export class PathSums {
  private readonly prefixes: Float64Array[] = [];
  private readonly totals: number[] = [];

  constructor(
    private readonly state: EtsState,
    private readonly params: EtsParams,
  ) {
    for (const ring of state.seasons) {
      const m = ring.length;
      const p = new Float64Array(m + 1);
      for (let k = 0; k < m; k++) p[k + 1] = p[k]! + ring[(state.t + k) % m]!;
      this.prefixes.push(p);
      this.totals.push(p[m]!);
    }
  }

  sum(h: number): number {
    let s = h * this.state.level + dampedTrendSum(this.params.phi, h) * this.state.trend;
    for (let i = 0; i < this.prefixes.length; i++) {
      const p = this.prefixes[i]!;
      const m = p.length - 1;
      s += Math.floor(h / m) * this.totals[i]! + p[h % m]!;
    }
    return s;
  }
}

export interface EtsFitOptions {
  /** Objective evaluations allowed (each is one pass over the history). */
  maxEvals: number;
  /** Sums the fit is also scored on, besides one-step errors (hours); [] for one-step only. */
  sumHorizons: readonly number[];
  /** Hours between the origins those sums are scored from. */
  sumStride: number;
}

export const DEFAULT_ETS_FIT: Readonly<EtsFitOptions> = { maxEvals: 200, sumHorizons: [24, 168], sumStride: 6 };
/** A sum horizon counts only with at least this many origins in the history. */
const MIN_SUM_ORIGINS = 8;

/**
 * Fits the smoothing parameters to y (at least one value). The loss is the sum of the logs of the
 * one-step mean squared error and, per sum horizon h, of the mean squared error of h-hour sums:
 * every horizon counts by its relative improvement. One-step errors alone favour a level that
 * chases the last few hours, right for the next hour and wrong for the rest of the month (a busy
 * afternoon extrapolated over weeks); the sum terms make the fit answer the question the
 * forecaster is asked. Summed raw, the weekly term would dwarf the others and the fit would chase
 * the handful of weekly windows a few weeks of history hold; in logs, no horizon dominates.
 */
export function fitEts(y: ArrayLike<number>, spec: EtsSpec, options: Partial<EtsFitOptions> = {}): EtsModel {
  const o = { ...DEFAULT_ETS_FIT, ...options };
  const n = y.length;
  if (n === 0) throw new RangeError('fitEts needs at least one value');
  const initial = initialState(y, spec);
  const work = copyState(initial);
  const restore = () => {
    work.level = initial.level;
    work.trend = initial.trend;
    work.t = 0;
    for (let i = 0; i < work.seasons.length; i++) work.seasons[i]!.set(initial.seasons[i]!);
  };
  // Sum errors are scored after the first cycle, where the states have started to learn.
  const first = spec.periods.at(-1) ?? 24;
  const horizons = o.sumHorizons.filter((h) => (n - h - first) / o.sumStride >= MIN_SUM_ORIGINS).sort((a, b) => a - b);
  const scoring: SumScoring | undefined = horizons.length
    ? { prefix: prefixSums(y), horizons, first, stride: o.sumStride, sse: new Float64Array(horizons.length), count: new Float64Array(horizons.length) }
    : undefined;
  // Keeps log() finite on a series the model fits exactly.
  let meanSquare = 0;
  for (let i = 0; i < n; i++) meanSquare += (y[i]! * y[i]!) / n;
  const tiny = 1e-12 * meanSquare + Number.MIN_VALUE;
  const objective = (x: readonly number[]) => {
    restore();
    if (scoring) {
      scoring.sse.fill(0);
      scoring.count.fill(0);
    }
    let loss = Math.log(filter(y, 0, n, work, toParams(spec, x), scoring) / n + tiny);
    if (scoring) for (let j = 0; j < horizons.length; j++) loss += Math.log(scoring.sse[j]! / Math.max(1, scoring.count[j]!) + tiny);
    return loss;
  };
  const best = nelderMead(objective, startVector(spec), { maxEvals: o.maxEvals, step: 1 });
  const params = toParams(spec, best.x);
  const final = copyState(initial);
  const sse = filter(y, 0, n, final, params);
  return { spec, params, initial, final, mse: sse / n, evals: best.evals };
}

export function describeSpec(spec: EtsSpec): string {
  return `ets(A,${spec.trend ? 'Ad' : 'N'},${spec.periods.length ? `A[${spec.periods.join('+')}]` : 'N'})`;
}
