import { describe, expect, it } from 'vitest';
import type { StatementAnalysis } from '../../plugins/contract.ts';
import { QueryStats } from './query-stats.ts';

const stmt = (fingerprint: string, normalized = `SELECT ${fingerprint} WHERE x = $1`): StatementAnalysis => ({
  kind: 'SELECT',
  reads: ['t'],
  writes: [],
  fingerprint,
  normalized,
});

describe('QueryStats', () => {
  it('keeps calls, errors, rows, totals and percentiles per fingerprint and database', () => {
    const s = new QueryStats();
    const a = s.entry(stmt('aa'), 'app', 1000)!;
    for (let i = 1; i <= 100; i++) s.record(a, i / 1000, i % 10 === 0, 2, 1000 + i);
    const b = s.entry(stmt('aa'), 'other', 1000)!;
    s.record(b, 0.5, false, 1, 2000);
    expect(s.entry(stmt('aa'), 'app', 5000)).toBe(a);
    const [top] = s.top({ sort: 'total', database: 'app' });
    expect(top).toMatchObject({ fingerprint: 'aa', database: 'app', calls: 100, errors: 10, rows: 200, total_ms: 5050, mean_ms: 50.5, min_ms: 1, max_ms: 100 });
    expect(top!.p50_ms).toBeGreaterThan(49);
    expect(top!.p50_ms).toBeLessThan(51.5);
    expect(top!.p95_ms).toBeGreaterThan(94);
    expect(top!.p95_ms).toBeLessThan(96.5);
    expect(top!.p99_ms).toBeGreaterThan(98);
    expect(top!.query).toBe('SELECT aa WHERE x = $1');
    expect(s.top({ sort: 'mean' }).map((r) => r.database)).toEqual(['other', 'app']);
    expect(s.count).toBe(2);
  });

  it('ignores statements that did not parse', () => {
    const s = new QueryStats();
    expect(s.entry({ ...stmt(''), kind: 'UNKNOWN' }, 'app', 0)).toBeUndefined();
    expect(s.count).toBe(0);
  });

  it('drops the least-called tenth when full, as pg_stat_statements does', () => {
    const s = new QueryStats(20);
    for (let i = 0; i < 20; i++) {
      const e = s.entry(stmt(`f${i}`), 'app', 0)!;
      for (let c = 0; c <= i; c++) s.record(e, 0.001, false, 0, 0);
    }
    s.entry(stmt('new'), 'app', 0);
    expect(s.count).toBe(19);
    expect(s.evicted).toBe(2);
    expect(s.get('app', 'f0')).toBeUndefined();
    expect(s.get('app', 'f1')).toBeUndefined();
    expect(s.get('app', 'f2')).toBeDefined();
    expect(s.get('app', 'new')).toBeDefined();
  });
});
