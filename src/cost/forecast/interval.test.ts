import { describe, expect, it } from 'vitest';
import { fitEnsemble } from './ensemble.ts';
import { calibrateSumErrors, evaluateCurve, fitCurve, ladder, normalQuantile, quantileSorted, relativeQuantile, smallSampleFactor, sumInterval, type SumErrorModel } from './interval.ts';
import { noisySpend } from './test-series.ts';

describe('building blocks', () => {
  it('ladder, quantiles and the normal quantile', () => {
    expect(ladder(30)).toEqual([1, 2, 3, 5, 8, 12, 18, 27]);
    expect(ladder(0)).toEqual([]);
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([1, 2, 3, 4], 1)).toBe(4);
    expect(normalQuantile(0.9)).toBeCloseTo(1.281552, 5);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.326348, 5);
  });

  it('widens for few samples, and less the more there are', () => {
    expect(smallSampleFactor(3, 0.9)).toBeGreaterThan(1.5);
    expect(smallSampleFactor(10, 0.9)).toBeGreaterThan(smallSampleFactor(30, 0.9));
    expect(smallSampleFactor(1000, 0.9)).toBeCloseTo(1, 2);
  });

  it('fitCurve recovers a known curve', () => {
    const truth = { A: 0.09, C: 0.0025, D: 0.00001 };
    const hs = ladder(600);
    const c = fitCurve(hs, hs.map((h) => evaluateCurve(truth, h)));
    for (const h of [1, 50, 600, 2000]) expect(evaluateCurve(c, h)).toBeCloseTo(evaluateCurve(truth, h), 6);
    const noD = fitCurve(hs, hs.map((h) => Math.sqrt(0.04 / h + 0.01)));
    expect(noD.D).toBe(0);
  });

  it('reads the ladder between rungs and follows the tail past it', () => {
    const model: SumErrorModel = {
      kind: 'rolling-origin',
      horizons: [1, 10, 100],
      lower: [0.4, 0.2, 0.1],
      upper: [0.5, 0.3, 0.2],
      lowerTail: { A: 0, C: 0.01, D: 0 },
      upperTail: { A: 0, C: 0, D: 0.0004 },
    };
    expect(relativeQuantile(model, 'lower', 0.5)).toBe(0.4);
    expect(relativeQuantile(model, 'lower', Math.sqrt(10))).toBeCloseTo(0.3, 12);
    expect(relativeQuantile(model, 'lower', 1000)).toBeCloseTo(0.1, 12); // flat tail
    expect(relativeQuantile(model, 'upper', 400)).toBeCloseTo(0.4, 12); // random-walk tail: x sqrt(4)
    const { lower, upper } = sumInterval(model, 100, 10, 10);
    expect(lower).toBeCloseTo(80, 9);
    expect(upper).toBeCloseTo(130, 9);
  });
});

describe('calibrateSumErrors', () => {
  it('calibrates on the history when there is enough of it, else uses the prior, and has no spread for zeros', () => {
    const y = noisySpend(800, 1);
    const long = calibrateSumErrors(y, fitEnsemble(y));
    expect(long.kind).toBe('rolling-origin');
    expect(long.horizons.at(-1)).toBeGreaterThan(100);
    for (const q of [...long.lower, ...long.upper]) expect(q).toBeGreaterThan(0);
    // Relative errors shrink from one hour to a day as hourly noise averages out.
    expect(relativeQuantile(long, 'upper', 24)).toBeLessThan(relativeQuantile(long, 'upper', 1));

    const short = y.subarray(0, 40);
    expect(calibrateSumErrors(short, fitEnsemble(short)).kind).toBe('prior');
    const zeros = new Float64Array(300);
    const none = calibrateSumErrors(zeros, fitEnsemble(zeros));
    expect(none.kind).toBe('none');
    expect(sumInterval(none, 0, 100, 0)).toEqual({ lower: 0, upper: 0 });
  });

  it('gives wider intervals to noisier histories', () => {
    const calm = noisySpend(800, 2, 0.1, 0.02);
    const wild = noisySpend(800, 2, 0.6, 0.15);
    const width = (y: Float64Array) => {
      const m = calibrateSumErrors(y, fitEnsemble(y));
      return relativeQuantile(m, 'lower', 200) + relativeQuantile(m, 'upper', 200);
    };
    expect(width(wild)).toBeGreaterThan(2 * width(calm));
  });
});
