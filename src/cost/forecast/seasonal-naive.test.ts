import { describe, expect, it } from 'vitest';
import { driftWeight, prefixSums, seasonalDrift, seasonalNaivePath, seasonalNaiveScale, seasonalNaiveSum } from './seasonal-naive.ts';
import { noisySpend, sum } from './test-series.ts';

describe('seasonal naive', () => {
  it('repeats the last cycle', () => {
    expect(Array.from(seasonalNaivePath([9, 1, 2, 3], 3, 7))).toEqual([1, 2, 3, 1, 2, 3, 1]);
    expect(() => seasonalNaivePath([1, 2], 3, 1)).toThrow(RangeError);
  });

  it('sums its forecasts from any origin in O(1), as the path would', () => {
    const y = noisySpend(600, 1);
    const prefix = prefixSums(y);
    for (const t of [168, 200, 599]) {
      for (const h of [1, 23, 168, 400]) {
        const path = seasonalNaivePath(y.subarray(0, t), 168, h);
        expect(seasonalNaiveSum(prefix, t, 168, h)).toBeCloseTo(sum(path), 6);
      }
    }
  });

  it('drifts by the change between the first and the last cycle', () => {
    // Two cycles of [1, 3] then [2, 4]: the cycle mean rose by 1 over 2 hours.
    const prefix = prefixSums([1, 3, 2, 4]);
    expect(seasonalDrift(prefix, 4, 2)).toBeCloseTo(0.5, 12);
    expect(seasonalDrift(prefix, 3, 2)).toBe(0);
    // driftWeight is the sum of period * (floor(k / period) + 1) over the h forecast hours.
    for (const [period, h] of [[2, 5], [24, 24], [168, 500]] as const) {
      let brute = 0;
      for (let k = 0; k < h; k++) brute += period * (Math.floor(k / period) + 1);
      expect(driftWeight(period, h)).toBe(brute);
    }
  });

  it('scales MASE by the in-sample one-step seasonal-naive error', () => {
    expect(seasonalNaiveScale([1, 2, 3, 1, 2, 5], 3)).toBeCloseTo(2 / 3, 12);
    expect(seasonalNaiveScale([1, 2, 3], 3)).toBeNaN();
  });
});
