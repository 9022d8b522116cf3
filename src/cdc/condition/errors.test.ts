import { beforeAll, describe, expect, it } from 'vitest';
import { compileCondition, compileConditionSync, ConditionError, ensureParser, MAX_CONDITION_LENGTH, MAX_DEPTH } from './index.ts';

beforeAll(() => ensureParser());

/** The ConditionError compiling `expr` raises. */
function rejection(expr: string): ConditionError {
  try {
    compileConditionSync(expr);
  } catch (err) {
    expect(err).toBeInstanceOf(ConditionError);
    return err as ConditionError;
  }
  throw new Error(`${JSON.stringify(expr)} compiled`);
}

const message = (expr: string) => rejection(expr).message;

describe('rejections say what and where', () => {
  it('syntax errors, with the position in the condition', () => {
    expect(message("new.status = = 'x'")).toBe('syntax error at or near "=" (at position 14)');
    expect(message('new.a =')).toBe('syntax error at end of condition (at position 8)');
    expect(message("new.a = 'open")).toBe('unterminated quoted string at or near "\'open" (at position 9)');
    expect(message('new.a = 1 /* x')).toBe('unterminated /* comment at or near "/* x" (at position 11)');
    expect(message('(new.a = 1')).toMatch(/^syntax error at end of condition/);
    // Positions count characters, not bytes.
    expect(message("'ééé' = = 1")).toBe('syntax error at or near "=" (at position 9)');
    expect(rejection('new.a =').position).toBe(8);
  });

  it('unsupported functions', () => {
    expect(message('pg_sleep(1) IS NULL')).toBe('unsupported function "pg_sleep" (at position 1)');
    expect(message("new.a = 1 AND now() > '2020-01-01'")).toBe('unsupported function "now" (at position 15)');
    expect(message('public.lower(new.a) = 1')).toBe('unsupported function "public.lower" (at position 1)');
    expect(message('new.t > current_timestamp')).toBe('unsupported function "current_timestamp" (at position 9)');
    expect(message("new.t = current_user")).toBe('unsupported function "current_user" (at position 9)');
    expect(message('count(*) > 1')).toMatch(/^aggregate, window and VARIADIC syntax is not allowed in a condition: "count"/);
    expect(message('abs(new.a) OVER () > 1')).toMatch(/^aggregate, window and VARIADIC syntax is not allowed/);
    expect(message('lower(new.a, new.b) = 1')).toBe('function lower() takes 1 argument, not 2 (at position 1)');
    expect(message('round() = 1')).toBe('function round() takes 1 to 2 arguments, not 0 (at position 1)');
    expect(message("substring(new.a from 'x.*') = 'x'")).toMatch(/^substring with a regular expression \(FROM pattern\) is not supported/);
    // Built-in functions may be schema-qualified with pg_catalog.
    expect(compileConditionSync("pg_catalog.lower(new.a) = 'x'").matches({ new: { a: 'X' }, old: null })).toBe(true);
  });

  it('subqueries and other statements', () => {
    expect(message('(SELECT 1) = 1')).toBe('subqueries are not allowed in a condition: "(SELECT 1)" (at position 1)');
    expect(message('new.a IN (SELECT id FROM t)')).toBe('subqueries are not allowed in a condition: "new.a IN (SELECT id FROM t)" (at position 1)');
    expect(message('EXISTS (SELECT 1 FROM pg_class)')).toBe('subqueries are not allowed in a condition: "EXISTS (SELECT 1 FROM pg_class)" (at position 1)');
    expect(message('true; DROP TABLE t')).toBe('a condition is a single expression: found more than one statement (at position 5)');
    expect(message('true ORDER BY 1')).toMatch(/clauses such as ORDER BY, GROUP BY, LIMIT or UNION are not allowed \(at position 6\)$/);
    expect(message('true UNION SELECT 1')).toMatch(/not allowed \(at position 6\)$/);
    expect(message('true LIMIT 1')).toMatch(/not allowed \(at position 6\)$/);
    expect(message('new.a IS DISTINCT FROM 1 GROUP BY 1')).toMatch(/not allowed \(at position 26\)$/);
  });

  it('column references', () => {
    expect(message('foo.bar = 1')).toBe('unknown column reference "foo.bar": use new.<column> or old.<column> (at position 1)');
    expect(message('new.a.b = 1')).toBe('unknown column reference "new.a.b": use new.<column> or old.<column> (at position 1)');
    expect(message('"NEW".a = 1')).toBe('unknown column reference "\"NEW\".a": use new.<column> or old.<column> (at position 1)');
    expect(message('new IS NULL')).toBe('"new" is a whole row: reference one of its columns, as new.<column> (at position 1)');
    expect(message('old.* IS NULL')).toBe('"old.*" is not supported: reference columns one by one, as new.<column> (at position 1)');
    expect(message('new.tags[1] = 1')).toMatch(/^subscripts and field selection are not supported/);
    expect(message('(new.addr).city = 1')).toMatch(/^subscripts and field selection are not supported/);
  });

  it('types', () => {
    expect(message("lower(new.a) = 1")).toBe('cannot compare text with numeric: "lower(new.a) = 1" (at position 1)');
    expect(message("new.a::date = 1")).toBe('cannot compare date with numeric: "new.a::date = 1" (at position 1)');
    expect(message("new.a::interval > '1 day'")).toBe('unsupported type "interval" (at position 8)');
    expect(message("new.a::text[] = '{}'")).toMatch(/^array type "text\[\]" is only allowed as/);
    expect(message("new.a::char = 'x'")).toBe('unsupported type "bpchar" (at position 8)');
    expect(message("new.a::int(4) = 1")).toMatch(/^syntax error|type modifiers are not supported/);
    expect(message("new.a::timestamptz(9) IS NULL")).toBe('invalid type modifier for type "timestamptz" (at position 8)');
    expect(message("'abc'::int = 1")).toBe('invalid input syntax for type integer: "abc" (at position 1)');
    expect(message("new.a::date > '2026-13-01'")).toBe('date/time field value out of range: "2026-13-01" (at position 15)');
    expect(message("CASE WHEN new.a THEN 1 ELSE 'x'::text END = 1")).toMatch(/^CASE types numeric and text cannot be matched/);
    expect(message("coalesce(new.a::int, 'x'::text) IS NULL")).toMatch(/^COALESCE types numeric and text cannot be matched/);
    expect(message('new.a = 1 AND 5')).toBe('argument of AND must be type boolean, not type numeric: "5" (at position 15)');
    expect(message('1')).toBe('argument of WHERE must be type boolean, not type numeric: "1" (at position 1)');
    expect(message("lower('x')")).toMatch(/^argument of WHERE must be type boolean, not type text/);
    expect(message("new.a::date + 1 > '2020-01-01'")).toMatch(/^operator \+ is not supported for date/);
    expect(message("new.a::date -> 'x' IS NULL")).toMatch(/^operator -> needs jsonb, not date/);
    expect(message("abs('x'::text) = 1")).toMatch(/^argument 1 of abs\(\) must be numeric, not text/);
  });

  it('operators and syntax outside the language', () => {
    expect(message("new.a ~ 'x'")).toBe('unsupported operator "~" (at position 7)');
    expect(message("new.a SIMILAR TO 'x'")).toMatch(/^SIMILAR TO is not supported: use LIKE/);
    expect(message("new.a = ANY('{1,2}')")).toMatch(/^= ANY \(array\) is not supported: use IN/);
    expect(message("new.a COLLATE \"C\" < 'b'")).toMatch(/^COLLATE is not supported/);
    expect(message('new.a = $1')).toBe('parameters ($1) are not allowed in a condition (at position 9)');
    expect(message("B'101' = new.a")).toMatch(/^bit string literals are not supported/);
    expect(message('ROW(1, 2) = new.a')).toMatch(/^row constructors are not supported/);
    expect(message('new.a IS DOCUMENT')).toMatch(/^unsupported expression: "new.a IS/);
    expect(message('ARRAY[1] = new.a')).toMatch(/^an ARRAY is only allowed/);
    expect(message('@ new.a = 1')).toBe('unsupported operator "@" (at position 1)');
    expect(message('new.a OPERATOR(public.=) 1')).toBe('unsupported operator "public.=" (at position 7)');
  });

  it('errors in constant parts are compile errors', () => {
    expect(message('new.a = 1 / 0')).toBe('division by zero (at position 9)');
    expect(message("new.a LIKE 'x\\'")).toBe('LIKE pattern must not end with escape character (at position 12)');
    expect(message("new.a = 'x'::jsonb")).toBe('invalid input syntax for type json: "x" (at position 9)');
  });
});

describe('pathological input is a ConditionError, not a crash', () => {
  it('empty and blank conditions', () => {
    expect(message('')).toBe('the condition is empty');
    expect(message('   \n ')).toBe('the condition is empty');
    expect(message('-- only a comment')).toMatch(/^syntax error at end of condition/);
  });

  it('text the parser cannot read', () => {
    for (const junk of [')(', "'", '"', '$$', 'new.a = 1)', 'SELECT', ';', '\\', '((((', 'CASE', 'x ==== y', '1 +', 'E\'\\x', "U&'\\zzzz'"]) {
      expect(rejection(junk)).toBeInstanceOf(ConditionError);
    }
  });

  it('a NUL character, which would end the text the parser sees', () => {
    expect(message('true\0 OR x')).toBe('the condition contains a NUL character (at position 5)');
  });

  it('too long', () => {
    expect(message(`new.a = '${'x'.repeat(MAX_CONDITION_LENGTH)}'`)).toMatch(/^the condition is too long/);
    // Just under the limit compiles.
    const list = Array.from({ length: 2000 }, (_, i) => i).join(',');
    expect(compileConditionSync(`new.a IN (${list})`).matches({ new: { a: 1999 }, old: null })).toBe(true);
  });

  it('deep nesting, of each kind', () => {
    const deep = 1000;
    for (const expr of [
      `${'NOT '.repeat(deep)}true`,
      `new.a${' + 1'.repeat(deep)} > 0`,
      `${'- '.repeat(deep)}new.a > 0`,
      `${'lower('.repeat(deep)}'x'${')'.repeat(deep)} = 'x'`,
      `${'coalesce('.repeat(deep)}1${')'.repeat(deep)} = 1`,
      `new.p${"->'a'".repeat(deep)} IS NULL`,
      `${'CASE WHEN true THEN '.repeat(300)}true${' END'.repeat(300)}`,
      `${'(new.a = 1 AND '.repeat(deep)}true${')'.repeat(deep)}`,
    ]) {
      expect(message(expr)).toMatch(/^the condition is nested too deeply \(more than 100 levels\)/);
    }
    expect(message(`${'NOT '.repeat(MAX_DEPTH + 5)}true`)).toMatch(/^the condition is nested too deeply/);
    expect(compileConditionSync(`${'NOT '.repeat(MAX_DEPTH - 2)}true`).evaluate({ new: {}, old: null })).toBe(true);
    // Redundant parentheses are no nesting at all.
    expect(compileConditionSync(`${'('.repeat(8000)}true${')'.repeat(8000)}`).evaluate({ new: {}, old: null })).toBe(true);
  });

  it('non-string input', () => {
    expect(() => compileConditionSync(undefined as unknown as string)).toThrow(ConditionError);
  });

  it('the async entry point rejects with ConditionError too', async () => {
    await expect(compileCondition('pg_sleep(1) IS NULL')).rejects.toThrow(ConditionError);
    await expect(compileCondition("new.status = 'x'")).resolves.toMatchObject({ source: "new.status = 'x'", columns: ['new.status'] });
  });

  it('the parser keeps working after failures', () => {
    for (let i = 0; i < 50; i++) rejection(`${'('.repeat(20000)}x`);
    expect(compileConditionSync('new.a = 1').matches({ new: { a: 1 }, old: null })).toBe(true);
  });
});

describe('rows outside the documented shapes do not crash matches', () => {
  it('odd values', () => {
    const c = compileConditionSync("new.a > 1 AND lower(new.b) = 'x' AND new.c->>'k' = 'v'");
    for (const row of [
      { new: { a: {}, b: 'X', c: { k: 'v' } }, old: null },
      { new: { a: [1], b: 'X', c: { k: 'v' } }, old: null },
      { new: { a: 2, b: 5, c: 'str' }, old: null },
      { new: { a: 2n, b: 'X', c: { k: 'v' } }, old: null },
      { new: undefined as unknown as null, old: undefined as unknown as null },
    ]) {
      expect(typeof c.matches(row)).toBe('boolean');
    }
    expect(c.matches({ new: { a: 2n, b: 'X', c: { k: 'v' } }, old: null })).toBe(true);
  });
});
