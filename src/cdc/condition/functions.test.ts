import { beforeAll, describe, expect, it } from 'vitest';
import { compileConditionSync, ConditionError, ensureParser } from './index.ts';

type Cell = Record<string, unknown>;

beforeAll(() => ensureParser());

function ev(expr: string, next: Cell | null = {}): boolean | null {
  return compileConditionSync(expr).evaluate({ new: next, old: null });
}

function evalError(expr: string, next: Cell = {}): string {
  try {
    compileConditionSync(expr).evaluate({ new: next, old: null });
  } catch (err) {
    expect(err).toBeInstanceOf(ConditionError);
    return (err as Error).message;
  }
  throw new Error(`${expr} evaluated without error`);
}

describe('LIKE and ILIKE', () => {
  const like = (s: string, pattern: string, op = 'LIKE') => ev(`new.s ${op} new.p`, { s, p: pattern });

  it('% matches any run, _ one character, the whole string', () => {
    expect(like('paid', 'pa%')).toBe(true);
    expect(like('paid', '%id')).toBe(true);
    expect(like('paid', '%ai%')).toBe(true);
    expect(like('paid', 'p__d')).toBe(true);
    expect(like('paid', 'p_d')).toBe(false);
    expect(like('paid', 'pai')).toBe(false);
    expect(like('paid', 'paid')).toBe(true);
    expect(like('', '%')).toBe(true);
    expect(like('', '_')).toBe(false);
    expect(like('abc', 'a%b%c')).toBe(true);
    expect(like('abcb', 'a%b')).toBe(true);
    expect(like('ab', 'a%b%b')).toBe(false);
    expect(like('a%b', 'a%%b')).toBe(true);
    expect(like('😀x', '_x')).toBe(true); // one character, though two UTF-16 units
    expect(like('x😀y', 'x_y')).toBe(true);
    expect(like('multi\nline', 'multi%line')).toBe(true);
    expect(like('a.c', 'a.c')).toBe(true);
    expect(like('abc', 'a.c')).toBe(false);
    expect(like('a[b]c', '%[b]%')).toBe(true);
  });

  it('backslash escapes by default; ESCAPE picks another or none', () => {
    expect(like('50%', '50\\%')).toBe(true);
    expect(like('500', '50\\%')).toBe(false);
    expect(like('a_b', 'a\\_b')).toBe(true);
    expect(like('axb', 'a\\_b')).toBe(false);
    expect(like('a\\b', 'a\\\\b')).toBe(true);
    expect(ev("new.s LIKE '50!%' ESCAPE '!'", { s: '50%' })).toBe(true);
    expect(ev("new.s LIKE '50!%' ESCAPE '!'", { s: '50x' })).toBe(false);
    expect(ev("new.s LIKE 'a\\%' ESCAPE ''", { s: 'a\\xyz' })).toBe(true);
    expect(evalError('new.s LIKE new.p', { s: 'x', p: 'ab\\' })).toBe('LIKE pattern must not end with escape character');
    expect(() => compileConditionSync("new.s LIKE 'ab\\'")).toThrow('LIKE pattern must not end with escape character (at position 12)');
    expect(() => compileConditionSync("new.s LIKE 'a' ESCAPE 'xy'")).toThrow(/ESCAPE must be empty or one character/);
  });

  it('NOT LIKE, ILIKE and the ~~ operators', () => {
    expect(ev("new.s NOT LIKE 'pa%'", { s: 'paid' })).toBe(false);
    expect(ev("new.s ILIKE 'PA%'", { s: 'paid' })).toBe(true);
    expect(ev("new.s NOT ILIKE 'PA%'", { s: 'Paid' })).toBe(false);
    expect(ev("new.s ILIKE 'ÉTÉ'", { s: 'été' })).toBe(true);
    expect(ev("new.s ~~ 'p%'", { s: 'paid' })).toBe(true);
    expect(ev("new.s !~~ 'p%'", { s: 'paid' })).toBe(false);
    expect(ev("new.s ~~* 'P%'", { s: 'paid' })).toBe(true);
    expect(ev("new.s !~~* 'P%'", { s: 'paid' })).toBe(false);
  });

  it('NULL subject or pattern is NULL', () => {
    expect(ev("new.s LIKE 'a%'", { s: null })).toBe(null);
    expect(ev('new.s LIKE new.p', { s: 'a', p: null })).toBe(null);
    expect(ev("new.s NOT LIKE 'a%'", {})).toBe(null);
  });

  it('takes linear time on patterns that make backtracking matchers explode', () => {
    const started = Date.now();
    const c = compileConditionSync(`new.s LIKE '${'%a'.repeat(30)}%b'`);
    expect(c.evaluate({ new: { s: 'a'.repeat(20000) }, old: null })).toBe(false);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('text functions', () => {
  it('lower, upper, length', () => {
    expect(ev("lower(new.s) = 'abc'", { s: 'AbC' })).toBe(true);
    expect(ev("upper(new.s) = 'ABC'", { s: 'aBc' })).toBe(true);
    expect(ev('length(new.s) = 3', { s: 'a😀b' })).toBe(true);
    expect(ev('char_length(new.s) = 2', { s: 'éé' })).toBe(true);
    expect(ev('character_length(new.s) = 0', { s: '' })).toBe(true);
    expect(ev('octet_length(new.s) = 4', { s: 'éé' })).toBe(true);
    expect(ev('length(new.n) = 3', { n: 123 })).toBe(true);
  });

  it('trim family trims spaces, or the given characters', () => {
    expect(ev("trim(new.s) = 'a b'", { s: '  a b  ' })).toBe(true);
    expect(ev("trim(new.s) = 'a'", { s: '\ta\t' })).toBe(false); // only spaces
    expect(ev("trim(both 'x' from new.s) = 'a'", { s: 'xxaxx' })).toBe(true);
    expect(ev("trim(leading 'x' from new.s) = 'axx'", { s: 'xxaxx' })).toBe(true);
    expect(ev("trim(trailing from new.s) = '  a'", { s: '  a  ' })).toBe(true);
    expect(ev("btrim(new.s, 'xy') = 'a'", { s: 'xyaxy' })).toBe(true);
    expect(ev("ltrim(new.s) = 'a '", { s: ' a ' })).toBe(true);
    expect(ev("rtrim(new.s, '!') = 'hi'", { s: 'hi!!' })).toBe(true);
  });

  it('substr, substring, left, right', () => {
    expect(ev("substr(new.s, 2) = 'ello'", { s: 'hello' })).toBe(true);
    expect(ev("substr(new.s, 2, 3) = 'ell'", { s: 'hello' })).toBe(true);
    expect(ev("substring(new.s, 0, 3) = 'he'", { s: 'hello' })).toBe(true); // positions before 1 count
    expect(ev("substring(new.s from 2 for 2) = 'el'", { s: 'hello' })).toBe(true);
    expect(ev("substring(new.s for 2) = 'he'", { s: 'hello' })).toBe(true);
    expect(ev("substring(new.s from 9) = ''", { s: 'hello' })).toBe(true);
    expect(ev("substr(new.s, 2, 1) = '😀'", { s: 'a😀b' })).toBe(true);
    expect(evalError('substr(new.s, 1, -1) IS NULL', { s: 'x' })).toBe('negative substring length not allowed');
    expect(ev("left(new.s, 2) = 'he'", { s: 'hello' })).toBe(true);
    expect(ev("left(new.s, -2) = 'hel'", { s: 'hello' })).toBe(true);
    expect(ev("right(new.s, 2) = 'lo'", { s: 'hello' })).toBe(true);
    expect(ev("right(new.s, -2) = 'llo'", { s: 'hello' })).toBe(true);
    expect(ev("left(new.s, 10) = 'hello'", { s: 'hello' })).toBe(true);
  });

  it('position, strpos, replace, starts_with, split_part', () => {
    expect(ev("position('l' in new.s) = 3", { s: 'hello' })).toBe(true);
    expect(ev("position('z' in new.s) = 0", { s: 'hello' })).toBe(true);
    expect(ev("strpos(new.s, 'b') = 3", { s: '😀ab' })).toBe(true);
    expect(ev("replace(new.s, 'l', 'L') = 'heLLo'", { s: 'hello' })).toBe(true);
    expect(ev("replace(new.s, 'l', '$&') = 'he$&$&o'", { s: 'hello' })).toBe(true);
    expect(ev("starts_with(new.s, 'he')", { s: 'hello' })).toBe(true);
    expect(ev("starts_with(new.s, 'lo')", { s: 'hello' })).toBe(false);
    expect(ev("split_part(new.s, ',', 2) = 'b'", { s: 'a,b,c' })).toBe(true);
    expect(ev("split_part(new.s, ',', -1) = 'c'", { s: 'a,b,c' })).toBe(true);
    expect(ev("split_part(new.s, ',', 5) = ''", { s: 'a,b,c' })).toBe(true);
    expect(evalError("split_part(new.s, ',', 0) = ''", { s: 'a' })).toBe('field position must not be zero');
  });

  it('concat skips NULLs; concat_ws too, except the separator', () => {
    expect(ev("concat(new.a, new.b, 1, true) = 'x1true'", { a: 'x', b: null })).toBe(true);
    expect(ev("concat_ws('-', new.a, new.b, 'z') = 'x-z'", { a: 'x', b: null })).toBe(true);
    expect(ev("concat_ws(NULL, 'a') IS NULL")).toBe(true);
  });

  it('strict functions return NULL for a NULL argument', () => {
    expect(ev('lower(new.s) IS NULL', {})).toBe(true);
    expect(ev("replace(new.s, NULL, 'x') IS NULL", { s: 'a' })).toBe(true);
    expect(ev('abs(new.n) IS NULL', {})).toBe(true);
  });
});

describe('number functions', () => {
  it('abs, sign, sqrt, power, mod', () => {
    expect(ev('abs(new.n) = 5', { n: -5 })).toBe(true);
    expect(ev('abs(new.n) = 1.50', { n: '-1.50' })).toBe(true);
    expect(ev('sign(new.n) = -1', { n: '-0.001' })).toBe(true);
    expect(ev('sign(new.n) = 0', { n: 0 })).toBe(true);
    expect(ev('sqrt(new.n) = 3', { n: 9 })).toBe(true);
    expect(evalError('sqrt(new.n) = 3', { n: -9 })).toBe('cannot take square root of a negative number');
    expect(ev('power(new.n, 2) = 16', { n: 4 })).toBe(true);
    expect(ev('pow(2, 0.5) > 1.41')).toBe(true);
    expect(ev('mod(new.n, 3) = 1', { n: 10 })).toBe(true);
    expect(ev('mod(new.n, 3) = -1', { n: -10 })).toBe(true);
    expect(ev('mod(new.n, 0.3) = 0.1', { n: '1.0' })).toBe(true);
  });

  it('round: numeric half away from zero, float half to even', () => {
    expect(ev('round(2.5) = 3')).toBe(true);
    expect(ev('round(-2.5) = -3')).toBe(true);
    expect(ev('round(new.n) = 3', { n: '2.5' })).toBe(true);
    expect(ev('round(new.n) = 2', { n: 2.5 })).toBe(true);
    expect(ev('round(new.n) = 4', { n: 3.5 })).toBe(true);
    expect(ev('round(new.n, 2) = 1.01', { n: '1.005' })).toBe(true);
    expect(ev('round(new.n, 2) = 1.01', { n: 1.005 })).toBe(true);
    expect(ev("round(new.n, 1)::text = '12.0'", { n: '11.96' })).toBe(true);
    expect(ev('round(new.n, -2) = 1300', { n: 1250 })).toBe(true);
  });

  it('floor, ceil, ceiling, trunc', () => {
    expect(ev('floor(new.n) = -3', { n: '-2.5' })).toBe(true);
    expect(ev('floor(new.n) = 2', { n: 2.7 })).toBe(true);
    expect(ev('ceil(new.n) = -2', { n: '-2.5' })).toBe(true);
    expect(ev('ceiling(new.n) = 3', { n: 2.1 })).toBe(true);
    expect(ev('trunc(new.n) = -2', { n: '-2.9' })).toBe(true);
    expect(ev('trunc(new.n, 1) = 2.9', { n: '2.99' })).toBe(true);
    expect(ev('trunc(new.n) = 2', { n: 2.9 })).toBe(true);
  });
});
