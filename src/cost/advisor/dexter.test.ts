import { describe, expect, it } from 'vitest';
import { chooseIndexes, halvesCost, writeOverheadUsd, type StatementOutcomes } from './dexter.ts';

const cols: Record<string, string[]> = { a: ['a'], ab: ['a', 'b'], b: ['b'], c: ['c'] };

function stmt(id: string, before: number, after: Record<string, [number, boolean]>): StatementOutcomes {
  return { id, before, withIndex: new Map(Object.entries(after).map(([k, [cost, used]]) => [k, { after: cost, used }])) };
}

describe("Dexter's rule", () => {
  it('holds only when the plan uses the index and its cost at least halves', () => {
    expect(halvesCost(100, { after: 50, used: true })).toBe(true);
    expect(halvesCost(100, { after: 50.01, used: true })).toBe(false);
    expect(halvesCost(100, { after: 10, used: false })).toBe(false);
    expect(halvesCost(0, { after: 0, used: true })).toBe(false);
    expect(halvesCost(100, undefined)).toBe(false);
  });
});

describe('chooseIndexes', () => {
  it('picks per statement the cheapest plan, preferring fewer columns within 1%', () => {
    const chosen = chooseIndexes([stmt('s1', 1000, { a: [100, true], ab: [99.5, true], c: [600, true] }), stmt('s2', 1000, { c: [400, true], b: [10, false] })], (k) => cols[k]!);
    expect(Object.fromEntries(chosen)).toEqual({ s1: 'a', s2: 'c' });
  });

  it('recommends nothing for a statement no candidate halves', () => {
    expect(chooseIndexes([stmt('s', 1000, { a: [501, true], b: [1, false] })], (k) => cols[k]!).size).toBe(0);
  });

  it('folds a narrower winner into a wider one that serves its statements nearly as well', () => {
    const chosen = chooseIndexes(
      [stmt('s1', 1000, { a: [100, true], ab: [105, true] }), stmt('s2', 1000, { a: [300, true], ab: [20, true] })],
      (k) => cols[k]!,
    );
    expect(Object.fromEntries(chosen)).toEqual({ s1: 'ab', s2: 'ab' });
    // Not when the wider one is more than 10% worse for the narrower one's statement.
    const kept = chooseIndexes([stmt('s1', 1000, { a: [100, true], ab: [120, true] }), stmt('s2', 1000, { a: [300, true], ab: [20, true] })], (k) => cols[k]!);
    expect(Object.fromEntries(kept)).toEqual({ s1: 'a', s2: 'ab' });
  });
});

describe('writeOverheadUsd', () => {
  it('adds 1/(1+k) to inserts, nothing to deletes', () => {
    expect(writeOverheadUsd([{ kind: 'INSERT', usd: 3, setColumns: [] }], ['a'], 2, 0)).toBeCloseTo(1);
    expect(writeOverheadUsd([{ kind: 'DELETE', usd: 3, setColumns: [] }], ['a'], 2, 0)).toBe(0);
  });

  it('weighs updates by their HOT ratio, and makes HOT impossible when they set an indexed column', () => {
    // k = 1, h = 0.5: 1.5 units today; an index on an unset column adds 0.5 (1/3 more), on a set column 1.5 (2x).
    expect(writeOverheadUsd([{ kind: 'UPDATE', usd: 3, setColumns: ['x'] }], ['a'], 1, 0.5)).toBeCloseTo(1);
    expect(writeOverheadUsd([{ kind: 'UPDATE', usd: 3, setColumns: ['a'] }], ['a'], 1, 0.5)).toBeCloseTo(3);
    // All HOT and unaffected: no index entries are written either way.
    expect(writeOverheadUsd([{ kind: 'UPDATE', usd: 3, setColumns: ['x'] }], ['a'], 1, 1)).toBe(0);
  });
});
