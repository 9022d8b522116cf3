import { describe, expect, it } from 'vitest';
import { planRelations, planUsage, type PlanNode } from './plan-usage.ts';

const sizes = new Map([
  ['public.events', { pages: 1000, tuples: 100_000 }],
  ['public.events_pkey', { pages: 300, tuples: 100_000 }],
  ['public.accounts', { pages: 10, tuples: 500 }],
]);

describe('planUsage', () => {
  it('charges a sequential scan the whole relation, and egress the top rows × width', () => {
    const plan: PlanNode = { 'Node Type': 'Aggregate', 'Total Cost': 2250, 'Plan Rows': 1, 'Plan Width': 8, Plans: [{ 'Node Type': 'Seq Scan', 'Relation Name': 'events', Schema: 'public', 'Plan Rows': 5000, 'Plan Width': 0 }] };
    const u = planUsage(plan, sizes);
    expect(u).toMatchObject({ plannerCost: 2250, pages: 1000, scannedBytes: 1000 * 8192, egressBytes: 8, tables: ['public.events'], shape: 'Aggregate>Seq Scan' });
  });

  it('charges an index lookup a descent and a heap page per row, and the inner side of a nested loop once per outer row', () => {
    const lookup: PlanNode = { 'Node Type': 'Index Scan', 'Relation Name': 'events', Schema: 'public', 'Index Name': 'events_pkey', 'Plan Rows': 1, 'Plan Width': 40, 'Total Cost': 8.3 };
    // A 300-page B-tree: a two-level descent, the leaf with the key, and one heap page.
    expect(planUsage(lookup, sizes).pages).toBe(2 + 1 + 1);
    const join: PlanNode = {
      'Node Type': 'Nested Loop',
      'Plan Rows': 10,
      'Plan Width': 40,
      'Total Cost': 90,
      Plans: [
        { 'Node Type': 'Seq Scan', 'Relation Name': 'accounts', Schema: 'public', 'Plan Rows': 10, 'Plan Width': 4, 'Parent Relationship': 'Outer' },
        { ...lookup, 'Parent Relationship': 'Inner' },
      ],
    };
    expect(planUsage(join, sizes).pages).toBe(10 + 10 * 4);
    expect(planRelations(join)).toEqual([['public', 'accounts'], ['public', 'events'], ['public', 'events_pkey']]);
  });

  it('falls back to rows × width for relations of unknown size', () => {
    const plan: PlanNode = { 'Node Type': 'Seq Scan', 'Relation Name': 'tmp', Schema: 'pg_temp_3', 'Plan Rows': 1000, 'Plan Width': 100 };
    expect(planUsage(plan, sizes).pages).toBe(Math.ceil((1000 * 100) / 8192));
  });
});
