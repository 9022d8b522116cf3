import { describe, expect, it } from 'vitest';
import { CostCalibration, PRIOR_SECONDS_PER_COST } from './calibration.ts';

describe('CostCalibration', () => {
  it('starts from the prior, then fits each shape to its own executions', () => {
    const c = new CostCalibration();
    expect(c.factor('a')).toBeCloseTo(PRIOR_SECONDS_PER_COST, 12);
    // Shape a: 1 ms per 100 cost units; shape b: a function call costing 1 unit that takes 50 ms.
    for (let i = 0; i < 30; i++) {
      c.observe('a', 100, 0.001);
      c.observe('b', 1, 0.05);
    }
    expect(c.seconds('a', 100)).toBeGreaterThan(0.0005);
    expect(c.seconds('a', 100)).toBeLessThan(0.002);
    expect(c.seconds('b', 1)).toBeGreaterThan(0.025);
    expect(c.seconds('b', 1)).toBeLessThan(0.1);
    // An unseen shape gets the all-statements factor, between the two.
    expect(c.factor('new')).toBeGreaterThan(c.factor('a'));
    expect(c.factor('new')).toBeLessThan(c.factor('b'));
  });

  it('ignores executions with no cost basis', () => {
    const c = new CostCalibration();
    c.observe('x', 0, 1);
    c.observe('x', 10, 0);
    expect(c.samples('x')).toBe(0);
  });
});
