import { describe, expect, it } from 'vitest';
import { LiteralMasker, maskLiterals } from './literal-mask.ts';

/** The key with each placeholder shown as ‹class›. */
const key = (text: string): string => maskLiterals(text).key.replace(/\0(.)/g, '‹$1›');
const count = (text: string): number => maskLiterals(text).count;

describe('maskLiterals', () => {
  it('masks numbers, classing int4 integers apart from other numbers', () => {
    expect(key('SELECT abalance FROM pgbench_accounts WHERE aid = 12345;')).toBe('SELECT abalance FROM pgbench_accounts WHERE aid = ‹i›;');
    expect(key('SELECT 1.5, .5, 5., 1e10, 1.5e-3, 2E+8')).toBe('SELECT ‹n›, ‹n›, ‹n›, ‹n›, ‹n›, ‹n›');
    expect(key('SELECT 0x1F, 0o17, 0b101, 1_000, 0x_FF, 00042')).toBe('SELECT ‹i›, ‹i›, ‹i›, ‹i›, ‹i›, ‹i›');
    // Past int4 the lexer makes an FCONST, as it does for decimals.
    expect(key('SELECT 2147483647, 2147483648, 0x7FFFFFFF, 0x80000000, 99999999999')).toBe('SELECT ‹i›, ‹n›, ‹i›, ‹n›, ‹n›');
    expect(count('SELECT 1.5e-3, 0x1F')).toBe(2);
  });

  it('leaves the sign of a negative number in the key', () => {
    expect(key('SELECT -5, - 5, a-1, a - -2.5, 1e-3')).toBe('SELECT -‹i›, - ‹i›, a-‹i›, a - -‹n›, ‹n›');
  });

  it('does not take digits inside identifiers or parameters for numbers', () => {
    expect(maskLiterals('SELECT t1.c2, a$1, _3 FROM s1.t1 WHERE x = $1 AND y = $23')).toEqual({
      key: 'SELECT t1.c2, a$1, _3 FROM s1.t1 WHERE x = $1 AND y = $23',
      count: 0,
    });
    expect(key('SELECT t1.c2 FROM t1 WHERE c3 = 4')).toBe('SELECT t1.c2 FROM t1 WHERE c3 = ‹i›');
  });

  it('masks strings, with doubled quotes and escapes', () => {
    expect(key("SELECT 'a', 'it''s', '', 'x;y', '日本語'")).toBe('SELECT ‹s›, ‹s›, ‹s›, ‹s›, ‹s›');
    expect(key("SELECT E'it\\'s', e'a\\\\', E'\\n\\t', E'x''y'")).toBe('SELECT E‹s›, e‹s›, E‹s›, E‹s›');
    expect(key("SELECT U&'abc', N'abc', B'101', X'1F', b'', x'ff'")).toBe('SELECT U&‹s›, N‹s›, B‹b›, X‹x›, b‹b›, x‹x›');
  });

  it('masks just the string of a typed literal', () => {
    expect(key("SELECT interval '1 day', date '2020-01-01', timestamp(3) '2020-01-01 12:00', foo.bar 'x'")).toBe(
      'SELECT interval ‹s›, date ‹s›, timestamp(3) ‹s›, foo.bar ‹s›',
    );
    // Only a one-letter word is a prefix: `xe'..'` is a type name and a plain string.
    expect(key("SELECT xe'\\x41', ab'101'")).toBe("SELECT xe‹s›, ab‹s›");
  });

  it('keeps strings whose escapes could be invalid', () => {
    // \x, octal and Unicode escapes make bytes or code points the lexer may reject (E'\xff').
    expect(key("SELECT E'\\xff', E'\\101', E'\\u00e9', E'\\U0001F600', U&'d\\0061', 'a'")).toBe(
      "SELECT E'\\xff', E'\\101', E'\\u00e9', E'\\U0001F600', U&'d\\0061', ‹s›",
    );
    expect(key("SELECT B'102', X'1G', B'1'")).toBe("SELECT B'102', X'1G', B‹b›");
  });

  it('keeps dollar-quoted bodies and quoted identifiers', () => {
    const body = "DO $$ BEGIN PERFORM 1; RAISE NOTICE 'x'; END $$";
    expect(maskLiterals(body)).toEqual({ key: body, count: 0 });
    expect(key("SELECT $fn$ 1 'a' $fn$, \"col 1\", \"it's\", U&\"d\\0061t\" FROM \"T2\" WHERE a = 3")).toBe(
      "SELECT $fn$ 1 'a' $fn$, \"col 1\", \"it's\", U&\"d\\0061t\" FROM \"T2\" WHERE a = ‹i›",
    );
  });

  it('keeps numbers directly inside parentheses after a word: typmods and function arguments', () => {
    expect(key('SELECT x::varchar(10), CAST(y AS numeric(10, 2)), z::numeric (5), f(1), g(a, 2)')).toBe(
      'SELECT x::varchar(10), CAST(y AS numeric(10, 2)), z::numeric (5), f(1), g(a, 2)',
    );
    expect(key('SELECT "MyType"(3), f((4)), f(a + (5))')).toBe('SELECT "MyType"(3), f((‹i›)), f(a + (‹i›))');
    // Strings there are masked: normalize replaces them and no typmod is written so.
    expect(key("SELECT f('x', 1)")).toBe('SELECT f(‹s›, 1)');
  });

  it('masks numbers inside parentheses of expression keywords', () => {
    expect(key('INSERT INTO t (a, b) VALUES (1, 2), (3, 4)')).toBe('INSERT INTO t (a, b) VALUES (‹i›, ‹i›), (‹i›, ‹i›)');
    expect(key('SELECT * FROM t WHERE a IN (1, 2) AND (b = 3) AND c = ANY (4) OR NOT (5)')).toBe(
      'SELECT * FROM t WHERE a IN (‹i›, ‹i›) AND (b = ‹i›) AND c = ANY (‹i›) OR NOT (‹i›)',
    );
    expect(key('SELECT (1, 2), ROW(3), x = (4)')).toBe('SELECT (‹i›, ‹i›), ROW(‹i›), x = (‹i›)');
  });

  it('does not mask text the lexer rejects', () => {
    for (const text of ["SELECT 'unterminated", 'SELECT "unterminated', 'SELECT $$unterminated', 'SELECT 1abc, 2', 'SELECT 1_, 2', 'SELECT 0x, 2', 'SELECT 1e, 2', 'SELECT 1..2', 'SELECT 1.2.3', 'SELECT $1a, 2', 'SELECT 1 /* unterminated']) {
      expect(maskLiterals(text), text).toEqual({ key: text, count: 0 });
    }
  });

  it('returns the very string when nothing is masked', () => {
    const text = 'SELECT * FROM t WHERE a = $1';
    expect(maskLiterals(text).key).toBe(text);
  });

  it('gives texts differing only in literal values the same key, and no other texts', () => {
    const same = [
      ["SELECT * FROM t WHERE a = 1 AND b = 'x'", "SELECT * FROM t WHERE a = 123456 AND b = 'it''s long'"],
      ['SELECT 1.5', 'SELECT 1e-9'],
      ["SELECT E'a'", "SELECT E'\\\\\\''"],
    ];
    for (const [a, b] of same) expect(maskLiterals(a!).key).toBe(maskLiterals(b!).key);
    const different = [
      ['SELECT 1', 'SELECT 1.0'],
      ['SELECT 1', 'SELECT 2147483648'],
      ['SELECT 1', "SELECT '1'"],
      ["SELECT 'a'", "SELECT E'a'"],
      ["SELECT B'1'", "SELECT X'1'"],
      ['SELECT x::varchar(10)', 'SELECT x::varchar(20)'],
      ['SELECT -1', 'SELECT 1'],
      ['SELECT $$a$$', 'SELECT $$b$$'],
    ];
    for (const [a, b] of different) expect(maskLiterals(a!).key, `${a} / ${b}`).not.toBe(maskLiterals(b!).key);
  });
});

