import { beforeEach, describe, expect, it } from 'vitest';
import { createAnalyzer, type AnalyzedStatement, type StatementAnalyzer } from './index.ts';

let analyzer: StatementAnalyzer;
beforeEach(async () => {
  analyzer = await createAnalyzer();
});

/** Each statement's text must be exactly the slice its positions point at. */
function expectConsistent(sql: string, statements: readonly AnalyzedStatement[]): void {
  for (const statement of statements) expect(sql.slice(statement.start, statement.end)).toBe(statement.text);
}

describe('analyzeQuery', () => {
  it('splits a multi-statement query with positions in the original string', () => {
    const sql = 'BEGIN; UPDATE t SET a = 1 WHERE id = 2;\nCOMMIT;';
    const statements = analyzer.analyzeQuery(sql);
    expect(statements.map((s) => [s.text, s.start, s.end, s.analysis.kind, s.analysis.subkind])).toEqual([
      ['BEGIN', 0, 5, 'TRANSACTION', 'BEGIN'],
      ['UPDATE t SET a = 1 WHERE id = 2', 7, 38, 'UPDATE', undefined],
      ['COMMIT', 40, 46, 'TRANSACTION', 'COMMIT'],
    ]);
    expect(statements[1]!.analysis.writes).toEqual(['t']);
  });

  it('lets a caller splice a replacement over a statement', () => {
    const sql = "SELECT 1; DELETE FROM t; SELECT 'x'";
    const [, del] = analyzer.analyzeQuery(sql);
    expect(sql.slice(0, del!.start) + 'SELECT 2' + sql.slice(del!.end)).toBe("SELECT 1; SELECT 2; SELECT 'x'");
  });

  it('converts libpg-query byte offsets for non-ASCII text', () => {
    const sql = "/* ✓ */ SELECT 'héllo 😀 wörld'; INSERT INTO café VALUES ('日本語'); SELECT 2";
    const statements = analyzer.analyzeQuery(sql);
    expect(statements.map((s) => s.text)).toEqual(["/* ✓ */ SELECT 'héllo 😀 wörld'", "INSERT INTO café VALUES ('日本語')", 'SELECT 2']);
    expectConsistent(sql, statements);
    expect(statements[1]!.analysis.writes).toEqual(['café']);
    expect(statements[1]!.analysis.normalized).toBe('INSERT INTO café VALUES ($1)');
  });

  it('keeps semicolons inside dollar-quoted bodies, strings and identifiers', () => {
    const sql = "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN PERFORM 1; RETURN 2; END $body$; SELECT ';', \"a;b\" FROM t; DO $$ BEGIN NULL; END $$";
    const statements = analyzer.analyzeQuery(sql);
    expect(statements.map((s) => s.analysis.kind)).toEqual(['CREATE_FUNCTION', 'SELECT', 'DO']);
    expect(statements[0]!.text.endsWith('END $body$')).toBe(true);
    expect(statements[1]!.text).toBe('SELECT \';\', "a;b" FROM t');
    expectConsistent(sql, statements);
  });

  it('skips empty statements between semicolons', () => {
    const sql = ';; SELECT 1;;; SELECT 2 ;';
    const statements = analyzer.analyzeQuery(sql);
    expect(statements.map((s) => [s.text, s.start])).toEqual([
      ['SELECT 1', 3],
      ['SELECT 2', 15],
    ]);
  });

  it('returns nothing for empty input, comments or semicolons only', () => {
    for (const sql of ['', '   ', ';', ' ; ;', '-- nothing', '/* nothing */ ;']) expect(analyzer.analyzeQuery(sql)).toEqual([]);
  });

  it('keeps comments in the statement text, placed between its separators', () => {
    const sql = "/* first */ SELECT 1 -- one\n; SELECT /* inline */ 2; /* third */ SELECT 3 /* end */";
    const statements = analyzer.analyzeQuery(sql);
    expect(statements.map((s) => s.text)).toEqual([
      '/* first */ SELECT 1 -- one',
      'SELECT /* inline */ 2',
      '/* third */ SELECT 3 /* end */',
    ]);
    expectConsistent(sql, statements);
    expect(statements.map((s) => s.analysis.normalized)).toEqual(['SELECT $1', 'SELECT $1', 'SELECT $1']);
  });

  it('gives each statement the sqlcommenter tags of its own comment', () => {
    const sql = "SELECT 1 /*tenant='a'*/; SELECT 2; SELECT 3 /*tenant='c',traceparent='00-ab-cd-01'*/";
    expect(analyzer.analyzeQuery(sql).map((s) => s.tags)).toEqual([{ tenant: 'a' }, {}, { tenant: 'c', traceparent: '00-ab-cd-01' }]);
  });

  it('gives a comment after the last semicolon to the last statement, a leading one to the first', () => {
    const trailing = analyzer.analyzeQuery("BEGIN; SELECT 1; /*tenant='acme'*/");
    expect(trailing.map((s) => s.tags)).toEqual([{}, { tenant: 'acme' }]);
    expect(trailing[1]!.text).toBe('SELECT 1');
    const leading = analyzer.analyzeQuery("/*tenant='acme'*/ SELECT 1; SELECT 2");
    expect(leading.map((s) => s.tags)).toEqual([{ tenant: 'acme' }, {}]);
  });

  it('returns one UNKNOWN statement covering the text when it does not parse', () => {
    const sql = ' SELECT 1; SELEC 2; -- typo';
    const statements = analyzer.analyzeQuery(sql);
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatchObject({ text: 'SELECT 1; SELEC 2', start: 1, end: 18 });
    expect(statements[0]!.analysis).toEqual({
      kind: 'UNKNOWN',
      reads: [],
      writes: [],
      fingerprint: '',
      normalized: 'SELECT 1; SELEC 2;',
      error: 'syntax error at or near "SELEC"',
    });
  });

  it('reports the unterminated comment the server would', () => {
    const [statement] = analyzer.analyzeQuery('SELECT 1 /* never closed');
    expect(statement!.analysis.error).toMatch(/unterminated \/\* comment/);
  });

  it('parses a statement once, whatever its comments', () => {
    const sql = (traceparent: string) => `SELECT * FROM t WHERE id = 1 /*traceparent='${traceparent}'*/`;
    const first = analyzer.analyzeQuery(sql('00-aa-01'));
    const second = analyzer.analyzeQuery(sql('00-bb-01'));
    const third = analyzer.analyzeQuery('-- other comment\nSELECT * FROM t WHERE id = 1');
    expect(analyzer.stats()).toEqual({ hits: 2, misses: 1, size: 1 });
    expect(second[0]!.analysis).toBe(first[0]!.analysis);
    expect(third[0]!.analysis).toBe(first[0]!.analysis);
    expect(second[0]!.tags).toEqual({ traceparent: '00-bb-01' });
    expect(third[0]!.tags).toEqual({});
  });

  it('shares the whole result for a repeated comment-free query', () => {
    const first = analyzer.analyzeQuery('SELECT 1; SELECT 2');
    expect(analyzer.analyzeQuery('SELECT 1; SELECT 2')).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first[0])).toBe(true);
  });

  it('places a cached statement by the current string', () => {
    analyzer.analyzeQuery('SELECT 1; SELECT 2');
    const sql = '\n  SELECT 1; /* b */ SELECT 2 /* c */\n';
    const statements = analyzer.analyzeQuery(sql);
    expect(analyzer.stats().hits).toBe(1);
    expect(statements.map((s) => [s.text, s.start, s.end])).toEqual([
      ['SELECT 1', 3, 11],
      ['/* b */ SELECT 2 /* c */', 13, 37],
    ]);
  });

  it('evicts the least recently used entries beyond the cache size', async () => {
    const small = await createAnalyzer({ cacheSize: 2 });
    for (const sql of ['SELECT a', 'SELECT b', 'SELECT c', 'SELECT a']) small.analyzeQuery(sql);
    expect(small.stats()).toEqual({ hits: 0, misses: 4, size: 2 });
  });
});

