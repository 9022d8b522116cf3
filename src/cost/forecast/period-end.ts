// A tenant's spend at the end of the billing period (UTC day or UTC month): what is spent so far
// plus the ensemble's forecast of the remaining hours, with a prediction interval for that sum.
//
// Runs once a minute per tenant on the sidecar's event loop, so the history is capped
// (maxHistoryHours) and the fit's evaluations bounded: a month of hours fits in a few ms.
import { cleanHourly, ForecastInputError, MAX_HORIZON_HOURS, requireNonNegative } from './clean.ts';
import { fitEnsemble } from './ensemble.ts';
import { calibrateSumErrors, recentRate, sumInterval, type SumErrorModel } from './interval.ts';
import { prefixSums } from './seasonal-naive.ts';

export type Period = 'day' | 'month';

export interface PeriodEndInput {
  /** Spend per hour in dollars, oldest first, contiguous, ending at the last complete hour. NaN marks an hour with no data (filled in). */
  hourly: readonly number[] | Float64Array;
  /** Spend in the current period so far, including the current partial hour. */
  spentSoFar: number;
  /** Hours from now to the end of the period; fractional when now is inside an hour (see hoursUntilPeriodEnd). */
  hoursRemaining: number;
  /** Central coverage of the interval reported as lower80/upper80; default 0.8. */
  coverage?: number;
  /** Only the most recent hours are used; default 8 weeks. */
  maxHistoryHours?: number;
  /** Also return the hourly forecasts (for charts and the backtest). */
  includePaths?: boolean;
}

export interface SpendRange {
  mean: number;
  lower80: number;
  upper80: number;
}

export interface PeriodEndForecast extends SpendRange {
  /** The forecast of the remaining hours alone (the totals minus spentSoFar). */
  remaining: SpendRange;
  /** What produced the mean: e.g. "ensemble(ets(A,Ad,A[24+168]), snaive(168))", "mean", "none". */
  method: string;
  /** Each member's own forecast of the remaining hours, and its weight in the mean. */
  members: Array<{ name: string; weight: number; remaining: number }>;
  /** How the interval was calibrated: on the history's own rolling-origin errors, a prior, or none. */
  interval: SumErrorModel['kind'];
  /** Hours of history used. */
  historyHours: number;
  /** Repairs made to the input, for logs. */
  warnings: string[];
  /** With includePaths: hourly forecasts from the current hour (whole, not just its remaining part) to the period's end. */
  paths?: { mean: Float64Array; members: Float64Array[] };
}

/** Eight weeks: enough weekly cycles to learn from, a fit that stays cheap, and old behaviour forgotten. */
export const DEFAULT_MAX_HISTORY_HOURS = 8 * 168;
const HOUR_MS = 3_600_000;

/** Start and end (exclusive), in ms, of the UTC day or month containing nowMs. */
export function periodBounds(nowMs: number, period: Period): { start: number; end: number } {
  const d = new Date(nowMs);
  if (period === 'day') {
    const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
    return { start, end: start + 24 * HOUR_MS };
  }
  return { start: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), end: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
}

/** Hours from nowMs to the end of its UTC day or month (fractional). */
export function hoursUntilPeriodEnd(nowMs: number, period: Period): number {
  return (periodBounds(nowMs, period).end - nowMs) / HOUR_MS;
}

export function forecastPeriodEnd(input: PeriodEndInput): PeriodEndForecast {
  if (input === null || typeof input !== 'object') throw new ForecastInputError('forecastPeriodEnd needs an object { hourly, spentSoFar, hoursRemaining }');
  const spentSoFar = requireNonNegative('spentSoFar', input.spentSoFar);
  const hoursRemaining = requireNonNegative('hoursRemaining', input.hoursRemaining, MAX_HORIZON_HOURS);
  const coverage = input.coverage ?? 0.8;
  if (typeof coverage !== 'number' || !(coverage > 0 && coverage < 1)) throw new ForecastInputError(`coverage must be a number strictly between 0 and 1, got ${String(coverage)}`);
  const maxHistory = input.maxHistoryHours ?? DEFAULT_MAX_HISTORY_HOURS;
  if (!Number.isInteger(maxHistory) || maxHistory < 1) throw new ForecastInputError(`maxHistoryHours must be a positive integer, got ${String(maxHistory)}`);

  const clean = cleanHourly(input.hourly);
  const warnings: string[] = [];
  if (clean.filled) warnings.push(`${clean.filled} missing or non-finite hour(s) filled in`);
  if (clean.clamped) warnings.push(`${clean.clamped} negative hour(s) counted as 0`);
  const y = clean.values.length > maxHistory ? clean.values.subarray(clean.values.length - maxHistory) : clean.values;
  const n = y.length;

  if (hoursRemaining === 0 || n === 0) {
    if (n === 0 && hoursRemaining > 0) warnings.push('no complete hour of history: the forecast is the spend so far');
    const none: SpendRange = { mean: 0, lower80: 0, upper80: 0 };
    return { mean: spentSoFar, lower80: spentSoFar, upper80: spentSoFar, remaining: none, method: 'none', members: [], interval: 'none', historyHours: n, warnings };
  }

  const ensemble = fitEnsemble(y);
  // The first forecast hour is the current one, of which only part remains.
  const steps = Math.ceil(hoursRemaining);
  const firstWeight = hoursRemaining - (steps - 1);
  const sumOf = (p: Float64Array) => {
    let s = firstWeight * p[0]!;
    for (let k = 1; k < p.length; k++) s += p[k]!;
    return s;
  };
  const memberPaths = ensemble.members.map((m) => m.path(steps));
  const memberSums = memberPaths.map(sumOf);
  const mean = memberSums.reduce((s, v, i) => s + ensemble.weights[i]! * v, 0);

  const errors = calibrateSumErrors(y, ensemble, { coverage });
  const { lower, upper } = sumInterval(errors, mean, hoursRemaining, recentRate(prefixSums(y), n));
  return {
    mean: spentSoFar + mean,
    lower80: spentSoFar + lower,
    upper80: spentSoFar + upper,
    remaining: { mean, lower80: lower, upper80: upper },
    method: ensemble.method,
    members: ensemble.members.map((m, i) => ({ name: m.name, weight: ensemble.weights[i]!, remaining: memberSums[i]! })),
    interval: errors.kind,
    historyHours: n,
    warnings,
    ...(input.includePaths ? { paths: { mean: ensemble.path(steps), members: memberPaths } } : {}),
  };
}