describe('LiteralMasker', () => {
  it('records literal tokens, masked or kept, and semicolons outside quotes', () => {
    const masker = new LiteralMasker();
    const text = "SELECT f(1), 'a;b'; SELECT $$;$$, 22;";
    masker.mask(text);
    const spans = Array.from({ length: masker.spans }, (_, k) => [text.slice(masker.spanStart[k], masker.spanEnd[k]), masker.spanMasked[k]]);
    expect(spans).toEqual([
      ['1', false],
      ["'a;b'", true],
      ['$$;$$', false],
      ['22', true],
    ]);
    expect(masker.semicolonAt.slice(0, masker.semicolons)).toEqual([18, 36]);
  });

  it('checks that normalize replaced every masked literal', () => {
    const masker = new LiteralMasker();
    const check = (text: string, normalized: string): boolean => {
      masker.mask(text);
      return masker.coveredByNormalized(text, [{ start: 0, end: text.length, normalized }]);
    };
    expect(check('SELECT * FROM t WHERE a = 1', 'SELECT * FROM t WHERE a = $1')).toBe(true);
    expect(check("SELECT -1, - 2, E'x', B'1', U&'y', N'z'", 'SELECT $1, $2, $3, $4, $5, N$6')).toBe(true);
    // Replaced tokens that were not masked are alike in every text of the key.
    expect(check('SELECT f(1), true, 2 LIMIT ALL', 'SELECT f($1), $2, $3 LIMIT $4')).toBe(true);
    expect(check('SELECT x::varchar(10), 2', 'SELECT x::varchar(10), $1')).toBe(true);
    // ORDER BY 1 is kept, and so is anything inside a typmod.
    expect(check('SELECT a FROM t ORDER BY 1', 'SELECT a FROM t ORDER BY 1')).toBe(false);
    expect(check('SELECT x::int[3], 4', 'SELECT x::int[3], $1')).toBe(false);
    // One $n for two strings (continued across a newline).
    expect(check("SELECT 'a'\n'b'", 'SELECT $1')).toBe(false);
    // pg_query's slip on `- -5`.
    expect(check('SELECT - -5', 'SELECT $15')).toBe(false);
    // The count alone would pass this one: 1 in ORDER BY is kept, f's 2 replaced.
    expect(check('SELECT a FROM t WHERE b = f(2) ORDER BY 1', 'SELECT a FROM t WHERE b = f($1) ORDER BY 1')).toBe(false);
  });
});
