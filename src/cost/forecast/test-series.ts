// Seeded hourly series for the forecast tests (not shipped code: only *.test.ts import it).
import { mulberry32 } from '../../seeded-random.ts';

export function gaussian(seed: number): () => number {
  const u = mulberry32(seed);
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** Dollars per hour with a daily and a weekly rhythm (hour 0 is a Monday 00:00), no noise. */
export function seasonalRate(t: number): number {
  const hour = t % 24;
  const day = Math.floor(t / 24) % 7;
  const daily = 1 + 0.8 * Math.sin((2 * Math.PI * (hour - 6)) / 24);
  return (day >= 5 ? 0.6 : 1) * 10 * daily;
}

/** n hours of f(t). */
export function series(n: number, f: (t: number) => number, from = 0): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => f(from + i));
}

/**
 * Seasonal spend with log-normal hourly noise and a persistent day factor (an AR(1) in logs), so
 * multi-day sums are genuinely uncertain.
 */
export function noisySpend(n: number, seed: number, hourlySd = 0.2, daySd = 0.06): Float64Array {
  const g = gaussian(seed);
  const out = new Float64Array(n);
  let day = 0;
  for (let t = 0; t < n; t++) {
    if (t % 24 === 0) day = 0.7 * day + daySd * g();
    out[t] = seasonalRate(t) * Math.exp(day + hourlySd * g() - (hourlySd * hourlySd) / 2);
  }
  return out;
}

export function sum(y: ArrayLike<number>, from = 0, to = y.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += y[i]!;
  return s;
}
