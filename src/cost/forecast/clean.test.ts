import { describe, expect, it } from 'vitest';
import { cleanHourly, ForecastInputError, requireNonNegative } from './clean.ts';

describe('cleanHourly', () => {
  it('fills missing hours from a day before, else the hour before, else 0, and raises negatives to 0', () => {
    const raw = Array.from({ length: 30 }, (_, i) => i);
    raw[0] = NaN;
    raw[3] = Infinity;
    raw[26] = NaN;
    raw[28] = -4;
    const { values, filled, clamped } = cleanHourly(raw);
    expect(values[0]).toBe(0);
    expect(values[3]).toBe(2);
    expect(values[26]).toBe(2);
    expect(values[28]).toBe(0);
    expect([filled, clamped]).toEqual([3, 1]);
    expect(cleanHourly(['7' as unknown as number]).values[0]).toBe(0);
  });

  it('rejects what is not an array', () => {
    expect(() => cleanHourly({ length: 3 })).toThrow(ForecastInputError);
    expect(() => cleanHourly(null)).toThrow(/got null/);
  });

  it('requireNonNegative names the argument and the bound', () => {
    expect(requireNonNegative('x', 2)).toBe(2);
    expect(() => requireNonNegative('x', -1)).toThrow('x must be a finite number >= 0, got -1');
    expect(() => requireNonNegative('x', 5, 4)).toThrow('x must be at most 4, got 5');
  });
});
