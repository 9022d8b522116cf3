import { beforeAll, describe, expect, it } from 'vitest';
import type { StatementAnalysis } from '../../plugins/contract.ts';
import { createAnalyzer, type StatementAnalyzer } from './index.ts';

let analyzer: StatementAnalyzer;
beforeAll(async () => {
  analyzer = await createAnalyzer();
});

const analyze = (sql: string): StatementAnalysis => analyzer.analyzeStatement(sql).analysis;

describe('statement kinds', () => {
  it.each([
    ['SELECT 1', 'SELECT'],
    ['VALUES (1)', 'SELECT'],
    ['INSERT INTO t VALUES (1)', 'INSERT'],
    ['UPDATE t SET a = 1', 'UPDATE'],
    ['DELETE FROM t', 'DELETE'],
    ['MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE', 'MERGE'],
    ['CREATE TABLE t (a int)', 'CREATE_TABLE'],
    ['CREATE TABLE t AS SELECT 1', 'CREATE_TABLE_AS'],
    ['CREATE VIEW v AS SELECT 1', 'CREATE_VIEW'],
    ['CREATE INDEX i ON t (a)', 'CREATE_INDEX'],
    ['CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$', 'CREATE_FUNCTION'],
    ['CREATE DATABASE d', 'CREATE_DATABASE'],
    ['ALTER TABLE t ADD COLUMN b int', 'ALTER_TABLE'],
    ['DROP TABLE t', 'DROP'],
    ['TRUNCATE t', 'TRUNCATE'],
    ['COPY t FROM STDIN', 'COPY'],
    ['EXPLAIN SELECT 1', 'EXPLAIN'],
    ['PREPARE p AS SELECT 1', 'PREPARE'],
    ['EXECUTE p', 'EXECUTE'],
    ['DEALLOCATE p', 'DEALLOCATE'],
    ['SET search_path = public', 'SET'],
    ['RESET ALL', 'SET'],
    ['SHOW work_mem', 'SHOW'],
    ['CALL p()', 'CALL'],
    ['DO $$ BEGIN END $$', 'DO'],
    ['VACUUM t', 'VACUUM'],
    ['LISTEN ch', 'LISTEN'],
    ['NOTIFY ch', 'NOTIFY'],
    ['LOCK TABLE t', 'LOCK'],
    ['GRANT SELECT ON t TO u', 'GRANT'],
    ['DISCARD ALL', 'DISCARD'],
    ['ALTER TEXT SEARCH CONFIGURATION c OWNER TO u', 'ALTER_OWNER'],
    ['ALTER TEXT SEARCH CONFIGURATION c ADD MAPPING FOR word WITH simple', 'ALTER_TS_CONFIGURATION'],
  ])('%s → %s', (sql, kind) => {
    const analysis = analyze(sql);
    expect(analysis.kind).toBe(kind);
    expect(analysis.subkind).toBeUndefined();
  });

  it.each([
    ['BEGIN', 'BEGIN'],
    ['START TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'START'],
    ['COMMIT', 'COMMIT'],
    ['END', 'COMMIT'],
    ['ROLLBACK', 'ROLLBACK'],
    ['SAVEPOINT s', 'SAVEPOINT'],
    ['RELEASE SAVEPOINT s', 'RELEASE'],
    ['ROLLBACK TO SAVEPOINT s', 'ROLLBACK_TO'],
    ["PREPARE TRANSACTION 'x'", 'PREPARE'],
    ["COMMIT PREPARED 'x'", 'COMMIT_PREPARED'],
  ])('%s → TRANSACTION %s', (sql, subkind) => {
    expect(analyze(sql)).toMatchObject({ kind: 'TRANSACTION', subkind });
  });
});

describe('tables read and written', () => {
  const tables = (sql: string) => {
    const { reads, writes } = analyze(sql);
    return { reads, writes };
  };

  it('names tables as written, schema and catalog only when given', () => {
    expect(tables('SELECT * FROM t, public.u, db.s.v, "Mixed Case"')).toEqual({
      reads: ['t', 'public.u', 'db.s.v', 'Mixed Case'],
      writes: [],
    });
  });

  it('deduplicates in order of appearance', () => {
    expect(tables('SELECT * FROM b JOIN a ON a.x = b.x WHERE EXISTS (SELECT 1 FROM b) AND y IN (SELECT y FROM c)')).toEqual({
      reads: ['b', 'a', 'c'],
      writes: [],
    });
  });

  it('finds tables in joins, subqueries and lateral subqueries', () => {
    expect(
      tables('SELECT * FROM a LEFT JOIN (SELECT * FROM b) sb ON true, LATERAL (SELECT * FROM c WHERE c.id = a.id) lc WHERE a.x = (SELECT max(x) FROM d)'),
    ).toEqual({ reads: ['a', 'b', 'c', 'd'], writes: [] });
  });

  it('does not take CTE names for tables', () => {
    expect(tables('WITH recent AS (SELECT * FROM orders) SELECT * FROM recent JOIN customers USING (id)')).toEqual({
      reads: ['orders', 'customers'],
      writes: [],
    });
    expect(tables('WITH RECURSIVE r AS (SELECT 1 UNION ALL SELECT * FROM r) SELECT * FROM r')).toEqual({ reads: [], writes: [] });
    // A later CTE sees an earlier one; a nested query sees its enclosing WITH.
    expect(tables('WITH a AS (SELECT * FROM t), b AS (SELECT * FROM a) SELECT * FROM (SELECT * FROM b) x')).toEqual({
      reads: ['t'],
      writes: [],
    });
  });

  it('takes a name for the table when no WITH in scope defines it', () => {
    // In a non-recursive WITH, the CTE's own body sees the table of that name.
    expect(tables('WITH t AS (SELECT * FROM t) SELECT * FROM t')).toEqual({ reads: ['t'], writes: [] });
    // The CTE's scope is its statement, not a sibling subquery.
    expect(tables('SELECT * FROM (WITH c AS (SELECT 1) SELECT * FROM c) x, c')).toEqual({ reads: ['c'], writes: [] });
    // Schema-qualified names are never CTEs.
    expect(tables('WITH c AS (SELECT 1) SELECT * FROM public.c')).toEqual({ reads: ['public.c'], writes: [] });
  });

  it('INSERT ... SELECT writes the target and reads the sources', () => {
    expect(tables('INSERT INTO s.archive (id) SELECT id FROM s.events WHERE id > 3 RETURNING id')).toEqual({
      reads: ['s.events'],
      writes: ['s.archive'],
    });
  });

  it('UPDATE ... FROM and DELETE ... USING', () => {
    expect(tables('UPDATE t SET a = u.a FROM u WHERE t.id = u.id')).toEqual({ reads: ['u'], writes: ['t'] });
    expect(tables('UPDATE t SET a = 1 FROM t AS t2 WHERE t.id = t2.id')).toEqual({ reads: ['t'], writes: ['t'] });
    expect(tables('DELETE FROM t USING u WHERE t.id = u.id')).toEqual({ reads: ['u'], writes: ['t'] });
  });

  it('MERGE writes the target and reads the source', () => {
    expect(tables('MERGE INTO t USING (SELECT * FROM s) src ON t.id = src.id WHEN NOT MATCHED THEN INSERT VALUES (src.id)')).toEqual({
      reads: ['s'],
      writes: ['t'],
    });
  });

  it('data-modifying CTEs write', () => {
    expect(tables('WITH moved AS (DELETE FROM queue RETURNING *) INSERT INTO done SELECT * FROM moved')).toEqual({
      reads: [],
      writes: ['queue', 'done'],
    });
  });

  it('COPY FROM writes, COPY TO reads', () => {
    expect(tables('COPY t FROM STDIN')).toEqual({ reads: [], writes: ['t'] });
    expect(tables('COPY s.t (a, b) TO STDOUT')).toEqual({ reads: ['s.t'], writes: [] });
    expect(tables('COPY (SELECT * FROM t JOIN u USING (id)) TO STDOUT')).toEqual({ reads: ['t', 'u'], writes: [] });
  });

  it('DDL writes its target', () => {
    expect(tables('CREATE TABLE s.t (a int REFERENCES parent (id))')).toEqual({ reads: ['parent'], writes: ['s.t'] });
    expect(tables('CREATE TABLE c PARTITION OF p FOR VALUES IN (1)')).toEqual({ reads: ['p'], writes: ['c'] });
    expect(tables('CREATE TABLE n AS SELECT * FROM t')).toEqual({ reads: ['t'], writes: ['n'] });
    expect(tables('SELECT * INTO n FROM t')).toEqual({ reads: ['t'], writes: ['n'] });
    expect(tables('CREATE MATERIALIZED VIEW mv AS SELECT * FROM t')).toEqual({ reads: ['t'], writes: ['mv'] });
    expect(tables('CREATE VIEW v AS SELECT * FROM t')).toEqual({ reads: ['t'], writes: ['v'] });
    expect(tables('CREATE INDEX CONCURRENTLY i ON s.t (a)')).toEqual({ reads: [], writes: ['s.t'] });
    expect(tables('ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES o (id)')).toEqual({ reads: ['o'], writes: ['t'] });
    expect(tables('ALTER TABLE t RENAME TO u')).toEqual({ reads: [], writes: ['t'] });
    expect(tables('DROP TABLE a, s.b')).toEqual({ reads: [], writes: ['a', 's.b'] });
    expect(tables('DROP VIEW IF EXISTS v CASCADE')).toEqual({ reads: [], writes: ['v'] });
    expect(tables('TRUNCATE a, s.b')).toEqual({ reads: [], writes: ['a', 's.b'] });
    expect(tables('REFRESH MATERIALIZED VIEW mv')).toEqual({ reads: [], writes: ['mv'] });
  });

  it('ignores names that are not relations', () => {
    expect(tables('CREATE TYPE pair AS (a int, b int)')).toEqual({ reads: [], writes: [] });
    expect(tables('SELECT * FROM t AS x FOR UPDATE OF x')).toEqual({ reads: ['t'], writes: [] });
    expect(tables('DROP FUNCTION f(int)')).toEqual({ reads: [], writes: [] });
  });

  it('looks inside EXPLAIN and PREPARE', () => {
    expect(tables('EXPLAIN ANALYZE UPDATE t SET a = 1 FROM u')).toEqual({ reads: ['u'], writes: ['t'] });
    expect(tables('PREPARE p (int) AS SELECT * FROM t WHERE id = $1')).toEqual({ reads: ['t'], writes: [] });
  });
});

describe('fingerprint and normalized text', () => {
  it('fingerprints statements differing only in constants alike', () => {
    const one = analyze('select * from t where a = 1');
    const two = analyze('select * from t where a = 2');
    expect(one.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(two.fingerprint).toBe(one.fingerprint);
    expect(analyze('select * from t where b = 1').fingerprint).not.toBe(one.fingerprint);
  });

  it('normalizes constants to parameters, without comments', () => {
    expect(analyze("select * from t where a = 1 and b = 'x' /* traceparent='00-1' */").normalized).toBe(
      'select * from t where a = $1 and b = $2',
    );
  });

  it('freezes the analysis', () => {
    const analysis = analyze('SELECT * FROM t');
    expect(Object.isFrozen(analysis)).toBe(true);
    expect(Object.isFrozen(analysis.reads)).toBe(true);
  });
});
