import { describe, expect, it } from 'vitest';
import { ForecastInputError } from './clean.ts';
import { forecastPeriodEnd, hoursUntilPeriodEnd, periodBounds, type PeriodEndForecast } from './period-end.ts';
import { noisySpend, seasonalRate, series, sum } from './test-series.ts';

const WEEK = 168;

function expectSane(f: PeriodEndForecast, spentSoFar: number): void {
  for (const v of [f.mean, f.lower80, f.upper80]) expect(Number.isFinite(v)).toBe(true);
  expect(f.lower80).toBeGreaterThanOrEqual(spentSoFar);
  expect(f.lower80).toBeLessThanOrEqual(f.mean);
  expect(f.mean).toBeLessThanOrEqual(f.upper80);
  expect(f.mean - spentSoFar).toBeCloseTo(f.remaining.mean, 6);
}

describe('forecastPeriodEnd', () => {
  it('forecasts a purely seasonal series (daily and weekly rhythm) almost exactly, with a tight interval', () => {
    const all = series(7 * WEEK, seasonalRate);
    const n = 5 * WEEK - 7;
    const hoursRemaining = 200;
    const spentSoFar = 123;
    const truth = spentSoFar + sum(all, n, n + hoursRemaining);
    const f = forecastPeriodEnd({ hourly: Array.from(all.subarray(0, n)), spentSoFar, hoursRemaining });
    expect(f.method).toBe('ensemble(ets(A,N,A[24+168]), snaive(168))');
    expect(Math.abs(f.mean - truth) / truth).toBeLessThan(0.005);
    expect(f.lower80).toBeLessThanOrEqual(truth);
    expect(f.upper80).toBeGreaterThanOrEqual(truth);
    expect((f.upper80 - f.lower80) / truth).toBeLessThan(0.02);
    expectSane(f, spentSoFar);
  });

  it('extrapolates a linear trend: the trended ensemble is chosen and lands near the truth', () => {
    const trend = (t: number) => 2 + 0.01 * t + (seasonalRate(t) - 8) * 0.1;
    const all = series(8 * WEEK, trend);
    const n = 6 * WEEK;
    const hoursRemaining = 2 * WEEK;
    const truth = sum(all, n, n + hoursRemaining);
    const flat = hoursRemaining * (sum(all, n - WEEK, n) / WEEK);
    const f = forecastPeriodEnd({ hourly: all.subarray(0, n), spentSoFar: 0, hoursRemaining });
    expect(f.method).toBe('ensemble(ets(A,Ad,A[24+168]), snaive(168)+drift)');
    // Last week's rate repeated would be ~18% short; the forecast gets within 3%.
    expect(truth / flat).toBeGreaterThan(1.15);
    expect(Math.abs(f.mean - truth) / truth).toBeLessThan(0.03);
    expectSane(f, 0);
  });

  it('keeps a flat forecast on stationary noise (no trend invented)', () => {
    const f = forecastPeriodEnd({ hourly: noisySpend(6 * WEEK, 3), spentSoFar: 0, hoursRemaining: 300 });
    expect(f.method).toBe('ensemble(ets(A,N,A[24+168]), snaive(168))');
  });

  it('covers the true total with its 80% interval at a reasonable rate on simulated noisy tenants', () => {
    const tenants = 40;
    let covered = 0;
    let absError = 0;
    for (let seed = 1; seed <= tenants; seed++) {
      const y = noisySpend(8 * WEEK, seed);
      const n = 5 * WEEK + seed * 5; // origins at every time of day
      const hoursRemaining = 10 * 24;
      const truth = sum(y, n, n + hoursRemaining);
      const f = forecastPeriodEnd({ hourly: y.subarray(0, n), spentSoFar: 0, hoursRemaining });
      if (f.lower80 <= truth && truth <= f.upper80) covered++;
      absError += Math.abs(f.mean - truth) / truth;
      expectSane(f, 0);
    }
    // 80% nominal; with 40 tenants, 26..38 covered is a tolerant but meaningful band.
    expect(covered).toBeGreaterThanOrEqual(26);
    expect(covered).toBeLessThanOrEqual(38);
    expect(absError / tenants).toBeLessThan(0.06);
  });

  it('never puts the lower bound below the spend so far, however noisy or small the forecast', () => {
    const spiky = noisySpend(3 * WEEK, 9, 1.5, 0.4);
    for (const spentSoFar of [0, 0.01, 50, 1e6]) {
      for (const hoursRemaining of [0.25, 1, 5, 100, 700]) {
        const f = forecastPeriodEnd({ hourly: spiky, spentSoFar, hoursRemaining });
        expectSane(f, spentSoFar);
        expect(f.remaining.lower80).toBeGreaterThanOrEqual(0);
      }
    }
  });

  it('returns the spend so far when no time is left', () => {
    const f = forecastPeriodEnd({ hourly: noisySpend(500, 1), spentSoFar: 42, hoursRemaining: 0 });
    expect([f.mean, f.lower80, f.upper80]).toEqual([42, 42, 42]);
  });

  it('handles an empty history: the spend so far, with a warning', () => {
    const f = forecastPeriodEnd({ hourly: [], spentSoFar: 3, hoursRemaining: 100 });
    expect(f).toMatchObject({ mean: 3, lower80: 3, upper80: 3, method: 'none', historyHours: 0 });
    expect(f.warnings.join()).toMatch(/no complete hour/);
  });

  it('handles short histories with the simple members and a prior interval', () => {
    const cases: Array<[hours: number, method: string]> = [
      [1, 'mean'],
      [5, 'mean'],
      [23, 'mean'],
      [30, 'ensemble(snaive(24), mean)'],
      [47, 'ensemble(snaive(24), mean)'],
      [48, 'ensemble(ets(A,N,A[24]), snaive(24))'],
      [200, 'ensemble(ets(A,N,A[24]), snaive(24))'],
    ];
    for (const [hours, method] of cases) {
      const hourly = Array.from({ length: hours }, () => 2); // $2 every hour
      const f = forecastPeriodEnd({ hourly, spentSoFar: 10, hoursRemaining: 50 });
      expect(f.method).toBe(method);
      expect(f.mean).toBeCloseTo(10 + 2 * 50, 6);
      expectSane(f, 10);
    }
    const f = forecastPeriodEnd({ hourly: [1, 3, 2, 4], spentSoFar: 0, hoursRemaining: 10 });
    expect(f.interval).toBe('prior');
    expect(f.mean).toBeCloseTo(25, 6);
    expect(f.upper80).toBeGreaterThan(f.mean);
    expect(f.lower80).toBeLessThan(f.mean);
  });

  it('forecasts nothing more for an all-zero history', () => {
    for (const hours of [3, 40, 500]) {
      const f = forecastPeriodEnd({ hourly: new Array<number>(hours).fill(0), spentSoFar: 5, hoursRemaining: 300 });
      expect([f.mean, f.lower80, f.upper80]).toEqual([5, 5, 5]);
    }
  });

  it('repairs missing, infinite and negative hours, and says so', () => {
    const hourly = Array.from(noisySpend(400, 2));
    hourly[10] = NaN;
    hourly[300] = Infinity;
    hourly[301] = -5;
    const f = forecastPeriodEnd({ hourly, spentSoFar: 0, hoursRemaining: 48 });
    expectSane(f, 0);
    expect(f.warnings).toEqual(['2 missing or non-finite hour(s) filled in', '1 negative hour(s) counted as 0']);
    const allNaN = forecastPeriodEnd({ hourly: [NaN, NaN, NaN], spentSoFar: 1, hoursRemaining: 5 });
    expect(allNaN.mean).toBe(1);
  });

  it('charges only the remaining part of the current hour', () => {
    const hourly = new Array<number>(100).fill(4);
    const at = (hoursRemaining: number) => forecastPeriodEnd({ hourly, spentSoFar: 0, hoursRemaining }).mean;
    expect(at(10)).toBeCloseTo(40, 6);
    expect(at(10.5)).toBeCloseTo(42, 6);
    expect(at(0.25)).toBeCloseTo(1, 6);
  });

  it('uses at most maxHistoryHours of history, and returns hourly paths on request', () => {
    const f = forecastPeriodEnd({ hourly: noisySpend(3000, 4), spentSoFar: 0, hoursRemaining: 30.5, maxHistoryHours: 500, includePaths: true });
    expect(f.historyHours).toBe(500);
    expect(f.paths!.mean.length).toBe(31);
    expect(f.paths!.members.length).toBe(f.members.length);
    expect(f.members.reduce((s, m) => s + m.weight, 0)).toBeCloseTo(1, 12);
  });

  it('rejects arguments that make the question meaningless, naming them', () => {
    const ok = { hourly: [1, 2, 3], spentSoFar: 1, hoursRemaining: 5 };
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ spentSoFar: -1 }, /spentSoFar must be a finite number >= 0, got -1/],
      [{ spentSoFar: NaN }, /spentSoFar .* got NaN/],
      [{ spentSoFar: '3' }, /spentSoFar .* got "3"/],
      [{ hoursRemaining: -2 }, /hoursRemaining .* got -2/],
      [{ hoursRemaining: Infinity }, /hoursRemaining .* got Infinity/],
      [{ hoursRemaining: 3_600_000 }, /hoursRemaining must be at most 8784/],
      [{ hourly: 'lots' }, /hourly must be an array of numbers/],
      [{ hourly: undefined }, /hourly must be an array .* got undefined/],
      [{ coverage: 1 }, /coverage must be a number strictly between 0 and 1/],
      [{ maxHistoryHours: 0 }, /maxHistoryHours must be a positive integer/],
    ];
    for (const [change, message] of bad) {
      const call = () => forecastPeriodEnd({ ...ok, ...change } as never);
      expect(call).toThrow(ForecastInputError);
      expect(call).toThrow(message);
    }
    expect(() => forecastPeriodEnd(null as never)).toThrow(ForecastInputError);
  });
});

describe('periodBounds / hoursUntilPeriodEnd', () => {
  it('finds the UTC day and month around a moment', () => {
    const t = Date.UTC(2024, 1, 20, 13, 30); // 2024-02-20 13:30, a leap year
    expect(periodBounds(t, 'day')).toEqual({ start: Date.UTC(2024, 1, 20), end: Date.UTC(2024, 1, 21) });
    expect(periodBounds(t, 'month')).toEqual({ start: Date.UTC(2024, 1, 1), end: Date.UTC(2024, 2, 1) });
    expect(hoursUntilPeriodEnd(t, 'day')).toBe(10.5);
    expect(hoursUntilPeriodEnd(t, 'month')).toBe(9 * 24 + 10.5);
    expect(periodBounds(Date.UTC(2025, 11, 31, 23, 59), 'month').end).toBe(Date.UTC(2026, 0, 1));
  });
});