describe('analyzeStatement', () => {
  it('analyzes the one statement of a Parse', () => {
    const statement = analyzer.analyzeStatement("INSERT INTO t VALUES ($1) /*tenant='acme'*/");
    expect(statement).toMatchObject({ text: "INSERT INTO t VALUES ($1) /*tenant='acme'*/", start: 0, tags: { tenant: 'acme' } });
    expect(statement.analysis).toMatchObject({ kind: 'INSERT', writes: ['t'], normalized: 'INSERT INTO t VALUES ($1)' });
  });

  it('reports an empty Parse as EMPTY', () => {
    expect(analyzer.analyzeStatement(' -- nothing ').analysis).toMatchObject({ kind: 'EMPTY', reads: [], writes: [] });
  });

  it('rejects several statements as the server does', () => {
    const statement = analyzer.analyzeStatement('SELECT 1; SELECT 2');
    expect(statement.text).toBe('SELECT 1; SELECT 2');
    expect(statement.analysis).toMatchObject({ kind: 'UNKNOWN', error: 'cannot insert multiple commands into a prepared statement' });
  });

  it('reports unparseable text without throwing', () => {
    expect(analyzer.analyzeStatement("SELECT 'unterminated").analysis).toMatchObject({
      kind: 'UNKNOWN',
      fingerprint: '',
      normalized: "SELECT 'unterminated",
      error: expect.stringMatching(/unterminated quoted string/),
    });
  });
});

