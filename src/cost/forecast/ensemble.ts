// The forecast ensemble: Holt-Winters (ETS) and seasonal naive, averaged with equal weights.
// The M4 competition's lesson was that simple combinations beat any single model, and that
// estimating combination weights rarely beats equal ones on short, shifting histories; ETS
// smooths noise, seasonal naive never drifts away from what last week did.
//
// Which members, by history length n (hours):
//   n < 24          level only: the mean hourly spend so far (no cycle can be seen yet)
//   24 <= n < 48    seasonal naive over the last day, and the mean
//   48 <= n < 336   ETS with a daily cycle, and seasonal naive over the last day
//   n >= 336        ETS with daily and weekly cycles, and seasonal naive over the last week
// The weekly cycle waits for two full weeks: one week cannot tell a weekly rhythm from noise.
//
// No trend unless the history earns one: from four weeks on, a trended ensemble is fitted too
// (damped-trend ETS, seasonal naive with drift) and replaces the flat one only if its
// rolling-origin errors on day-to-week sums are clearly smaller. A trend fitted to a few noisy
// weeks mostly extrapolates a busy or a quiet week over the rest of the month; in the backtest an
// always-on trend cost accuracy and interval coverage. Both members of the trended ensemble
// carry the trend: with seasonal naive left flat, the average would extrapolate half of it.
import { describeSpec, filter, fitEts, forecastPath, initialState, PathSums, type EtsModel, type EtsSpec } from './ets.ts';
import { driftWeight, prefixSums, seasonalDrift, seasonalNaivePath, seasonalNaiveSum } from './seasonal-naive.ts';

const DAY = 24;
const WEEK = 168;

export interface Member {
  name: string;
  /** Hours of history a backtest origin needs before it (states to initialise, a cycle to repeat). */
  warmup: number;
  /** Hourly forecasts (>= 0) for the h hours after the history. */
  path(h: number): Float64Array;
  /**
   * Rolling origin over the history: for each origin t (ascending, >= warmup) and horizon h, the
   * sum of this member's forecasts of y[t..t+h) from y[0..t), row-major (origins x horizons).
   * Parameters stay as fitted on the whole history, but states are rebuilt from the data before
   * each origin only (ETS initialises from the hours before the first origin), so the errors are
   * honest about the states, the part that carries the level and the cycles.
   */
  backtestSums(origins: readonly number[], horizons: readonly number[]): Float64Array;
}

export interface Ensemble {
  members: Member[];
  weights: number[];
  /** The largest member warmup. */
  warmup: number;
  /** e.g. "ensemble(ets(A,Ad,A[24+168]), snaive(168))". */
  method: string;
  /** Weighted hourly forecasts (>= 0). */
  path(h: number): Float64Array;
  /** Weighted backtest sums, as Member.backtestSums. */
  backtestSums(origins: readonly number[], horizons: readonly number[]): Float64Array;
}

/** The flat (no trend) ETS for a history of n hours, or null below two days. */
export function etsSpecFor(n: number): EtsSpec | null {
  if (n < 2 * DAY) return null;
  return { trend: false, periods: n >= 2 * WEEK ? [DAY, WEEK] : [DAY] };
}

/** History needed before a trend is considered: two cycles to initialise it, two to test it on. */
export const TREND_MIN_HOURS = 4 * WEEK;
/** The trend must cut the flat model's backtest error by this fraction. */
const TREND_MARGIN = 0.1;
/** Sum horizons the trend is judged on, hours between origins, and the backtest's constraints. */
const TREND_HORIZONS = [24, 72, 168];
const TREND_STRIDE = 6;
const MIN_WINDOWS = 3;

export function seasonalNaivePeriodFor(n: number): number | null {
  return n >= 2 * WEEK ? WEEK : n >= DAY ? DAY : null;
}

export function etsMember(y: Float64Array, model: EtsModel): Member {
  return {
    name: describeSpec(model.spec),
    // A trend is initialised from the change between the first and the last of two cycles.
    warmup: (model.spec.trend ? 2 : 1) * (model.spec.periods.at(-1) ?? DAY),
    path(h) {
      const p = forecastPath(model.final, model.params, h);
      for (let k = 0; k < h; k++) if (p[k]! < 0) p[k] = 0;
      return p;
    },
    backtestSums(origins, horizons) {
      const out = new Float64Array(origins.length * horizons.length);
      if (!origins.length) return out;
      const state = initialState(y.subarray(0, origins[0]), model.spec);
      origins.forEach((t, i) => {
        filter(y, state.t, t, state, model.params);
        const sums = new PathSums(state, model.params);
        horizons.forEach((h, j) => (out[i * horizons.length + j] = sums.sum(h)));
      });
      return out;
    },
  };
}

