import { describe, expect, it } from 'vitest';
import { backtestErrors, combine, etsMember, fitEnsemble, seasonalNaiveMember, TREND_MIN_HOURS } from './ensemble.ts';
import { fitEts } from './ets.ts';
import { noisySpend, seasonalRate, series, sum } from './test-series.ts';

describe('fitEnsemble', () => {
  it('picks members by history length', () => {
    const names = (n: number) => fitEnsemble(noisySpend(n, 1)).members.map((m) => m.name);
    expect(names(10)).toEqual(['mean']);
    expect(names(30)).toEqual(['snaive(24)', 'mean']);
    expect(names(100)).toEqual(['ets(A,N,A[24])', 'snaive(24)']);
    expect(names(400)).toEqual(['ets(A,N,A[24+168])', 'snaive(168)']);
    expect(fitEnsemble(noisySpend(400, 1)).weights).toEqual([0.5, 0.5]);
  });

  it('averages its members hour by hour', () => {
    const e = fitEnsemble(noisySpend(500, 2));
    const [a, b] = e.members.map((m) => m.path(50));
    const mean = e.path(50);
    for (let k = 0; k < 50; k++) expect(mean[k]).toBeCloseTo((a![k]! + b![k]!) / 2, 9);
  });

  it('takes the trend only when the history shows one', () => {
    const flat = noisySpend(TREND_MIN_HOURS + 200, 3);
    expect(fitEnsemble(flat).method).toBe('ensemble(ets(A,N,A[24+168]), snaive(168))');
    const growing = flat.map((v, t) => v * (1 + t / 500));
    expect(fitEnsemble(growing).method).toBe('ensemble(ets(A,Ad,A[24+168]), snaive(168)+drift)');
    // Below four weeks a trend is not even considered.
    expect(fitEnsemble(growing.subarray(0, TREND_MIN_HOURS - 1)).method).toBe('ensemble(ets(A,N,A[24+168]), snaive(168))');
  });
});

describe('backtests', () => {
  it('use only the hours before each origin', () => {
    const y = noisySpend(900, 4);
    const changed = y.slice();
    for (let t = 600; t < 900; t++) changed[t] = 1000; // the future, rewritten
    const origins = [300, 450, 600];
    const horizons = [1, 24, 100];
    // Parameters fixed (fitted on y): only the states may see the data, and only its past.
    const model = fitEts(y, { trend: true, periods: [24, 168] });
    const before = etsMember(y, model).backtestSums(origins, horizons);
    const after = etsMember(changed, model).backtestSums(origins, horizons);
    expect(Array.from(after)).toEqual(Array.from(before));
    // ...and it does see the past: rewriting an early hour changes the later origins' sums.
    const past = y.slice();
    past[350] += 500;
    expect(etsMember(past, model).backtestSums(origins, horizons)[3]).not.toBe(before[3]);
    const snaive = seasonalNaiveMember(y, 168);
    const snaiveChanged = seasonalNaiveMember(changed, 168);
    expect(Array.from(snaiveChanged.backtestSums(origins, horizons))).toEqual(Array.from(snaive.backtestSums(origins, horizons)));
  });

  it('seasonal naive backtest sums equal the forecasts it would have made', () => {
    const y = series(500, seasonalRate);
    const m = seasonalNaiveMember(y, 168, true);
    const [s] = m.backtestSums([400], [100]);
    const atOrigin = seasonalNaiveMember(y.subarray(0, 400), 168, true);
    expect(s).toBeCloseTo(sum(atOrigin.path(100)), 6);
  });

  it('score the better candidate lower', () => {
    const y = series(800, seasonalRate);
    const good = seasonalNaiveMember(y, 168);
    const bad = seasonalNaiveMember(y, 24); // misses the weekly cycle
    const [g, b] = backtestErrors(y, [good, bad]);
    expect(g).toBeLessThan(1e-20);
    expect(b).toBeGreaterThan(0.01);
    expect(backtestErrors(y.subarray(0, 100), [combine([good])])).toEqual([Infinity]);
  });
});
