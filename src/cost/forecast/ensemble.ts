// The forecast ensemble: Holt-Winters (ETS) and seasonal naive, averaged with equal weights.
// The M4 competition's lesson was that simple combinations beat any single model, and that
// estimating combination weights rarely beats equal ones on short, shifting histories; ETS
// smooths noise and follows trends, seasonal naive never drifts away from what last week did.
//
// Which members, by history length n (hours):
//   n < 24          level only: the mean hourly spend so far (no cycle can be seen yet)
//   24 <= n < 48    seasonal naive over the last day, and the mean
//   48 <= n < 336   ETS with a daily cycle, and seasonal naive over the last day
//   n >= 336        ETS with daily and weekly cycles, and seasonal naive over the last week
// The weekly cycle waits for two full weeks: one week cannot tell a weekly rhythm from noise.
// ETS gets a damped trend from one week of history on; a trend seen in a few days is mostly noise.
import { describeSpec, filter, fitEts, forecastPath, initialState, PathSums, type EtsModel, type EtsSpec } from './ets.ts';
import { prefixSums, seasonalNaivePath, seasonalNaiveSum } from './seasonal-naive.ts';

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

export function etsSpecFor(n: number): EtsSpec | null {
  if (n < 2 * DAY) return null;
  return { trend: n >= WEEK, periods: n >= 2 * WEEK ? [DAY, WEEK] : [DAY] };
}

export function seasonalNaivePeriodFor(n: number): number | null {
  return n >= 2 * WEEK ? WEEK : n >= DAY ? DAY : null;
}

export function etsMember(y: Float64Array, model: EtsModel): Member {
  return {
    name: describeSpec(model.spec),
    warmup: model.spec.periods.at(-1) ?? 24,
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

export function seasonalNaiveMember(y: Float64Array, period: number): Member {
  const prefix = prefixSums(y);
  return {
    name: `snaive(${period})`,
    warmup: period,
    path: (h) => seasonalNaivePath(y, period, h),
    backtestSums(origins, horizons) {
      const out = new Float64Array(origins.length * horizons.length);
      origins.forEach((t, i) => {
        // Before one full cycle there is nothing to repeat: fall back to the mean so far.
        horizons.forEach((h, j) => (out[i * horizons.length + j] = t >= period ? seasonalNaiveSum(prefix, t, period, h) : t > 0 ? (prefix[t]! / t) * h : 0));
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
  const members: Member[] = [];
  const spec = etsSpecFor(n);
  const V = process.env.FV ?? 'C';
  if (spec && V === 'A') spec.trend = false;
  if (spec) members.push(etsMember(y, fitEts(y, spec, options.maxEvals ? { maxEvals: options.maxEvals } : {})));
  if (spec && V === 'B' && spec.trend) members.push(etsMember(y, fitEts(y, { ...spec, trend: false }, options.maxEvals ? { maxEvals: options.maxEvals } : {})));
  const period = seasonalNaivePeriodFor(n);
  if (period) members.push(seasonalNaiveMember(y, period));
  if (!spec) members.push(meanMember(y));
  return combine(members);
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
