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
    for (const sql of ['SELECT 1', 'SELECT 2', 'SELECT 3', 'SELECT 1']) small.analyzeQuery(sql);
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
