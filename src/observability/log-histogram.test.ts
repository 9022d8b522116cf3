import { describe, expect, it } from 'vitest';
import { LogHistogram } from './log-histogram.ts';

function exactQuantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(q * s.length) - 1)]!;
}

describe('LogHistogram', () => {
  it('gives quantiles within 10% of the exact ones over six decades', () => {
    const h = new LogHistogram();
    const xs: number[] = [];
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 20_000; i++) {
      const x = 10 ** (-5 + 6 * rand());
      xs.push(x);
      h.observe(x);
    }
    for (const q of [0.5, 0.9, 0.95, 0.99]) {
      const exact = exactQuantile(xs, q);
      expect(Math.abs(h.quantile(q) - exact) / exact).toBeLessThan(0.1);
    }
    expect(h.count).toBe(20_000);
  });

  it('is NaN when empty, never above the largest value, and empty again after reset', () => {
    const h = new LogHistogram();
    expect(h.quantile(0.95)).toBeNaN();
    h.observe(0.003);
    expect(h.quantile(0.5)).toBeLessThanOrEqual(0.003);
    expect(h.quantile(0.5)).toBeGreaterThan(0.0027);
    h.observe(0);
    h.observe(1e9);
    expect(h.quantile(1)).toBe(1e9);
    h.reset();
    expect(h.count).toBe(0);
    expect(h.quantile(0.5)).toBeNaN();
  });
});
