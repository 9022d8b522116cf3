import { loadModule } from 'libpg-query';
import { beforeAll, describe, expect, it } from 'vitest';
import { createIndexSql, indexName, quoteIdent } from './index-ddl.ts';

beforeAll(() => loadModule());

describe('quoteIdent', () => {
  it('leaves plain lowercase names bare, including non-reserved keywords the grammar accepts as names', () => {
    expect(quoteIdent('orders')).toBe('orders');
    expect(quoteIdent('customer_id')).toBe('customer_id');
    expect(quoteIdent('time')).toBe('time');
    expect(quoteIdent('name')).toBe('name');
  });

  it('quotes reserved words, mixed case, leading digits, spaces and quotes (doubled)', () => {
    expect(quoteIdent('user')).toBe('"user"');
    expect(quoteIdent('order')).toBe('"order"');
    expect(quoteIdent('Orders')).toBe('"Orders"');
    expect(quoteIdent('1st')).toBe('"1st"');
    expect(quoteIdent('a b')).toBe('"a b"');
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
    expect(quoteIdent('été')).toBe('"été"');
  });
});

describe('index names and statements', () => {
  const def = { schema: 'public', table: 'orders', columns: ['tenant_id', 'created_at'] };

  it('names an index table_columns_idx, deterministically', () => {
    expect(indexName(def)).toBe('orders_tenant_id_created_at_idx');
    expect(indexName(def)).toBe(indexName({ ...def }));
  });

  it('adds a hash of the definition when the name is taken or too long, staying within 63 bytes', () => {
    const taken = indexName(def, new Set(['orders_tenant_id_created_at_idx']));
    expect(taken).toMatch(/^orders_tenant_id_created_at_[0-9a-f]{8}_idx$/);
    const long = indexName({ schema: 'public', table: 'x'.repeat(60), columns: ['yyyyyyyyyy', 'zzzzzzzzzz'] });
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(63);
    expect(long).toMatch(/_[0-9a-f]{8}_idx$/);
    const other = indexName({ schema: 'public', table: 'x'.repeat(60), columns: ['yyyyyyyyyy', 'zzzzzzzzzy'] });
    expect(other).not.toBe(long);
  });

  it('emits CREATE INDEX CONCURRENTLY with every identifier quoted as needed', () => {
    expect(createIndexSql(def, indexName(def))).toBe('CREATE INDEX CONCURRENTLY orders_tenant_id_created_at_idx ON public.orders (tenant_id, created_at)');
    const odd = { schema: 'Sales', table: 'user', columns: ['Order Date', 'id'] };
    expect(createIndexSql(odd, indexName(odd))).toBe('CREATE INDEX CONCURRENTLY "user_Order Date_id_idx" ON "Sales"."user" ("Order Date", id)');
    expect(createIndexSql(def, 'x', false)).toBe('CREATE INDEX x ON public.orders (tenant_id, created_at)');
  });
});
