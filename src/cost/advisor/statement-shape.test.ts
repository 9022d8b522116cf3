import { loadModule } from 'libpg-query';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSample, valueOf } from './sample.ts';
import { preparedShape, statementShape, type ColumnUse } from './statement-shape.ts';

beforeAll(() => loadModule());

const col = (c: ColumnUse) => `${c.table?.alias ?? '?'}.${c.column}`;

describe('statementShape', () => {
  it('reads WHERE, JOIN ... ON and ORDER BY columns with their tables through aliases', () => {
    const s = statementShape(
      `SELECT o.id, c.email FROM public.orders o JOIN customers c ON c.id = o.customer_id
        WHERE o.tenant_id = $1 AND o.created_at > $2::timestamptz AND o.status IN ('a', 'b') AND c.deleted_at IS NULL
        ORDER BY o.created_at DESC LIMIT 20 OFFSET $3`,
    )!;
    expect(s.kind).toBe('SELECT');
    expect(s.tables.map((t) => [t.schema, t.name, t.alias])).toEqual([['public', 'orders', 'o'], [undefined, 'customers', 'c']]);
    expect(s.predicates.map((p) => [col(p.column), p.op])).toEqual([
      ['o.tenant_id', 'eq'],
      ['o.created_at', 'range'],
      ['o.status', 'in'],
      ['c.deleted_at', 'null'],
    ]);
    expect(s.predicates[0]!.value).toEqual({ kind: 'param', n: 1 });
    expect(s.joins.map(([a, b]) => [col(a), col(b)])).toEqual([['c.id', 'o.customer_id']]);
    expect(s.orderBy.map((o) => [col(o.column), o.desc])).toEqual([['o.created_at', true]]);
    expect(s.limit).toEqual({ kind: 'const', value: '20' });
    expect(s.offset).toEqual({ kind: 'param', n: 3 });
    expect(s.hasWhere).toBe(true);
    expect(s.aggregate).toBe(false);
  });

  it('leaves an unqualified column of a join unresolved, with the tables in scope', () => {
    const s = statementShape('SELECT 1 FROM a JOIN b ON a.x = b.y WHERE z = 5')!;
    const p = s.predicates[0]!;
    expect(p.column.table).toBeUndefined();
    expect(p.column.among.map((t) => t.name)).toEqual(['a', 'b']);
    expect(p.value).toEqual({ kind: 'const', value: '5' });
  });

  it('reads literals the tree leaves at their default (0, false) and a bare boolean column', () => {
    const s = statementShape('SELECT 1 FROM t WHERE a = 0 AND b = false AND active AND NOT archived')!;
    expect(s.predicates.map((p) => [p.column.column, p.value])).toEqual([
      ['a', { kind: 'const', value: '0' }],
      ['b', { kind: 'const', value: 'false' }],
      ['active', { kind: 'const', value: 'true' }],
      ['archived', { kind: 'const', value: 'false' }],
    ]);
  });

  it('skips OR branches and expressions over columns, which no plain B-tree column serves', () => {
    const s = statementShape("SELECT 1 FROM t WHERE (a = 1 OR b = 2) AND lower(email) = $1 AND c <> 3")!;
    expect(s.predicates.map((p) => [p.column.column, p.op])).toEqual([['c', 'other']]);
  });

  it('reads subqueries in their own scope, seeing the outer tables', () => {
    const s = statementShape('SELECT * FROM t WHERE t.a NOT IN (SELECT u.b FROM u WHERE u.c = t.d) AND EXISTS (SELECT 1 FROM v WHERE v.k = $1)')!;
    expect(s.notInSubquery.map(col)).toEqual(['t.a']);
    expect(s.tables.map((t) => t.name).sort()).toEqual(['t', 'u', 'v']);
    expect(s.topTables.map((t) => t.name)).toEqual(['t']);
    expect(s.joins.map(([a, b]) => [col(a), col(b)])).toEqual([['u.c', 't.d']]);
    expect(s.predicates.map((p) => col(p.column))).toContain('v.k');
    expect(s.selectStar.map((t) => t.name)).toEqual(['t']);
  });

  it('knows aggregates, ORDER BY position and alias, and LIMIT ALL as no limit', () => {
    const s = statementShape('SELECT status AS st, count(*) FROM orders GROUP BY status ORDER BY 1 LIMIT ALL')!;
    expect(s.aggregate).toBe(true);
    expect(s.hasWhere).toBe(false);
    expect(s.limit).toBeUndefined();
    expect(s.orderBy.map((o) => o.column.column)).toEqual(['status']);
    expect(statementShape('SELECT a AS x FROM t ORDER BY x')!.orderBy.map((o) => o.column.column)).toEqual(['a']);
    expect(statementShape('SELECT count(*) FROM t')!.aggregate).toBe(true);
  });

  it('reads UPDATE and DELETE targets, their conditions and the columns an UPDATE sets', () => {
    const u = statementShape('UPDATE orders SET status = $1, total = total + 1 WHERE id = $2')!;
    expect(u.kind).toBe('UPDATE');
    expect(u.target?.name).toBe('orders');
    expect(u.setColumns).toEqual(['status', 'total']);
    expect(u.predicates.map((p) => col(p.column))).toEqual(['orders.id']);
    const d = statementShape('DELETE FROM t USING u WHERE t.a = u.b AND u.c = 1')!;
    expect(d.target?.name).toBe('t');
    expect(d.joins.map(([a, b]) => [col(a), col(b)])).toEqual([['t.a', 'u.b']]);
    const i = statementShape('INSERT INTO t (a) SELECT x FROM s WHERE y = 2')!;
    expect(i.target?.name).toBe('t');
    expect(i.tables.map((t) => t.name)).toEqual(['s']);
  });

  it('returns undefined for text that does not parse', () => {
    expect(statementShape('SELEC nothing')).toBeUndefined();
  });
});

describe('samples', () => {
  it('resolves values from Bind parameters, and binary ones as unknown', () => {
    const s = readSample('db', { text: 'SELECT * FROM t WHERE a = $1 OFFSET $2', params: [Buffer.from('7'), Buffer.from('5000')], paramFormats: [0], user: 'u' })!;
    expect(valueOf(s.shape.predicates[0]!.value, s.params)).toBe('7');
    expect(valueOf(s.shape.offset, s.params)).toBe('5000');
    const bin = readSample('db', { text: 'SELECT * FROM t WHERE a = $1', params: [Buffer.from([0, 0, 0, 7])], paramFormats: [1], user: 'u' })!;
    expect(bin.params).toBeNull();
    expect(valueOf(bin.shape.predicates[0]!.value, bin.params)).toBeUndefined();
  });

  it('reads a SQL EXECUTE as the statement its PREPARE defines, with the EXECUTE values as parameters', () => {
    const p = preparedShape('PREPARE q(int, text) AS SELECT * FROM t WHERE a = $1 AND b LIKE $2', "EXECUTE q(5, '%x')")!;
    expect(p.params).toEqual(['5', '%x']);
    expect(p.shape.predicates.map((x) => [x.column.column, x.op])).toEqual([['a', 'eq'], ['b', 'like']]);
    const s = readSample('db', { text: "EXECUTE q(5, '%x')", prepare: 'PREPARE q(int, text) AS SELECT * FROM t WHERE a = $1 AND b LIKE $2', user: 'u' })!;
    expect(valueOf(s.shape.predicates[1]!.value, s.params)).toBe('%x');
  });
});
