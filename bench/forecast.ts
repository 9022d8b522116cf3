// npm run bench:forecast: a rolling-origin backtest of the spend forecaster (src/cost/forecast).
//
// Series, hourly "spend":
//   - synthetic tenants (bench/lib/forecast-synthetic.ts), four months from 2026-01-01, three
//     seeds each: office hours, a start-up growing 30% a month, a base load with random
//     log-normal spikes, a weekend-heavy consumer app, a nightly batch job with idle (zero)
//     hours, and a tenant whose spend steps up 60% on day 50 (which no forecast sees coming);
//   - NAB series (../shared/data/nab, read in place), summed into UTC hours and read as spend:
//       nyc_taxi: taxi passengers per 30 min over seven months. Strong daily and weekly cycles,
//         like a consumer-facing workload, with real holidays (Thanksgiving, Christmas, New Year)
//         and a snow storm that no model sees coming; the most whole months to forecast.
//       Twitter_volume_AMZN: mentions per 5 min, the Twitter series with the clearest daily and
//         weekly rhythm (autocorrelation 0.59 at a day, 0.50 at a week, summed hourly), plus
//         news bursts. Eight weeks, so only March is a whole month, forecast with 2-5 weeks of
//         history: the short-history path on real data.
//       Twitter_volume_CRM: a small, bursty volume (about 40 mentions an hour) with a weaker
//         rhythm, like a small tenant whose bill moves with occasional jobs.
//     Left out: the AWS CloudWatch and traffic series cover about two weeks (no whole month), the
//     ad-exchange series are prices (cost per click), not amounts, and the machine temperatures
//     have no daily cycle.
//
// Origins: one a day, at an hour that moves 7 h a day (so every hour of the day is an origin
// somewhere), from two weeks of history on, wherever the whole month (or day) lies inside the
// series. At each, forecastPeriodEnd gets the hours before the origin and the period's spend so
// far, and forecasts the month's total (and, separately, the day's). Goals, end of month, per
// family and overall: MASE of the hourly forecasts < 1 (better than seasonal naive), MAPE of the
// total <= 5%, and the 80% interval covering the true total 75-85% of the time. Day totals are
// printed for information. Each synthetic shape (its seeds averaged) and each NAB series counts
// once in the family and overall rows. The NAB coverage rests on few independent months (seven
// for nyc_taxi, one for each Twitter series), so it moves by several points with small changes.
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanHourly } from '../src/cost/forecast/clean.ts';
import { forecastPeriodEnd, type Period } from '../src/cost/forecast/period-end.ts';
import { backtestSeries, summarize, type SeriesScore, type Summary } from './lib/forecast-backtest.ts';
import { loadNabHourly, type NabPick } from './lib/forecast-nab.ts';
import { syntheticSeries, type SpendSeries } from './lib/forecast-synthetic.ts';
import { nabDir, nabMissingMessage } from './lib/nab.ts';
import { median, table } from './lib/report.ts';

const SEEDS = [20260101, 20260102, 20260103];
const SYNTHETIC_START = Date.UTC(2026, 0, 1);
const SYNTHETIC_DAYS = 120;
const MIN_HISTORY_HOURS = 14 * 24;
const NAB_PICKS: NabPick[] = [
  { file: 'realKnownCause/nyc_taxi.csv', name: 'nyc_taxi', about: 'taxi passengers, $0.001 each', dollarsPerUnit: 0.001 },
  { file: 'realTweets/Twitter_volume_AMZN.csv', name: 'twitter_AMZN', about: 'AMZN mentions, $0.01 each', dollarsPerUnit: 0.01 },
  { file: 'realTweets/Twitter_volume_CRM.csv', name: 'twitter_CRM', about: 'CRM mentions, $0.05 each', dollarsPerUnit: 0.05 },
];
const GOALS = { mase: 1, mape: 0.05, coverage: [0.75, 0.85] as const };
/** A month of hours: the fit-time figure the sidecar cares about. */
const MONTH_HOURS = 744;

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '-');
const num = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '-');
const unitOf = (s: SpendSeries) => `${s.family}/${s.name}`;

function loadSeries(): SpendSeries[] {
  const series = SEEDS.flatMap((seed) => syntheticSeries(seed, SYNTHETIC_START, SYNTHETIC_DAYS));
  const dir = nabDir(repoRoot);
  if (existsSync(dir)) series.push(...loadNabHourly(dir, NAB_PICKS));
  else console.error(`${nabMissingMessage(dir)}\nContinuing with the synthetic series only.`);
  // Missing hours filled the forecaster's way, so the truth and the history agree.
  for (const s of series) s.values = cleanHourly(s.values).values;
  return series;
}

function run(series: SpendSeries[], period: Period, t0: number): SeriesScore[] {
  let lastReport = Date.now();
  return series.map((s, k) => {
    const score = backtestSeries(s, period, MIN_HISTORY_HOURS, k * 5);
    const now = Date.now();
    if (now - lastReport > 5_000 || (now - t0 > 10_000 && k === series.length - 1)) {
      process.stderr.write(`  ${period}: ${k + 1}/${series.length} series, ${((now - t0) / 1000).toFixed(0)} s\n`);
      lastReport = now;
    }
    return score;
  });
}

/**
 * Rows: each synthetic shape (its seeds averaged) and each NAB series, then the families and
 * everything, each of those rows counting every shape or NAB series once.
 */