describe('literal-masked cache keys', () => {
  const pgbench = (aid: number | string) => `SELECT abalance FROM pgbench_accounts WHERE aid = ${aid}`;

  it('shares one analysis between texts differing only in constants', () => {
    const first = analyzer.analyzeQuery(pgbench(1));
    const second = analyzer.analyzeQuery(pgbench(22));
    expect(analyzer.stats()).toEqual({ hits: 1, misses: 1, size: 1 });
    expect(second[0]!.analysis).toBe(first[0]!.analysis);
    expect(first[0]).toMatchObject({ text: pgbench(1), start: 0, end: 51 });
    expect(second[0]).toMatchObject({ text: pgbench(22), start: 0, end: 52 });
    expect(second[0]!.analysis).toMatchObject({
      kind: 'SELECT',
      reads: ['pgbench_accounts'],
      normalized: 'SELECT abalance FROM pgbench_accounts WHERE aid = $1',
    });
    expect(Object.isFrozen(second)).toBe(true);
    expect(Object.isFrozen(second[0])).toBe(true);
  });

  it('places a masked hit in the string sent: semicolon, whitespace, comments and tags', () => {
    // The key is the comment-free text's, so `x;`, `x ;` and `x` are three keys, as without masking.
    analyzer.analyzeQuery(`${pgbench(1)};`);
    analyzer.analyzeQuery(`${pgbench(1)} ;`);
    const cases: [string, string, number, Record<string, string>][] = [
      [`${pgbench(12345)};`, pgbench(12345), 0, {}],
      [`  \n${pgbench(7)};\n `, pgbench(7), 3, {}],
      [`/* lead */ ${pgbench(123)}; -- tail`, `/* lead */ ${pgbench(123)}`, 0, {}],
      [`${pgbench(4444)} /*tenant='acme',traceparent='00-ab-cd-01'*/;`, `${pgbench(4444)} /*tenant='acme',traceparent='00-ab-cd-01'*/`, 0, { tenant: 'acme', traceparent: '00-ab-cd-01' }],
      [`${pgbench(99999)}; /*tenant='x'*/`, pgbench(99999), 0, { tenant: 'x' }],
      [` /*tenant='y'*/\t${pgbench('0x1F')};`, `/*tenant='y'*/\t${pgbench('0x1F')}`, 1, { tenant: 'y' }],
    ];
    for (const [sql, text, start, tags] of cases) {
      const [statement, ...rest] = analyzer.analyzeQuery(sql);
      expect(rest).toEqual([]);
      expect(statement, sql).toMatchObject({ text, start, end: start + text.length, tags });
      expect(statement!.analysis.normalized).toBe('SELECT abalance FROM pgbench_accounts WHERE aid = $1');
    }
    expect(analyzer.stats()).toEqual({ hits: cases.length, misses: 2, size: 2 });
  });

  it('shares the whole result when the very text comes again', () => {
    const first = analyzer.analyzeQuery(pgbench(5));
    expect(analyzer.analyzeQuery(pgbench(5))).toBe(first);
    expect(analyzer.analyzeQuery(pgbench(6))).not.toBe(first);
    expect(analyzer.stats()).toEqual({ hits: 2, misses: 1, size: 1 });
  });

  it('places the statements of a multi-statement masked hit by their own semicolons', () => {
    analyzer.analyzeQuery("INSERT INTO t VALUES (1, 'a'); UPDATE t SET b = 'x;y' WHERE id = 2;\nDELETE FROM t WHERE id = 3");
    const sql = "INSERT INTO t VALUES (100000, 'a;b''c'); UPDATE t SET b = '' WHERE id = 7;\n/* c */ DELETE FROM t WHERE id = 30";
    const statements = analyzer.analyzeQuery(sql);
    expect(analyzer.stats()).toMatchObject({ hits: 1, misses: 1 });
    expect(statements.map((s) => [s.text, s.analysis.kind, s.analysis.normalized])).toEqual([
      ["INSERT INTO t VALUES (100000, 'a;b''c')", 'INSERT', 'INSERT INTO t VALUES ($1, $2)'],
      ["UPDATE t SET b = '' WHERE id = 7", 'UPDATE', 'UPDATE t SET b = $1 WHERE id = $2'],
      ['/* c */ DELETE FROM t WHERE id = 30', 'DELETE', 'DELETE FROM t WHERE id = $1'],
    ]);
    expectConsistent(sql, statements);
  });

  it('does not share between typmods', () => {
    const ten = analyzer.analyzeQuery('SELECT x::varchar(10) FROM t WHERE a = 1');
    const twenty = analyzer.analyzeQuery('SELECT x::varchar(20) FROM t WHERE a = 1');
    expect(ten[0]!.analysis.normalized).toBe('SELECT x::varchar(10) FROM t WHERE a = $1');
    expect(twenty[0]!.analysis.normalized).toBe('SELECT x::varchar(20) FROM t WHERE a = $1');
    // Each typmod's statement still shares across its other constants.
    analyzer.analyzeQuery('SELECT x::varchar(10) FROM t WHERE a = 2');
    expect(analyzer.stats()).toEqual({ hits: 1, misses: 2, size: 2 });
  });

  it('does not share where normalize keeps a constant, or outside DML', () => {
    const orderBy = ['SELECT a FROM t ORDER BY 1', 'SELECT a FROM t ORDER BY 2'].map((sql) => analyzer.analyzeQuery(sql)[0]!.analysis.normalized);
    expect(orderBy).toEqual(['SELECT a FROM t ORDER BY 1', 'SELECT a FROM t ORDER BY 2']);
    const set = ["SET work_mem = '64MB'", "SET work_mem = '128MB'"].map((sql) => analyzer.analyzeQuery(sql)[0]!.analysis);
    expect(set.map((analysis) => analysis.normalized)).toEqual(['SET work_mem = $1', 'SET work_mem = $1']);
    expect(set[1]).not.toBe(set[0]);
    expect(analyzer.stats()).toEqual({ hits: 0, misses: 4, size: 4 });
  });

  it('still analyzes the text alone when the lexer gives up on it', () => {
    const statement = analyzer.analyzeStatement('SELECT 1abc');
    expect(statement.analysis.kind).toBe('UNKNOWN');
    expect(analyzer.analyzeStatement('SELECT 1abc').analysis).toBe(statement.analysis);
  });

  // For each text, a long-lived analyzer that has seen every other text must answer exactly as a
  // new one does. Each template is filled with several literal sets; each text is also sent with
  // a trailing semicolon and with comments around it.
  const templates: [string, string[][]][] = [
    ['SELECT abalance FROM pgbench_accounts WHERE aid = {0}', [['1'], ['22'], ['12345'], ['0x1F'], ['1_000'], ['-7'], ['2147483648'], ['1.5']]],
    ['UPDATE pgbench_accounts SET abalance = abalance + {0} WHERE aid = {1}', [['-5', '1'], ['4321', '99999'], ['0', '2']]],
    ['INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ({0}, {1}, {2}, {3}, CURRENT_TIMESTAMP)', [['1', '2', '3', '4'], ['10', '1', '77777', '-4999']]],
    ['SELECT * FROM t WHERE name = {0}', [["'a'"], ["'it''s'"], ["'日本語 😀'"], ["''"], ["E'x\\ny'"], ["E'\\x41'"], ["'a;b'"]]],
    ['SELECT * FROM t WHERE a IN ({0}, {1}, {2})', [['1', '2', '3'], ['4', '4', '4'], ["'a'", "'b'", "'c'"]]],
    ['SELECT * FROM t ORDER BY {0}', [['1'], ['2'], ['1.5'], ['99999999999'], ['-1']]],
    ['SELECT a, count(*) FROM t GROUP BY {0}', [['1'], ['2'], ['1.5']]],
    ['SELECT a + {0} FROM t GROUP BY a + {1}', [['1', '1'], ['1', '2'], ['3', '4']]],
    ['SELECT x::varchar({0}) FROM t WHERE a = {1}', [['10', '1'], ['20', '1'], ['10', '2']]],
    ['SELECT CAST(x AS numeric({0},{1})) FROM t WHERE b = {2}', [['10', '2', '1'], ['12', '4', '1'], ['10', '2', '3']]],
    ['SELECT * FROM t WHERE a = {0}::numeric (10, 2)', [['1'], ['2.5']]],
    ['SELECT x::int[{0}] FROM t WHERE a = {1}', [['3', '1'], ['4', '2']]],
    ['SELECT * FROM t LIMIT {0} OFFSET {1}', [['10', '5'], ['20', '0']]],
    ['SELECT * FROM t WHERE ts > now() - interval {0}', [["'1 day'"], ["'2 hours'"]]],
    ['SELECT date {0}, timestamp(3) {1}', [["'2020-01-01'", "'2020-01-01 10:00'"], ["'2021-12-31'", "'now'"]]],
    ['SELECT {0}::int', [["'1'"], ["'22'"], ['1'], ['2.5']]],
    ['SELECT {0}, {1}, {2}', [['1.5e-3', '-5', '.5'], ['2e10', '-0', '5.'], ["B'101'", "X'1F'", "N'a'"], ["B'1'", "X'ff'", "U&'x'"], ["U&'\\0041'", "E'\\u0041'", "'x'"], ['true', 'null', "E'\\\\'"]]],
    ['SELECT * FROM t WHERE a = {0} AND b = true AND c IS NULL', [['1'], ['2']]],
    ['SELECT * FROM t WHERE a BETWEEN {0} AND {1}', [['1', '2'], ['-1.5', '1e3']]],
    ['DELETE FROM t WHERE id = {0} RETURNING *', [['1'], ['2']]],
    ['UPDATE t SET a = {0}, b = {1} WHERE id = {2}', [["'x'", '1', '2'], ["'yy'", '3', '4']]],
    ['INSERT INTO t (a, b) VALUES ({0}, {1}) ON CONFLICT (a) DO UPDATE SET b = {2}', [['1', "'a'", "'b'"], ['2', "'cc'", "'dd'"]]],
    ['MERGE INTO t USING s ON t.id = s.id WHEN MATCHED AND s.v > {0} THEN UPDATE SET v = {1} WHEN NOT MATCHED THEN INSERT VALUES (s.id, {2})', [['1', '2', '3'], ['10', '20', '30']]],
    ['WITH x AS (SELECT * FROM t WHERE a = {0}) SELECT * FROM x WHERE b = {1}', [['1', "'a'"], ['2', "'b'"]]],
    ['SELECT * FROM t WHERE a = ANY({0})', [["'{1,2}'"], ["'{3}'"]]],
    ['SELECT substring(x from {0} for {1}) FROM t', [['1', '2'], ['3', '4']]],
    ['SELECT f({0}) FROM t WHERE a = {1}', [['1', '2'], ['1', '3'], ['5', '2']]],
    ['SELECT * FROM t WHERE a = $1 AND b = {0} AND c = $2', [['1'], ['2']]],
    ['SELECT a[{0}], b[{1}:{2}] FROM t', [['1', '2', '3'], ['4', '5', '6']]],
    ['SELECT * FROM t FETCH FIRST {0} ROWS ONLY', [['5'], ['10']]],
    ['SELECT {0} AT TIME ZONE {1}', [["'2020-01-01'", "'UTC'"], ["'2021-01-01'", "'CET'"]]],
    ['SELECT x FROM t WHERE y LIKE {0} ESCAPE {1}', [["'x%'", "'\\'"], ["'y%'", "'!'"]]],
    ['SELECT * FROM t WHERE a = {0}; SELECT * FROM u WHERE b = {1};', [['1', "'x'"], ['22', "'y;z'"]]],
    ['BEGIN; UPDATE t SET a = {0} WHERE id = {1}; COMMIT', [['1', '2'], ['3', '4']]],
    ['SELECT {0} FROM t TABLESAMPLE SYSTEM ({1})', [['1', '10'], ['2', '20']]],
    ["SELECT 'a' || {0} || 'b'", [["'x'"], ["'yy'"]]],
    ['SELECT * FROM "T 1" WHERE "c;1" = {0} AND t1.c2 = {1}', [['1', '2'], ['3', '4']]],
    ['SELECT {0} FROM t WHERE x = $$a;b$$', [['1'], ['2']]],
    ['SELECT -{0}, - {1}, - -{2}, a-{3}', [['1', '2', '3', '4'], ['5', '6', '7', '8']]],
    ['SELECT a FROM t WHERE b = {0} FOR UPDATE', [['1'], ['2']]],
    ['SELECT xmlroot(x, version {0})', [["'1.0'"], ["'1.1'"]]],
    ['SELECT extract(year from {0}::date)', [["'2020-01-01'"], ["'2021-01-01'"]]],
    ['SELECT * FROM generate_series({0}, {1})', [['1', '10'], ['2', '20']]],
    ['SELECT {0} UNION ALL SELECT {1}', [['1', '2'], ['3', '4']]],
    ['SELECT {0} WHERE EXISTS (SELECT {1} FROM t)', [['1', '2'], ['3', '4']]],
    ['VALUES ({0}, {1}), ({2}, {3})', [['1', "'a'", '2', "'b'"], ['3', "'c'", '4', "'d'"]]],
    ['SELECT {0} FROM t GROUP BY 1', [['1'], ['2']]],
    ["SELECT U&'a' UESCAPE {0}", [["'!'"], ["'#'"]]],
    ["SELECT 'a'\n{0}", [["'b'"], ["'cc'"]]],
    ['SELECT * FROM t1 WHERE c2 = {0}', [['1'], ['2']]],
    ['SET work_mem = {0}', [["'64MB'"], ["'128MB'"], ['64']]],
    ['SET search_path = {0}', [['public'], ["'public'"]]],
    ['CREATE ROLE r PASSWORD {0}', [["'x'"], ["'y'"]]],
    ['NOTIFY ch, {0}', [["'a'"], ["'b'"]]],
    ['EXPLAIN SELECT * FROM t WHERE a = {0}', [['1'], ['2']]],
    ['CREATE TABLE t (a varchar({0}) DEFAULT {1})', [['10', "'x'"], ['20', "'y'"]]],
    ['ALTER TABLE t ALTER a SET DEFAULT {0}', [['5'], ['6']]],
    ['DO $$ BEGIN PERFORM {0}; END $$', [['1'], ['2']]],
    ["COPY t FROM {0}", [["'/tmp/a'"], ["'/tmp/b'"]]],
    ['PREPARE p AS SELECT * FROM t WHERE a = {0}', [['1'], ['2']]],
    ['EXECUTE p({0})', [['1'], ['2']]],
    ['FETCH {0} FROM c', [['1'], ['2']]],
    ['CALL p({0})', [['1'], ['2']]],
    ['SELECT {0}', [['1abc'], ["'unterminated"], ['1..2'], ['0x'], ["E'\\xff'"], ["U&'\\D800'"], ['1'], ['2']]],
    ['SELECT * FROM t WHERE a = {0} ORDER BY b LIMIT {1}', [['1', '10'], ['2', '20']]],
  ];
  const fill = (template: string, values: string[]) => template.replace(/\{(\d)\}/g, (_, i: string) => values[Number(i)]!);
  const texts = templates.flatMap(([template, sets]) =>
    sets.flatMap((values) => {
      const text = fill(template, values);
      return [text, `${text};`, `  /* lead */ ${text} /*tenant='t1'*/ ;\n`, `-- note\n${text}\n`];
    }),
  );

  it.each([
    ['in order', texts],
    ['in reverse order', [...texts].reverse()],
  ])(`answers as a fresh analyzer does for each of ${texts.length} texts, %s`, async (_, order) => {
    const shared = await createAnalyzer();
    for (const sql of order) {
      const fresh = await createAnalyzer();
      expect(shared.analyzeQuery(sql), sql).toEqual(fresh.analyzeQuery(sql));
      expect(shared.analyzeStatement(sql), sql).toEqual(fresh.analyzeStatement(sql));
    }
    // Most were answered from the cache, many under masked keys.
    const { hits, misses } = shared.stats();
    expect(hits).toBeGreaterThan(2 * misses);
  });
});
