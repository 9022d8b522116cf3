import { describe, expect, it } from 'vitest';
import { nelderMead } from './nelder-mead.ts';

describe('nelderMead', () => {
  it('finds the minimum of a smooth function within its budget', () => {
    const f = (x: readonly number[]) => (x[0]! - 1) ** 2 + 10 * (x[1]! + 2) ** 2 + (x[2]! - 0.5) ** 2;
    const r = nelderMead(f, [0, 0, 0], { maxEvals: 1000, tolerance: 1e-14 });
    expect(r.x[0]).toBeCloseTo(1, 3);
    expect(r.x[1]).toBeCloseTo(-2, 3);
    expect(r.x[2]).toBeCloseTo(0.5, 3);
    expect(r.evals).toBeLessThanOrEqual(1000);
  });

  it('never exceeds maxEvals by more than one step, and backs away from non-finite values', () => {
    let calls = 0;
    const f = (x: readonly number[]) => {
      calls++;
      return x[0]! > 2 ? NaN : (x[0]! - 1.5) ** 2;
    };
    const r = nelderMead(f, [0], { maxEvals: 40, step: 3 });
    expect(calls).toBeLessThanOrEqual(40 + 2);
    expect(r.x[0]).toBeCloseTo(1.5, 2);
  });
});
