import { loadModule } from 'libpg-query';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCandidates, tableUses } from './candidates.ts';
import type { ExistingIndex, TableInfo } from './catalog.ts';
import { statementShape, type TableRef } from './statement-shape.ts';

beforeAll(() => loadModule());

function table(oid: number, name: string, columns: Record<string, number | null>, indexes: ExistingIndex[] = []): TableInfo {
  return { oid, schema: 'public', name, pages: 1000, tuples: 100_000, heapBytes: 8_192_000, totalBytes: 9_000_000, columns: new Map(Object.entries(columns)), indexes, counters: null };
}

const orders = table(1, 'orders', { id: 100_000, tenant_id: 8, customer_id: 20_000, status: 5, created_at: 100_000, total: 1000 }, [
  { name: 'orders_pkey', method: 'btree', columns: ['id'], partial: false, valid: true },
]);
const customers = table(2, 'customers', { id: 20_000, email: 20_000, tenant_id: 8 });
const tableOf = (ref: TableRef) => (ref.name === 'orders' ? orders : ref.name === 'customers' ? customers : undefined);

function candidatesFor(sql: string, t: TableInfo): string[][] {
  const use = tableUses(statementShape(sql)!, tableOf).get(t.oid);
  return use ? buildCandidates(use, t) : [];
}

describe('tableUses', () => {
  it('settles unqualified columns of a join with the catalog and charges join columns to both sides', () => {
    const uses = tableUses(statementShape('SELECT email FROM orders o JOIN customers c ON c.id = o.customer_id WHERE status = $1 AND email = $2')!, tableOf);
    expect(uses.get(1)).toEqual({ table: 1, eq: ['status'], range: [], join: ['customer_id'], order: [] });
    expect(uses.get(2)).toEqual({ table: 2, eq: ['email'], range: [], join: ['id'], order: [] });
  });

  it('keeps ORDER BY only when one table sorts one way', () => {
    expect(tableUses(statementShape('SELECT 1 FROM orders ORDER BY tenant_id, created_at DESC')!, tableOf).get(1)?.order ?? []).toEqual([]);
    expect(tableUses(statementShape('SELECT 1 FROM orders ORDER BY tenant_id DESC, created_at DESC')!, tableOf).get(1)?.order).toEqual(['tenant_id', 'created_at']);
  });
});

describe('buildCandidates', () => {
  it('tries each column, then equality columns (most distinct first) with a range, ORDER BY or join column', () => {
    expect(candidatesFor('SELECT id FROM orders WHERE status = $1 AND tenant_id = $2 ORDER BY created_at DESC LIMIT 20', orders)).toEqual([
      ['tenant_id'],
      ['status'],
      ['created_at'],
      ['tenant_id', 'status'],
      ['tenant_id', 'status', 'created_at'],
    ]);
    expect(candidatesFor('SELECT id FROM orders WHERE customer_id = $1 AND created_at > $2', orders)).toEqual([
      ['customer_id'],
      ['created_at'],
      ['customer_id', 'created_at'],
    ]);
  });

  it('drops what an existing valid B-tree already leads with, and columns the table does not have', () => {
    expect(candidatesFor('SELECT * FROM orders WHERE id = $1', orders)).toEqual([]);
    expect(candidatesFor('SELECT * FROM orders WHERE nope = $1', orders)).toEqual([]);
    const withTenant = { ...orders, indexes: [...orders.indexes, { name: 'o_t', method: 'btree', columns: ['tenant_id', 'status'], partial: false, valid: true }] };
    const byTenant = (ref: TableRef) => (ref.name === 'orders' ? withTenant : undefined);
    const use = tableUses(statementShape('SELECT 1 FROM orders WHERE tenant_id = $1 AND status = $2 AND total > $3')!, byTenant).get(1)!;
    // status alone is not what (tenant_id, status) leads with.
    expect(buildCandidates(use, withTenant)).toEqual([['status'], ['total'], ['tenant_id', 'status', 'total']]);
  });

  it('ignores invalid and partial indexes when judging coverage', () => {
    const t = { ...orders, indexes: [{ name: 'x', method: 'btree', columns: ['customer_id'], partial: false, valid: false }, { name: 'y', method: 'btree', columns: ['customer_id'], partial: true, valid: true }] };
    const use = tableUses(statementShape('SELECT 1 FROM orders WHERE customer_id = $1')!, (r) => (r.name === 'orders' ? t : undefined)).get(1)!;
    expect(buildCandidates(use, t)).toEqual([['customer_id']]);
  });
});
