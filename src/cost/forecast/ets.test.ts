import { describe, expect, it } from 'vitest';
import { copyState, dampedTrendSum, filter, fitEts, forecastPath, initialState, PathSums, type EtsSpec } from './ets.ts';
import { prefixSums } from './seasonal-naive.ts';
import { noisySpend, seasonalRate, series, sum } from './test-series.ts';

const WEEK = 168;
const DOUBLE: EtsSpec = { trend: false, periods: [24, WEEK] };

describe('fitEts / forecastPath', () => {
  it('reproduces a purely seasonal series (daily and weekly cycles) from its initial states', () => {
    const y = series(5 * WEEK, seasonalRate);
    const model = fitEts(y, DOUBLE);
    const next = forecastPath(model.final, model.params, WEEK);
    const truth = series(WEEK, seasonalRate, y.length);
    for (let k = 0; k < WEEK; k++) expect(next[k]).toBeCloseTo(truth[k]!, 6);
    expect(model.mse).toBeLessThan(1e-12);
  });

  it('extrapolates a linear trend with the damped-trend model', () => {
    const line = (t: number) => 5 + 0.02 * t + (seasonalRate(t) - 8) * 0.2;
    const y = series(6 * WEEK, line);
    const model = fitEts(y, { trend: true, periods: [24, WEEK] });
    const h = 2 * WEEK;
    const path = forecastPath(model.final, model.params, h);
    const truth = series(h, line, y.length);
    // Damping (phi <= 0.9995 per hour) may shave a little off two weeks out, not more.
    expect(Math.abs(sum(path) - sum(truth)) / sum(truth)).toBeLessThan(0.01);
    expect(path[h - 1]! - path[h - 1 - WEEK]!).toBeGreaterThan(0.02 * WEEK * 0.8);
  });

  it('keeps the level steady on noise instead of chasing the last hours', () => {
    const y = noisySpend(6 * WEEK, 11);
    const model = fitEts(y, DOUBLE);
    expect(model.params.alpha).toBeLessThan(0.2);
    const weekAhead = sum(forecastPath(model.final, model.params, WEEK));
    const lastWeek = sum(y, y.length - WEEK);
    expect(Math.abs(weekAhead - lastWeek) / lastWeek).toBeLessThan(0.15);
  });

  it('fits a level-only model and a one-value history without failing', () => {
    const flat = fitEts([3, 3, 3, 3], { trend: false, periods: [] });
    expect(Array.from(forecastPath(flat.final, flat.params, 3))).toEqual([3, 3, 3]);
    const one = fitEts([7], { trend: true, periods: [24] });
    expect(Number.isFinite(forecastPath(one.final, one.params, 5)[4]!)).toBe(true);
    expect(() => fitEts([], DOUBLE)).toThrow(RangeError);
  });

  it('stays inside the usual parameter region', () => {
    const model = fitEts(noisySpend(4 * WEEK, 5), { trend: true, periods: [24, WEEK] });
    const { alpha, beta, phi, gammas } = model.params;
    expect(alpha).toBeGreaterThan(0);
    expect(alpha).toBeLessThanOrEqual(0.5);
    expect(beta).toBeLessThanOrEqual(alpha);
    expect(phi).toBeLessThan(1);
    for (const g of gammas) expect(g).toBeLessThanOrEqual(1 - alpha);
  });
});

describe('sums of forecasts', () => {
  it('dampedTrendSum matches the sum it stands for', () => {
    for (const phi of [1, 0.999, 0.95]) {
      for (const h of [1, 2, 24, 500]) {
        let brute = 0;
        let damp = 0;
        for (let j = 1; j <= h; j++) {
          damp += phi ** j;
          brute += damp;
        }
        expect(dampedTrendSum(phi, h)).toBeCloseTo(brute, 6);
      }
    }
  });

  it('PathSums.sum equals adding up forecastPath, from any state', () => {
    const y = noisySpend(3 * WEEK + 5, 2);
    const model = fitEts(y, { trend: true, periods: [24, WEEK] });
    const sums = new PathSums(model.final, model.params);
    const path = forecastPath(model.final, model.params, 400);
    for (const h of [1, 7, 24, 25, 168, 169, 400]) expect(sums.sum(h)).toBeCloseTo(sum(path, 0, h), 8);
  });

  it('the fit\'s sum scoring measures the errors of h-hour sums from the states it passes through', () => {
    const y = noisySpend(2 * WEEK, 4);
    const model = fitEts(y, DOUBLE);
    const prefix = prefixSums(y);
    const scoring = { prefix, horizons: [24], first: 100, stride: 50, sse: new Float64Array(1), count: new Float64Array(1) };
    const state = copyState(model.initial);
    filter(y, 0, y.length, state, model.params, scoring);
    // The same, by hand: stop at each origin and sum the forecast path.
    let sse = 0;
    let count = 0;
    const replay = copyState(model.initial);
    for (let t = 100; t + 24 <= y.length; t += 50) {
      filter(y, replay.t, t, replay, model.params);
      const e = prefix[t + 24]! - prefix[t]! - sum(forecastPath(replay, model.params, 24));
      sse += (e * e) / 24;
      count++;
    }
    expect(scoring.count[0]).toBe(count);
    expect(scoring.sse[0]).toBeCloseTo(sse, 6);
  });
});

describe('initialState', () => {
  it('splits the first cycles into a level and seasonal components that add back up', () => {
    const y = series(3 * WEEK, seasonalRate);
    const s = initialState(y, DOUBLE);
    for (const t of [0, 5, 30, 100, 200]) {
      expect(s.level + s.seasons[0]![t % 24]! + s.seasons[1]![t % WEEK]!).toBeCloseTo(y[t]!, 9);
    }
    expect(sum(s.seasons[0]!)).toBeCloseTo(0, 9);
  });
});
