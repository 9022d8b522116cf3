import { describe, expect, it } from 'vitest';
import { pick, seededRandom, statements, zipfWeights, type TenantData } from './cost-workload.ts';

const tenants: TenantData[] = Array.from({ length: 4 }, (_, i) => ({ id: i + 1, customers: [{ id: 10 + i, email: `c${i}@x` }], orderIds: [100 + i] }));

describe('cost workload', () => {
  it('draws the same statements for the same seed, others for another', () => {
    const a = statements(7, 50, tenants, 1.1, 1);
    expect(statements(7, 50, tenants, 1.1, 1)).toEqual(a);
    expect(statements(8, 50, tenants, 1.1, 1)).not.toEqual(a);
    expect(a[0]!.text).toMatch(/\/\*tenant='t0[1-4]'\*\/$/);
  });

  it('skews tenants and shapes by Zipf weights', () => {
    const w = zipfWeights(4, 1);
    expect(w[0]! / w[1]!).toBeCloseTo(2);
    expect(w.reduce((x, y) => x + y, 0)).toBeCloseTo(1);
    const r = seededRandom(1);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 20_000; i++) counts[pick(w, r())]!++;
    expect(counts[0]! / counts[3]!).toBeGreaterThan(3);
    expect(counts[0]! / counts[3]!).toBeLessThan(5);
  });
});
