import { describe, expect, it } from 'vitest';
import { originsFor } from './forecast-backtest.ts';
import type { SpendSeries } from './forecast-synthetic.ts';

const HOUR = 3_600_000;

function spend(start: number, hours: number): SpendSeries {
  return { family: 'synthetic', name: 't', about: '', start, values: new Float64Array(hours).fill(1) };
}

describe('originsFor', () => {
  it('puts one origin a day, at a moving hour, after enough history, inside whole periods only', () => {
    // 2026-01-01 00:00 for 59 days: January whole, February cut short (ends Feb 28 23:00 minus one day).
    const s = spend(Date.UTC(2026, 0, 1), 59 * 24 - 24);
    const month = originsFor(s, 'month', 14 * 24, 0);
    expect(month.length).toBe(31 - 14);
    for (const o of month) {
      expect(o.index).toBeGreaterThanOrEqual(14 * 24);
      expect(o.periodStart).toBe(0);
      expect(o.periodEnd).toBe(31 * 24);
    }
    const hours = new Set(month.map((o) => o.index % 24));
    expect(hours.size).toBeGreaterThan(10);
    const day = originsFor(s, 'day', 14 * 24, 3);
    for (const o of day) {
      expect(o.periodEnd - o.periodStart).toBe(24);
      expect(o.index).toBeGreaterThanOrEqual(o.periodStart);
      expect(o.index).toBeLessThan(o.periodEnd);
    }
  });

  it('skips a period the series starts inside', () => {
    const s = spend(Date.UTC(2026, 0, 10, 5), 40 * 24);
    expect(originsFor(s, 'month', 24, 0)).toEqual([]);
    expect(originsFor(s, 'day', 0, 0)[0]!.periodStart).toBe((Date.UTC(2026, 0, 11) - s.start) / HOUR);
  });
});