function rowsOf(scores: SeriesScore[]): Array<[string, Summary]> {
  const units = new Map<string, SeriesScore[]>();
  for (const s of scores) units.set(unitOf(s.series), [...(units.get(unitOf(s.series)) ?? []), s]);
  const unitRows = [...units].map(([name, of]): [string, Summary, string] => [of.length > 1 ? `${name} x${of.length}` : name, summarize(of), of[0]!.series.family]);
  const out: Array<[string, Summary]> = unitRows.map(([name, s]) => [name, s]);
  for (const family of ['synthetic', 'nab']) {
    const of = unitRows.filter((r) => r[2] === family);
    if (of.length) out.push([`${family} (${of.length})`, summarize(of.map((r) => r[1]))]);
  }
  out.push([`overall (${unitRows.length})`, summarize(unitRows.map((r) => r[1]))]);
  return out;
}

function printScores(title: string, rows: Array<[string, Summary]>): void {
  console.log(`\n${title}`);
  const cols = ['origins', 'MASE ens', 'MASE ets', 'MASE snaive', 'MAPE ens', 'MAPE ets', 'MAPE snaive', 'cov80', 'width80'];
  console.log(table(rows.map((r) => r[0]), cols, (r, c) => {
    const s = rows.find((x) => x[0] === r)![1];
    switch (c) {
      case 'origins': return String(s.origins);
      case 'MASE ens': return num(s.maseEnsemble);
      case 'MASE ets': return num(s.maseEts);
      case 'MASE snaive': return num(s.maseSnaive);
      case 'MAPE ens': return pct(s.mape);
      case 'MAPE ets': return pct(s.mapeEts);
      case 'MAPE snaive': return pct(s.mapeSnaive);
      case 'cov80': return pct(s.coverage);
      default: return pct(s.width);
    }
  }, 'series'));
}

/** forecastPeriodEnd on exactly a month of history, repeated: the cost of one tenant's minute tick. */
function monthFitTimes(series: SpendSeries[]): number[] {
  const times: number[] = [];
  for (const s of series) {
    for (let end = MONTH_HOURS; end <= s.values.length; end += 24 * 9) {
      const hourly = s.values.subarray(end - MONTH_HOURS, end);
      const t0 = performance.now();
      forecastPeriodEnd({ hourly, spentSoFar: 0, hoursRemaining: 400 });
      times.push(performance.now() - t0);
    }
  }
  return times;
}

function main(): number {
  const t0 = Date.now();
  const series = loadSeries();
  console.log(`Forecast backtest: ${series.length} series, one origin a day from ${MIN_HISTORY_HOURS / 24} days of history`);
  const described = new Set<string>();
  for (const s of series) {
    if (described.has(unitOf(s))) continue;
    described.add(unitOf(s));
    const seeds = series.filter((x) => unitOf(x) === unitOf(s)).length;
    console.log(`  ${unitOf(s)}: ${(s.values.length / 24).toFixed(0)} days from ${new Date(s.start).toISOString().slice(0, 10)}${seeds > 1 ? `, ${seeds} seeds` : ''}; ${s.about}`);
  }

  const month = run(series, 'month', t0);
  const monthRows = rowsOf(month);
  printScores('End of UTC month: MASE of the hourly forecasts (m = 24; < 1 beats seasonal naive), |error| of the month total (MAPE), 80% interval coverage and width (of the total)', monthRows);
  const day = run(series, 'day', t0);
  const dayRows = rowsOf(day);
  printScores('End of UTC day (information only, no goals)', dayRows);

  const families = monthRows.filter(([name]) => !name.includes('/'));
  console.log('\nGoals, end of month');
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
  console.log(table(families.map((f) => f[0]), ['MASE < 1', `MAPE <= ${GOALS.mape * 100}%`, `cov80 in ${GOALS.coverage[0] * 100}-${GOALS.coverage[1] * 100}%`], (r, c) => {
    const s = families.find((f) => f[0] === r)![1];
    if (c.startsWith('MASE')) return `${num(s.maseEnsemble)} ${verdict(s.maseEnsemble < GOALS.mase)}`;
    if (c.startsWith('MAPE')) return `${pct(s.mape)} ${verdict(s.mape <= GOALS.mape)}`;
    return `${pct(s.coverage)} ${verdict(s.coverage >= GOALS.coverage[0] && s.coverage <= GOALS.coverage[1])}`;
  }, 'family'));

  const methods = new Map<string, number>();
  for (const m of month.flatMap((s) => s.methods)) methods.set(m, (methods.get(m) ?? 0) + 1);
  console.log('\nMethods at the month origins:');
  for (const [m, count] of [...methods].sort((a, b) => b[1] - a[1])) console.log(`  ${String(count).padStart(5)}  ${m}`);

  const times = [...month, ...day].flatMap((s) => s.ms).sort((a, b) => a - b);
  const monthTimes = monthFitTimes(series).sort((a, b) => a - b);
  const p99 = (xs: number[]) => xs[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]!;
  console.log(`\nforecastPeriodEnd with ${MONTH_HOURS} h of history: ${monthTimes.length} calls, median ${median(monthTimes)!.toFixed(1)} ms, p99 ${p99(monthTimes).toFixed(1)} ms, max ${monthTimes.at(-1)!.toFixed(1)} ms`);
  console.log(`forecastPeriodEnd in the backtest (2 weeks to 8 weeks of history): ${times.length} calls, median ${median(times)!.toFixed(1)} ms, p99 ${p99(times).toFixed(1)} ms, max ${times.at(-1)!.toFixed(1)} ms; whole bench ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  console.log(JSON.stringify({
    bench: 'forecast',
    month: Object.fromEntries(monthRows),
    day: Object.fromEntries(dayRows.filter(([name]) => !name.includes('/'))),
    methods: Object.fromEntries(methods),
    msMonthHistory: { median: median(monthTimes), p99: p99(monthTimes), max: monthTimes.at(-1) },
    goals: GOALS,
  }));
  return 0;
}

process.exitCode = main();
