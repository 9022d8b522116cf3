import { loadModule } from 'libpg-query';
import { beforeAll, describe, expect, it } from 'vitest';
import type { PlanNode } from '../plan-usage.ts';
import type { TableInfo } from './catalog.ts';
import { readSample } from './sample.ts';
import { LARGE_TABLE_PAGES, rewriteHints, scanFlags, type ShapeEvidence } from './scan-flags.ts';

beforeAll(() => loadModule());

const big: TableInfo = {
  oid: 1, schema: 'public', name: 'events', pages: LARGE_TABLE_PAGES * 4, tuples: 500_000, heapBytes: LARGE_TABLE_PAGES * 4 * 8192, totalBytes: 0,
  columns: new Map([['id', 500_000], ['kind', 10], ['body', null]]), indexes: [], counters: null,
};
const seqScan: PlanNode = { 'Node Type': 'Seq Scan', 'Relation Name': 'events', Schema: 'public', 'Total Cost': 9000, 'Plan Rows': 500_000 };

function evidence(text: string, params: string[] = [], over: Partial<ShapeEvidence> = {}): ShapeEvidence {
  const s = readSample('db', { text, params: params.map((p) => Buffer.from(p)), user: 'u' })!;
  return {
    database: 'db', fingerprint: 'f', query: text, calls: 10, usd: 1, rowsPerCall: 5, bytesPerCall: 100,
    shape: s.shape, params: s.params, plan: seqScan, tableOf: (r) => (r.name === 'events' ? big : undefined), ...over,
  };
}

describe('scan flags', () => {
  it('flags a large table read whole with no condition on it', () => {
    const [f] = scanFlags(evidence('SELECT kind, count(*) FROM events GROUP BY kind', [], { plan: { 'Node Type': 'HashAggregate', 'Plan Rows': 10, Plans: [seqScan] } }));
    expect(f?.kind).toBe('no_where_scan');
    expect(f?.table).toBe('public.events');
    expect(f?.message).toMatch(/summary table or materialized view/);
  });

  it('needs the evidence: a sequential scan in the plan, a large table, no early LIMIT stop', () => {
    expect(scanFlags(evidence('SELECT count(*) FROM events', [], { plan: { 'Node Type': 'Index Only Scan', 'Relation Name': 'events', 'Index Name': 'x' } }))).toEqual([]);
    expect(scanFlags(evidence('SELECT count(*) FROM events', [], { tableOf: () => ({ ...big, pages: 10 }) }))).toEqual([]);
    expect(scanFlags(evidence('SELECT * FROM events LIMIT 10'))).toEqual([]);
    expect(scanFlags(evidence('SELECT count(*) FROM events WHERE kind = $1', ['a']))).toEqual([]);
  });

  it('flags a result without LIMIT only when both the plan and the observed rows per call are large', () => {
    const flags = (rowsPerCall: number) => scanFlags(evidence('SELECT id FROM events WHERE kind = $1', ['a'], { rowsPerCall, bytesPerCall: rowsPerCall * 20 })).map((f) => f.kind);
    expect(flags(50_000)).toEqual(['unbounded_result']);
    expect(flags(10)).toEqual([]);
  });
});

describe('rewrite hints', () => {
  it('reads a deep OFFSET from the bind values, without quoting them', () => {
    const [h] = rewriteHints(evidence('SELECT * FROM events ORDER BY id OFFSET $1 LIMIT 10', ['250000']));
    expect(h?.kind).toBe('deep_offset');
    expect(h?.message).not.toMatch(/250000/);
    expect(rewriteHints(evidence('SELECT * FROM events ORDER BY id OFFSET $1 LIMIT 10', ['20']))).toEqual([]);
  });

  it('suggests a trigram index when the sampled LIKE pattern starts with a wildcard', () => {
    const [h] = rewriteHints(evidence('SELECT id FROM events WHERE body LIKE $1', ['%secret%']));
    expect(h?.kind).toBe('leading_wildcard_like');
    expect(h?.message).toMatch(/USING gin \(body gin_trgm_ops\)/);
    expect(h?.message).not.toMatch(/secret/);
    expect(rewriteHints(evidence('SELECT id FROM events WHERE body LIKE $1', ['abc%']))).toEqual([]);
  });

  it('hints NOT EXISTS for NOT IN (subquery), and naming columns for SELECT * of a wide table with large results', () => {
    expect(rewriteHints(evidence('SELECT id FROM events WHERE id NOT IN (SELECT id FROM events WHERE kind = $1)', ['a'])).map((h) => h.kind)).toEqual(['not_in_subquery']);
    const wide = { ...big, columns: new Map(Array.from({ length: 20 }, (_, i) => [`c${i}`, null] as [string, null])) };
    const star = (bytesPerCall: number) => rewriteHints(evidence('SELECT * FROM events WHERE kind = $1', ['a'], { bytesPerCall, tableOf: () => wide })).map((h) => h.kind);
    expect(star(1 << 20)).toEqual(['select_star_wide']);
    expect(star(1000)).toEqual([]);
  });
});
