// NAB series as hourly "spend" for the forecast backtest: read in place from ../shared/data/nab
// with the anomaly bench's loader, summed into UTC hours.
import { loadCorpus } from './nab.ts';
import type { SpendSeries } from './forecast-synthetic.ts';

const HOUR = 3_600_000;

export interface NabPick {
  /** NAB's name, e.g. "realKnownCause/nyc_taxi.csv". */
  file: string;
  name: string;
  about: string;
  /** Dollars per unit of the series' value, to make the figures read like a bill (ratios do not depend on it). */
  dollarsPerUnit: number;
}

/**
 * Sums each file's rows into UTC hours. Hours at either end with fewer rows than the file's
 * usual count are dropped (a partial first hour is not a low hour); an interior hour missing
 * rows is scaled up to a full hour, and one with none is NaN (the forecaster fills it in).
 */
export function loadNabHourly(dir: string, picks: readonly NabPick[]): SpendSeries[] {
  const corpus = loadCorpus(dir, (name) => picks.some((p) => p.file === name));
  return picks.map((pick) => {
    const file = corpus.files.find((f) => f.name === pick.file);
    if (!file) throw new Error(`${pick.file}: not in the NAB corpus at ${dir}`);
    const first = Math.floor(file.timestamps[0]! / HOUR);
    const last = Math.floor(file.timestamps.at(-1)! / HOUR);
    const sums = new Float64Array(last - first + 1);
    const counts = new Float64Array(last - first + 1);
    file.timestamps.forEach((t, i) => {
      const k = Math.floor(t / HOUR) - first;
      sums[k]! += file.values[i]!;
      counts[k]!++;
    });
    const usual = mode(counts);
    let a = 0;
    let b = counts.length;
    while (a < b && counts[a]! < usual) a++;
    while (b > a && counts[b - 1]! < usual) b--;
    const values = new Float64Array(b - a);
    for (let k = a; k < b; k++) values[k - a] = counts[k] ? (sums[k]! * usual * pick.dollarsPerUnit) / counts[k]! : NaN;
    return { family: 'nab', name: pick.name, about: pick.about, start: (first + a) * HOUR, values };
  });
}

function mode(xs: Float64Array): number {
  const seen = new Map<number, number>();
  for (const x of xs) seen.set(x, (seen.get(x) ?? 0) + 1);
  let best = 0;
  let bestCount = -1;
  for (const [x, c] of seen) if (c > bestCount) [best, bestCount] = [x, c];
  return best;
}
