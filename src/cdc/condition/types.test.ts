import { beforeAll, describe, expect, it } from 'vitest';
import { compileConditionSync, ConditionError, ensureParser } from './index.ts';

type Cell = Record<string, unknown>;

beforeAll(() => ensureParser());

function ev(expr: string, next: Cell | null = {}, prev: Cell | null = null): boolean | null {
  return compileConditionSync(expr).evaluate({ new: next, old: prev });
}

/** The evaluation error's message (PostgreSQL would raise it; `matches` is false). */
function evalError(expr: string, next: Cell = {}): string {
  const c = compileConditionSync(expr);
  expect(c.matches({ new: next, old: null })).toBe(false);
  try {
    c.evaluate({ new: next, old: null });
  } catch (err) {
    expect(err).toBeInstanceOf(ConditionError);
    return (err as Error).message;
  }
  throw new Error(`${expr} evaluated without error`);
}

function compileError(expr: string): string {
  try {
    compileConditionSync(expr);
  } catch (err) {
    expect(err).toBeInstanceOf(ConditionError);
    return (err as Error).message;
  }
  throw new Error(`${expr} compiled`);
}

describe('numbers', () => {
  it('compares numeric strings numerically against numbers', () => {
    expect(ev('new.amount > 10', { amount: '12.50' })).toBe(true);
    expect(ev('new.amount > 100', { amount: '12.50' })).toBe(false);
    expect(ev('new.amount = 12.5', { amount: '12.50' })).toBe(true);
    expect(ev('12.5 = new.amount', { amount: '12.50' })).toBe(true);
    expect(ev('new.amount >= 12.50', { amount: 12.5 })).toBe(true);
    expect(ev('new.amount < -1', { amount: '-1.5' })).toBe(true);
    expect(ev('new.a < new.b', { a: 9, b: '10' })).toBe(true);
    expect(ev("new.a = '5'", { a: 5 })).toBe(true);
    expect(ev("new.a > '10'", { a: 9 })).toBe(false);
  });

  it('compares two strings as text, unless one side is typed', () => {
    // Documented: without a type, '9' > '10' as text; a cast or a number literal makes them numbers.
    expect(ev('new.a > old.a', { a: '9' }, { a: '10' })).toBe(true);
    expect(ev('new.a::numeric > old.a', { a: '9' }, { a: '10' })).toBe(false);
    expect(ev("new.amount = '12.5'", { amount: '12.50' })).toBe(false);
    expect(ev('new.amount::numeric = 12.5', { amount: '12.50' })).toBe(true);
  });

  it('is exact beyond double precision', () => {
    const big = { id: '9223372036854775807' };
    expect(ev('new.id = 9223372036854775807', big)).toBe(true);
    expect(ev('new.id > 9223372036854775806', big)).toBe(true);
    expect(ev('new.id = 9223372036854775806', big)).toBe(false);
    expect(ev('new.id::bigint = 9223372036854775807', big)).toBe(true);
    expect(ev('new.n = 0.1000000000000000000001', { n: '0.1' })).toBe(false);
    expect(ev('new.n < 0.1000000000000000000001', { n: '0.1' })).toBe(true);
    expect(ev('new.n = 9007199254740993', { n: '9007199254740993' })).toBe(true);
    expect(ev('new.n > 9007199254740992', { n: '9007199254740993' })).toBe(true);
  });

  it('orders NaN above all numbers and equal to itself, as numeric and float8 do', () => {
    expect(ev('new.f > 1e308', { f: 'NaN' })).toBe(true);
    expect(ev("new.f = 'NaN'::float8", { f: 'NaN' })).toBe(true);
    expect(ev('new.f > 1e308', { f: 'Infinity' })).toBe(true);
    expect(ev('new.f < 0', { f: '-Infinity' })).toBe(true);
  });

  it('a number compared with a string that is not one is an error', () => {
    expect(evalError('new.a > 10', { a: 'abc' })).toBe('invalid input syntax for type numeric: "abc"');
    expect(evalError("new.a = 'abc'", { a: 5 })).toBe('invalid input syntax for type numeric: "abc"');
    expect(evalError('new.a = 1', { a: true })).toMatch(/cannot use a boolean as a number/);
  });

  it('arithmetic', () => {
    expect(ev('new.a + new.b = 5', { a: 2, b: 3 })).toBe(true);
    expect(ev('new.a - 1 = -1', { a: 0 })).toBe(true);
    expect(ev('new.a * 2 = 25', { a: '12.50' })).toBe(true);
    expect(ev('-new.a = -3', { a: 3 })).toBe(true);
    expect(ev('-new.a = 3.5', { a: '-3.5' })).toBe(true);
    expect(ev('+new.a = 3', { a: 3 })).toBe(true);
    expect(ev('2 ^ 10 = 1024')).toBe(true);
    expect(ev('2 + 3 * 4 = 14')).toBe(true);
  });

  it('decimal sums and products are exact, as numeric is', () => {
    expect(ev('0.1 + 0.2 = 0.3')).toBe(true);
    expect(ev('new.a + new.b = 0.3', { a: '0.1', b: '0.2' })).toBe(true);
    expect(ev('new.a + 0.1 = 12.6', { a: '12.50' })).toBe(true);
    expect(ev("(new.a * 3)::text = '3.30'", { a: '1.10' })).toBe(true);
    expect(ev("(new.a + 1)::text = '13.50'", { a: '12.50' })).toBe(true);
    expect(ev('9007199254740993 + 1 = 9007199254740994')).toBe(true);
    expect(ev('new.a * new.a = 85070591730234615847396907784232501249', { a: '9223372036854775807' })).toBe(true);
  });

  it('integer division truncates; numeric and float division does not', () => {
    expect(ev('7 / 2 = 3')).toBe(true);
    expect(ev('-7 / 2 = -3')).toBe(true);
    expect(ev('new.a / 2 = 3', { a: 7 })).toBe(true);
    expect(ev('new.a / 2 = 3.5', { a: '7.0' })).toBe(true);
    expect(ev('7.0 / 2 = 3.5')).toBe(true);
    expect(ev('new.a::numeric / 2 = 3.5', { a: 7 })).toBe(true);
    expect(ev('new.a::float8 / 2 = 3.5', { a: 7 })).toBe(true);
    expect(ev('7 % 3 = 1')).toBe(true);
    expect(ev('-7 % 3 = -1')).toBe(true);
    expect(ev('new.a % 1 = 0.5', { a: '10.5' })).toBe(true);
  });

  it('arithmetic errors', () => {
    expect(evalError('new.a / 0 = 1', { a: 1 })).toBe('division by zero');
    expect(evalError('new.a % 0 = 1', { a: 1 })).toBe('division by zero');
    expect(evalError('new.a ^ 0.5 = 1', { a: -1 })).toMatch(/complex result/);
    expect(evalError('new.a + 1 > 0', { a: 'x' })).toBe('invalid input syntax for type numeric: "x"');
    expect(compileError('1 / 0 = 1')).toBe('division by zero (at position 1)');
  });
});

