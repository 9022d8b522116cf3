// Rolling-origin backtest of forecastPeriodEnd: at origins spread through a series, forecast the
// rest of the period from the history before the origin, then score against what followed.
//
// Scores, per origin:
//   - MASE of the hourly forecasts over the rest of the period: mean absolute error divided by
//     the in-sample mean absolute error of the one-step seasonal-naive forecast with m = 24
//     (M4's definition for hourly data), for the ensemble and for each member alone;
//   - absolute percentage error of the end-of-period total;
//   - whether the 80% interval contains the true total, and the interval's width relative to it.
// Per series each score is averaged over its origins; families and the overall row average over
// series (as M4 does), so a long series does not outvote the others.
import { forecastPeriodEnd, periodBounds, type Period } from '../../src/cost/forecast/period-end.ts';
import { prefixSums, seasonalNaiveScale } from '../../src/cost/forecast/seasonal-naive.ts';
import type { SpendSeries } from './forecast-synthetic.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** M4's seasonal period for hourly series. */
export const MASE_PERIOD = 24;

export interface Origin {
  /** Hours of history before the origin (index of the first forecast hour). */
  index: number;
  periodStart: number;
  periodEnd: number;
}

/**
 * One origin per UTC day, at an hour that moves through the day (7 hours later each day, offset
 * per series) so every time of day is an origin somewhere; only origins with at least
 * minHistoryHours behind them and whose whole period lies inside the series.
 */
export function originsFor(series: SpendSeries, period: Period, minHistoryHours: number, offset: number): Origin[] {
  const n = series.values.length;
  const out: Origin[] = [];
  const firstDay = Math.floor(series.start / DAY);
  const lastDay = Math.floor((series.start + n * HOUR) / DAY);
  for (let day = firstDay; day <= lastDay; day++) {
    const at = day * DAY + ((day * 7 + offset) % 24) * HOUR;
    const index = (at - series.start) / HOUR;
    if (index < minHistoryHours || index >= n) continue;
    const { start, end } = periodBounds(at, period);
    const periodStart = (start - series.start) / HOUR;
    const periodEnd = (end - series.start) / HOUR;
    if (periodStart < 0 || periodEnd > n) continue;
    out.push({ index, periodStart, periodEnd });
  }
  return out;
}

export interface OriginScore {
  index: number;
  hoursRemaining: number;
  /** MASE of the ensemble and of each member kind (NaN where the member was not in the ensemble or the scale is 0). */
  mase: { ensemble: number; ets: number; snaive: number };
  /** |forecast - truth| / truth of the period's total (NaN for a zero total), and the same for each member alone. */
  ape: number;
  apeMembers: { ets: number; snaive: number };
  covered: boolean;
  /** (upper - lower) / truth. */
  width: number;
  method: string;
  interval: string;
  ms: number;
}

export function scoreOrigin(series: SpendSeries, prefix: Float64Array, o: Origin): OriginScore {
  const y = series.values;
  const history = y.subarray(0, o.index);
  const t0 = performance.now();
  const f = forecastPeriodEnd({ hourly: history, spentSoFar: prefix[o.index]! - prefix[o.periodStart]!, hoursRemaining: o.periodEnd - o.index, includePaths: true });
  const ms = performance.now() - t0;
  const truth = prefix[o.periodEnd]! - prefix[o.periodStart]!;
  const scale = seasonalNaiveScale(history, MASE_PERIOD);
  const mase = (path: Float64Array | undefined) => {
    if (!path || !(scale > 0)) return NaN;
    let s = 0;
    for (let k = 0; k < path.length; k++) s += Math.abs(y[o.index + k]! - path[k]!);
    return s / path.length / scale;
  };
  const memberIndex = (prefixOfName: string) => f.members.findIndex((m) => m.name.startsWith(prefixOfName));
  const memberPath = (prefixOfName: string) => {
    const i = memberIndex(prefixOfName);
    return i >= 0 ? f.paths!.members[i] : undefined;
  };
  const spent = prefix[o.index]! - prefix[o.periodStart]!;
  const ape = (total: number) => (truth > 0 ? Math.abs(total - truth) / truth : NaN);
  const memberApe = (prefixOfName: string) => {
    const i = memberIndex(prefixOfName);
    return i >= 0 ? ape(spent + f.members[i]!.remaining) : NaN;
  };
  return {
    index: o.index,
    hoursRemaining: o.periodEnd - o.index,
    mase: { ensemble: mase(f.paths!.mean), ets: mase(memberPath('ets')), snaive: mase(memberPath('snaive')) },
    ape: ape(f.mean),
    apeMembers: { ets: memberApe('ets'), snaive: memberApe('snaive') },
    covered: f.lower80 <= truth && truth <= f.upper80,
    width: truth > 0 ? (f.upper80 - f.lower80) / truth : NaN,
    method: f.method,
    interval: f.interval,
    ms,
  };
}

export interface SeriesScore {
  series: SpendSeries;
  period: Period;
  origins: number;
  maseEnsemble: number;
  maseEts: number;
  maseSnaive: number;
  mape: number;
  mapeEts: number;
  mapeSnaive: number;
  coverage: number;
  width: number;
  /** forecastPeriodEnd's method at each origin. */
  methods: string[];
  /** Time of each forecastPeriodEnd call, ms. */
  ms: number[];
}

/** Mean of the finite values (NaN when there are none). */
export function meanOf(xs: readonly number[]): number {
  const f = xs.filter(Number.isFinite);
  return f.length ? f.reduce((a, b) => a + b, 0) / f.length : NaN;
}

export function backtestSeries(series: SpendSeries, period: Period, minHistoryHours: number, offset: number): SeriesScore {
  const prefix = prefixSums(series.values);
  const scores = originsFor(series, period, minHistoryHours, offset).map((o) => scoreOrigin(series, prefix, o));
  return {
    series,
    period,
    origins: scores.length,
    maseEnsemble: meanOf(scores.map((s) => s.mase.ensemble)),
    maseEts: meanOf(scores.map((s) => s.mase.ets)),
    maseSnaive: meanOf(scores.map((s) => s.mase.snaive)),
    mape: meanOf(scores.map((s) => s.ape)),
    mapeEts: meanOf(scores.map((s) => s.apeMembers.ets)),
    mapeSnaive: meanOf(scores.map((s) => s.apeMembers.snaive)),
    coverage: meanOf(scores.map((s) => (s.covered ? 1 : 0))),
    width: meanOf(scores.map((s) => s.width)),
    methods: scores.map((s) => s.method),
    ms: scores.map((s) => s.ms),
  };
}

const METRICS = ['maseEnsemble', 'maseEts', 'maseSnaive', 'mape', 'mapeEts', 'mapeSnaive', 'coverage', 'width'] as const;
export type Summary = Record<(typeof METRICS)[number], number> & { series: number; origins: number };

/** Series-weighted means of a group of series' scores (or of summaries, each counting as one). */
export function summarize(scores: ReadonlyArray<SeriesScore | Summary>): Summary {
  const out = { series: 0, origins: 0 } as Summary;
  for (const k of METRICS) out[k] = meanOf(scores.map((s) => s[k]));
  for (const s of scores) {
    out.series += 'series' in s && typeof s.series === 'number' ? s.series : 1;
    out.origins += s.origins;
  }
  return out;
}