/** Seasonal naive over `period`; with drift, plus the per-hour change seen between the history's first and last cycles. */
export function seasonalNaiveMember(y: Float64Array, period: number, drift = false): Member {
  const prefix = prefixSums(y);
  return {
    name: `snaive(${period})${drift ? '+drift' : ''}`,
    warmup: (drift ? 2 : 1) * period,
    path(h) {
      const p = seasonalNaivePath(y, period, h);
      const d = drift ? seasonalDrift(prefix, y.length, period) : 0;
      if (d !== 0) for (let k = 0; k < h; k++) p[k] = Math.max(0, p[k]! + d * period * (Math.floor(k / period) + 1));
      return p;
    },
    backtestSums(origins, horizons) {
      const out = new Float64Array(origins.length * horizons.length);
      origins.forEach((t, i) => {
        const d = drift ? seasonalDrift(prefix, t, period) : 0;
        // Before one full cycle there is nothing to repeat: fall back to the mean so far.
        horizons.forEach((h, j) => (out[i * horizons.length + j] = t >= period ? seasonalNaiveSum(prefix, t, period, h) + d * driftWeight(period, h) : t > 0 ? (prefix[t]! / t) * h : 0));
      });
      return out;
    },
  };
}

/** The mean hourly spend of the whole history, every hour. */
export function meanMember(y: Float64Array): Member {
  const prefix = prefixSums(y);
  return {
    name: 'mean',
    warmup: 1,
    path: (h) => new Float64Array(h).fill(y.length ? prefix[y.length]! / y.length : 0),
    backtestSums(origins, horizons) {
      const out = new Float64Array(origins.length * horizons.length);
      origins.forEach((t, i) => horizons.forEach((h, j) => (out[i * horizons.length + j] = t > 0 ? (prefix[t]! / t) * h : 0)));
      return out;
    },
  };
}

export interface EnsembleOptions {
  /** Nelder-Mead evaluations for the ETS fit. */
  maxEvals: number;
}

/** Fits the members that suit y's length; y must be clean (finite, >= 0) and non-empty. */
export function fitEnsemble(y: Float64Array, options: Partial<EnsembleOptions> = {}): Ensemble {
  const n = y.length;
  if (n === 0) throw new RangeError('fitEnsemble needs at least one hour of history');
  const fit = options.maxEvals ? { maxEvals: options.maxEvals } : {};
  const spec = etsSpecFor(n);
  const period = seasonalNaivePeriodFor(n);
  if (!spec) return combine(period ? [seasonalNaiveMember(y, period), meanMember(y)] : [meanMember(y)]);
  const flat = combine([etsMember(y, fitEts(y, spec, fit)), seasonalNaiveMember(y, period!)]);
  if (n < TREND_MIN_HOURS) return flat;
  const trended = combine([etsMember(y, fitEts(y, { ...spec, trend: true }, fit)), seasonalNaiveMember(y, period!, true)]);
  const [flatError, trendError] = backtestErrors(y, [flat, trended]);
  return trendError! < (1 - TREND_MARGIN) * flatError! ? trended : flat;
}

/**
 * Each candidate's (member's or ensemble's) mean squared relative error of day-to-week sums over
 * the same rolling origins: (actual - forecast) / (h * mean hourly spend of the week before the
 * origin). Infinity for all when the history has no room for such a backtest.
 */
export function backtestErrors(y: Float64Array, members: ReadonlyArray<Pick<Member, 'warmup' | 'backtestSums'>>): number[] {
  const n = y.length;
  const prefix = prefixSums(y);
  const first = Math.max(Math.floor(n / 4), ...members.map((m) => m.warmup));
  const horizons = TREND_HORIZONS.filter((h) => (n - first) / h >= MIN_WINDOWS);
  const origins: number[] = [];
  for (let t = first; t + horizons[0]! <= n; t += TREND_STRIDE) origins.push(t);
  if (!horizons.length || !origins.length) return members.map(() => Infinity);
  return members.map((m) => {
    const sums = m.backtestSums(origins, horizons);
    let sq = 0;
    let count = 0;
    origins.forEach((t, i) => {
      const from = Math.max(0, t - WEEK);
      const rate = (prefix[t]! - prefix[from]!) / (t - from);
      if (!(rate > 0)) return;
      horizons.forEach((h, j) => {
        if (t + h > n) return;
        const e = (prefix[t + h]! - prefix[t]! - sums[i * horizons.length + j]!) / (h * rate);
        sq += e * e;
        count++;
      });
    });
    return count ? sq / count : Infinity;
  });
}

/** Equal-weight combination (weights default to 1/k). */
export function combine(members: Member[], weights: number[] = members.map(() => 1 / members.length)): Ensemble {
  return {
    members,
    weights,
    warmup: Math.max(...members.map((m) => m.warmup)),
    method: members.length === 1 ? members[0]!.name : `ensemble(${members.map((m) => m.name).join(', ')})`,
    path(h) {
      const out = new Float64Array(h);
      members.forEach((m, i) => {
        const p = m.path(h);
        for (let k = 0; k < h; k++) out[k]! += weights[i]! * p[k]!;
      });
      return out;
    },
    backtestSums(origins, horizons) {
      const out = new Float64Array(origins.length * horizons.length);
      members.forEach((m, i) => {
        const s = m.backtestSums(origins, horizons);
        for (let k = 0; k < out.length; k++) out[k]! += weights[i]! * s[k]!;
      });
      return out;
    },
  };
}