describe('casts', () => {
  it('to integer types round numerics and check the range', () => {
    expect(ev('new.a::int = 13', { a: '12.5' })).toBe(true);
    expect(ev('new.a::int = -13', { a: '-12.5' })).toBe(true);
    expect(ev('new.a::int = 2', { a: 2.5 })).toBe(true); // a float rounds half to even
    expect(ev('new.a::smallint = 1', { a: 1 })).toBe(true);
    expect(ev('CAST(new.a AS bigint) = 5', { a: '5' })).toBe(true);
    expect(evalError('new.a::smallint = 1', { a: 40000 })).toBe('smallint out of range');
    expect(evalError('new.a::int = 1', { a: 'abc' })).toBe('invalid input syntax for type integer: "abc"');
    expect(evalError('new.a::int = 1', { a: 3e10 })).toBe('integer out of range');
  });

  it('text to integer accepts only integers', () => {
    expect(ev("(new.p->>'n')::int = 12", { p: { n: '12' } })).toBe(true);
    expect(evalError("(new.p->>'n')::int = 12", { p: { n: '12.5' } })).toBe('invalid input syntax for type integer: "12.5"');
    expect(compileError("'12.5'::int = 1")).toBe('invalid input syntax for type integer: "12.5" (at position 1)');
  });

  it('to numeric, with precision and scale', () => {
    expect(ev('new.a::numeric = 12.5', { a: '12.50' })).toBe(true);
    expect(ev('new.a::decimal(5,1) = 12.4', { a: '12.44' })).toBe(true);
    expect(ev("new.a::numeric(5,2)::text = '12.00'", { a: 12 })).toBe(true);
    expect(evalError('new.a::numeric(3,1) = 1', { a: '123.4' })).toMatch(/^numeric field overflow/);
  });

  it('to floats', () => {
    expect(ev('new.a::float8 = 0.5', { a: '0.5' })).toBe(true);
    expect(ev('new.a::double precision > 0.1', { a: '0.2' })).toBe(true);
    expect(ev('new.a::real = 0.1::real', { a: 0.1 })).toBe(true);
    expect(ev('new.a::real = 0.1', { a: 0.1 })).toBe(false); // float4 0.1 is not float8 0.1
  });

  it('to text and varchar', () => {
    expect(ev("new.a::text = '5'", { a: 5 })).toBe(true);
    expect(ev("new.a::text = 'true'", { a: true })).toBe(true);
    expect(ev("new.a::varchar(3) = 'abc'", { a: 'abcdef' })).toBe(true);
    expect(ev("CAST(new.a AS character varying) = 'x'", { a: 'x' })).toBe(true);
    expect(ev('new.p::text = \'{"a": 1, "bb": [1, 2]}\'', { p: { bb: [1, 2], a: 1 } })).toBe(true);
  });

  it('to boolean', () => {
    for (const t of ['t', 'true', 'YES', 'on', '1', 'tr', ' y ']) expect(ev('new.a::boolean', { a: t }), t).toBe(true);
    for (const f of ['f', 'false', 'No', 'off', '0', 'of']) expect(ev('NOT new.a::bool', { a: f }), f).toBe(true);
    expect(ev('new.a::boolean', { a: 1 })).toBe(true);
    expect(evalError('new.a::boolean', { a: 'o' })).toBe('invalid input syntax for type boolean: "o"');
  });

  it('to json and jsonb', () => {
    expect(ev('new.a::jsonb @> \'{"x": 1}\'', { a: '{"x": 1, "y": 2}' })).toBe(true);
    expect(ev("new.a::json ->> 'x' = '1'", { a: '{"x": 1}' })).toBe(true);
    expect(evalError('new.a::jsonb IS NULL', { a: '{bad' })).toBe('invalid input syntax for type json: "{bad"');
  });

  it('to date, timestamp and timestamptz compare instants', () => {
    const ts = { t: '2026-01-02 03:04:05.123+00', u: '2026-01-02 05:04:05.123+02' };
    expect(ev('new.t::timestamptz = new.u::timestamptz', ts)).toBe(true);
    expect(ev('new.t::timestamptz > new.u::timestamptz', ts)).toBe(false);
    expect(ev("new.t::timestamptz > '2026-01-02T03:04:05Z'", ts)).toBe(true);
    expect(ev("new.t::timestamptz < '2026-01-02T03:04:05.124Z'", ts)).toBe(true);
    expect(ev("new.t::date = '2026-01-02'", ts)).toBe(true);
    expect(ev("new.t::date = date '2026-01-02'", ts)).toBe(true);
    expect(ev("new.t::timestamptz BETWEEN '2026-01-01' AND '2026-01-03'", ts)).toBe(true);
    expect(ev("new.d::date < '2026-01-10'::date", { d: '2026-01-09' })).toBe(true);
    expect(ev("new.d::date = '2026-01-09'::timestamp", { d: '2026-01-09' })).toBe(true);
    expect(ev("new.t::timestamp = '2026-01-02 03:04:05.123'", { t: '2026-01-02 03:04:05.123' })).toBe(true);
    expect(ev("new.t::timestamptz::text = '2026-01-02 03:04:05.123+00'", ts)).toBe(true);
    expect(ev("new.t::timestamptz(0)::text = '2026-01-02 03:04:05+00'", ts)).toBe(true);
    expect(ev("new.t::date::text = '2026-01-02'", ts)).toBe(true);
    expect(ev("new.t::timestamptz > '-infinity'", ts)).toBe(true);
    expect(ev("new.t::timestamptz < 'infinity'", { t: '0044-03-15 12:00:00+00 BC' })).toBe(true);
    expect(ev("new.t::timestamptz < '0001-01-01'", { t: '0044-03-15 12:00:00+00 BC' })).toBe(true);
    expect(evalError('new.t::date IS NULL', { t: '2026-02-30' })).toBe('date/time field value out of range: "2026-02-30"');
    expect(evalError('new.t::timestamptz IS NULL', { t: 'soon' })).toBe('invalid input syntax for type timestamp with time zone: "soon"');
  });

  it('literals typed by a prefix', () => {
    expect(ev("new.n = int '5'", { n: 5 })).toBe(true);
    expect(ev("new.t::date > date '2025-12-31'", { t: '2026-01-01' })).toBe(true);
    expect(ev("new.p = jsonb '{\"a\": [1]}'", { p: { a: [1] } })).toBe(true);
  });

  it('NULL casts to NULL', () => {
    expect(ev('new.a::int IS NULL', {})).toBe(true);
    expect(ev('NULL::int IS NULL')).toBe(true);
    expect(ev('CAST(NULL AS boolean) IS NULL')).toBe(true);
  });
});

describe('text', () => {
  it('compares by code point, not by a collation', () => {
    expect(ev("new.a < new.b", { a: 'B', b: 'a' })).toBe(true);
    expect(ev("new.a < 'b'", { a: 'a' })).toBe(true);
    expect(ev("new.a > 'ab'", { a: 'b' })).toBe(true);
    expect(ev("new.a < 'abc'", { a: 'ab' })).toBe(true);
    // U+FFFD sorts before U+1F600 by code point, although its UTF-16 unit is larger.
    expect(ev('new.a < new.b', { a: '\uFFFD', b: '\u{1F600}' })).toBe(true);
    expect(ev("new.a = 'é'", { a: 'é' })).toBe(true);
  });

  it('|| concatenates; NULL makes NULL', () => {
    expect(ev("new.a || '-' || new.b = 'x-y'", { a: 'x', b: 'y' })).toBe(true);
    expect(ev("new.a || 'x' IS NULL", { a: null })).toBe(true);
    expect(ev("new.n || 'x' = '5x'", { n: 5 })).toBe(true);
    expect(ev("'a' || 'b' = 'ab'")).toBe(true);
  });
});

describe('hostile row values', () => {
  it('parse in bounded time', () => {
    const started = Date.now();
    const spaces = ' '.repeat(200_000);
    expect(() => compileConditionSync('new.t::timestamptz IS NULL').evaluate({ new: { t: `2026-01-01${spaces}x` }, old: null })).toThrow(ConditionError);
    expect(() => compileConditionSync('new.n::numeric IS NULL').evaluate({ new: { n: `1${'0'.repeat(200_000)}x` }, old: null })).toThrow(ConditionError);
    expect(ev("new.tags @> '{a}'", { tags: `{${'b,'.repeat(50_000)}a}` })).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
