import { beforeAll, describe, expect, it } from 'vitest';
import { compileConditionSync, ensureParser } from './index.ts';

type Cell = Record<string, unknown>;

beforeAll(() => ensureParser());

/** The condition's value (true/false/null) on a row with these new and old columns. */
function ev(expr: string, next: Cell | null = {}, prev: Cell | null = null): boolean | null {
  return compileConditionSync(expr).evaluate({ new: next, old: prev });
}

const UNCHANGED = Object.freeze({ $unchanged: true });
const TRI = [true, false, null] as const;

describe('three-valued logic', () => {
  // SQL's truth tables: NULL is unknown; AND is false if either is false, OR true if either is true.
  const and = (a: boolean | null, b: boolean | null) => (a === false || b === false ? false : a === null || b === null ? null : true);
  const or = (a: boolean | null, b: boolean | null) => (a === true || b === true ? true : a === null || b === null ? null : false);

  for (const a of TRI) {
    for (const b of TRI) {
      it(`${a} AND ${b}, ${a} OR ${b}`, () => {
        expect(ev('new.a AND new.b', { a, b })).toBe(and(a, b));
        expect(ev('new.a OR new.b', { a, b })).toBe(or(a, b));
        // The same, folded at compile time from literals.
        const lit = (v: boolean | null) => (v === null ? 'NULL::boolean' : String(v));
        expect(ev(`${lit(a)} AND ${lit(b)}`)).toBe(and(a, b));
        expect(ev(`${lit(a)} OR ${lit(b)}`)).toBe(or(a, b));
      });
    }
    it(`NOT ${a} and the IS tests`, () => {
      expect(ev('NOT new.a', { a })).toBe(a === null ? null : !a);
      expect(ev('new.a IS TRUE', { a })).toBe(a === true);
      expect(ev('new.a IS NOT TRUE', { a })).toBe(a !== true);
      expect(ev('new.a IS FALSE', { a })).toBe(a === false);
      expect(ev('new.a IS NOT FALSE', { a })).toBe(a !== false);
      expect(ev('new.a IS UNKNOWN', { a })).toBe(a === null);
      expect(ev('new.a IS NOT UNKNOWN', { a })).toBe(a !== null);
      expect(ev('new.a IS NULL', { a })).toBe(a === null);
      expect(ev('new.a IS NOT NULL', { a })).toBe(a !== null);
    });
  }

  it('AND and OR of many operands', () => {
    expect(ev('new.a AND new.b AND new.c', { a: true, b: null, c: false })).toBe(false);
    expect(ev('new.a AND new.b AND new.c', { a: true, b: null, c: true })).toBe(null);
    expect(ev('new.a OR new.b OR new.c', { a: false, b: null, c: true })).toBe(true);
    expect(ev('new.a OR new.b OR new.c', { a: false, b: null, c: false })).toBe(null);
    expect(ev('NOT (new.a OR new.b) AND new.c', { a: false, b: false, c: true })).toBe(true);
  });

  it('matches only TRUE', () => {
    const c = compileConditionSync('new.a');
    expect(c.matches({ new: { a: true }, old: null })).toBe(true);
    expect(c.matches({ new: { a: false }, old: null })).toBe(false);
    expect(c.matches({ new: { a: null }, old: null })).toBe(false);
    expect(c.matches({ new: null, old: null })).toBe(false);
  });

  it('comparisons with NULL are NULL', () => {
    for (const op of ['=', '<>', '<', '<=', '>', '>=']) {
      expect(ev(`new.a ${op} 1`, { a: null })).toBe(null);
      expect(ev(`1 ${op} new.a`, {})).toBe(null);
      expect(ev(`new.a ${op} NULL`, { a: 1 })).toBe(null);
    }
    expect(ev('NULL = NULL')).toBe(null);
  });

  it('boolean columns compare as booleans, false < true', () => {
    expect(ev('new.a = true', { a: true })).toBe(true);
    expect(ev('new.a < true', { a: false })).toBe(true);
    expect(ev("new.a = 'yes'", { a: true })).toBe(true);
    expect(ev("new.a = 'off'", { a: true })).toBe(false);
  });
});

describe('columns', () => {
  it('reads new and old, a bare column meaning new', () => {
    expect(ev("new.status = 'paid'", { status: 'paid' })).toBe(true);
    expect(ev("status = 'paid'", { status: 'paid' }, { status: 'x' })).toBe(true);
    expect(ev("old.status = 'paid'", { status: 'x' }, { status: 'paid' })).toBe(true);
    expect(ev('NEW.a = OLD.a', { a: 1 }, { a: 1 })).toBe(true);
  });

  it('quoted identifiers keep their case and spaces', () => {
    expect(ev('new."Mixed Case" = 1', { 'Mixed Case': 1 })).toBe(true);
    expect(ev('new."Mixed Case" = 1', { 'mixed case': 1 })).toBe(null);
    expect(ev('new.Status = 1', { status: 1 })).toBe(true);
  });

  it('a missing row or column is NULL', () => {
    expect(ev('old.a IS NULL', { a: 1 }, null)).toBe(true);
    expect(ev('new.a IS NULL', null, { a: 1 })).toBe(true);
    expect(ev('new.nope IS NULL', { a: 1 })).toBe(true);
    expect(ev('new.a = 1', null)).toBe(null);
  });

  it('does not find Object.prototype members as columns', () => {
    expect(ev('new.constructor IS NULL', {})).toBe(true);
    expect(ev('new.__proto__ IS NULL', {})).toBe(true);
    expect(ev('new."toString" IS NULL', {})).toBe(true);
    expect(ev("new.constructor = 'x'", { constructor: 'x' })).toBe(true);
  });

  it('lists the columns referenced, once each, unquoted', () => {
    const c = compileConditionSync('new.status = \'a\' AND old.amount > 1 OR status IS NULL OR new."Mixed Case" = 1');
    expect(c.columns).toEqual(['new.status', 'old.amount', 'new.Mixed Case']);
    expect(c.source).toBe('new.status = \'a\' AND old.amount > 1 OR status IS NULL OR new."Mixed Case" = 1');
    expect(compileConditionSync('1 = 1').columns).toEqual([]);
  });
});

describe('the unchanged TOAST marker', () => {
  const row = { body: UNCHANGED, status: 'x' };

  it('is not NULL', () => {
    expect(ev('new.body IS NULL', row)).toBe(false);
    expect(ev('new.body IS NOT NULL', row)).toBe(true);
    expect(ev('new.body IS DISTINCT FROM NULL', row)).toBe(true);
    expect(ev('new.body IS NOT DISTINCT FROM NULL', row)).toBe(false);
  });

  it('makes every comparison unknown', () => {
    for (const expr of [
      "new.body = 'x'",
      "new.body <> 'x'",
      "new.body > 'x'",
      'new.body = old.body',
      'new.body IS DISTINCT FROM old.body',
      'new.body IS NOT DISTINCT FROM old.body',
      "new.body IN ('x', 'y')",
      "new.body NOT IN ('x', 'y')",
      "'x' IN (new.body)",
      "new.body LIKE '%'",
      "new.body BETWEEN 'a' AND 'z'",
      "new.body ? 'k'",
      "new.body @> '{}'",
      "new.body->>'k' = 'v'",
      'length(new.body) > 0',
      "lower(new.body) = 'x'",
      "new.body || 'x' = 'yx'",
      "coalesce(new.body, 'x') = 'x'",
      "greatest(new.body, 'a') = 'a'",
      "starts_with(new.body, 'x')",
    ]) {
      expect(ev(expr, row, { body: 'x' }), expr).toBe(null);
      expect(ev(`NOT (${expr})`, row, { body: 'x' }), expr).toBe(null);
    }
  });

  it('derived values are not NULL either, and logic still short-circuits', () => {
    expect(ev('lower(new.body) IS NULL', row)).toBe(false);
    expect(ev("new.body = 'x' OR new.status = 'x'", row)).toBe(true);
    expect(ev("new.body = 'x' AND new.status = 'y'", row)).toBe(false);
    expect(ev("(new.body = 'x') IS TRUE", row)).toBe(false);
    expect(ev("(new.body = 'x') IS UNKNOWN", row)).toBe(true);
  });

  it('follows the event: an object in a column not listed as unchanged is real jsonb', () => {
    const c = compileConditionSync("new.doc ? '$unchanged'");
    const next = { doc: { $unchanged: true } };
    expect(c.evaluate({ new: next, old: null })).toBe(null);
    expect(c.evaluate({ new: next, old: null, unchanged: ['doc'] })).toBe(null);
    expect(c.evaluate({ new: next, old: null, unchanged: [] })).toBe(true);
  });
});

describe('IS [NOT] DISTINCT FROM', () => {
  it('treats NULLs as equal to each other and unequal to values', () => {
    expect(ev('new.a IS DISTINCT FROM old.a', { a: null }, { a: null })).toBe(false);
    expect(ev('new.a IS DISTINCT FROM old.a', { a: 1 }, { a: null })).toBe(true);
    expect(ev('new.a IS DISTINCT FROM old.a', { a: 1 }, { a: 1 })).toBe(false);
    expect(ev('new.a IS DISTINCT FROM old.a', { a: 1 }, { a: 2 })).toBe(true);
    expect(ev('new.a IS NOT DISTINCT FROM old.a', { a: null }, { a: null })).toBe(true);
    expect(ev('new.a IS NOT DISTINCT FROM old.a', { a: 1 }, { a: null })).toBe(false);
    expect(ev('new.a IS DISTINCT FROM old.a', { a: '12.50' }, { a: 12.5 })).toBe(false);
    expect(ev("new.a IS DISTINCT FROM 'x'", {})).toBe(true);
  });
});

describe('IN', () => {
  it('follows three-valued logic', () => {
    expect(ev('new.a IN (1, 2, 3)', { a: 2 })).toBe(true);
    expect(ev('new.a IN (1, 2, 3)', { a: 5 })).toBe(false);
    expect(ev('new.a IN (1, NULL)', { a: 1 })).toBe(true);
    expect(ev('new.a IN (1, NULL)', { a: 5 })).toBe(null);
    expect(ev('new.a IN (1, 2)', { a: null })).toBe(null);
    expect(ev('new.a NOT IN (1, 2)', { a: 5 })).toBe(true);
    expect(ev('new.a NOT IN (1, 2)', { a: 1 })).toBe(false);
    expect(ev('new.a NOT IN (1, NULL)', { a: 5 })).toBe(null);
    expect(ev('new.a NOT IN (1, NULL)', { a: 1 })).toBe(false);
  });

  it('compares strings as text and numbers numerically', () => {
    expect(ev("new.s IN ('a', 'b')", { s: 'b' })).toBe(true);
    expect(ev("new.s IN ('a', 'b')", { s: 'B' })).toBe(false);
    expect(ev("new.n IN ('1', '2')", { n: 2 })).toBe(true);
    expect(ev('new.n IN (1.0, 2.5)', { n: '2.50' })).toBe(true);
    expect(ev('new.n IN (1, 2)', { n: '2.0' })).toBe(true);
    expect(ev('new.n IN (old.a, old.b)', { n: 3 }, { a: 1, b: '3' })).toBe(true);
    expect(ev('new.n IN (old.a, old.b)', { n: 3 }, { a: 1, b: null })).toBe(null);
    expect(ev("lower(new.s) IN ('a', 'b')", { s: 'A' })).toBe(true);
  });
});

describe('BETWEEN', () => {
  it('is inclusive, and NOT BETWEEN is its negation', () => {
    expect(ev('new.n BETWEEN 1 AND 10', { n: 1 })).toBe(true);
    expect(ev('new.n BETWEEN 1 AND 10', { n: 10 })).toBe(true);
    expect(ev('new.n BETWEEN 1 AND 10', { n: 11 })).toBe(false);
    expect(ev('new.n NOT BETWEEN 1 AND 10', { n: 11 })).toBe(true);
    expect(ev('new.n BETWEEN 10 AND 1', { n: 5 })).toBe(false);
    expect(ev("new.s BETWEEN 'a' AND 'c'", { s: 'b' })).toBe(true);
  });

  it('SYMMETRIC accepts the bounds either way', () => {
    expect(ev('new.n BETWEEN SYMMETRIC 10 AND 1', { n: 5 })).toBe(true);
    expect(ev('new.n NOT BETWEEN SYMMETRIC 10 AND 1', { n: 5 })).toBe(false);
    expect(ev('new.n BETWEEN SYMMETRIC 10 AND 1', { n: 11 })).toBe(false);
  });

  it('follows three-valued logic', () => {
    expect(ev('new.n BETWEEN 1 AND NULL', { n: 5 })).toBe(null);
    expect(ev('new.n BETWEEN 6 AND NULL', { n: 5 })).toBe(false);
    expect(ev('new.n BETWEEN NULL AND 4', { n: 5 })).toBe(false);
    expect(ev('new.n NOT BETWEEN 6 AND NULL', { n: 5 })).toBe(true);
    expect(ev('new.n BETWEEN 1 AND 2', { n: null })).toBe(null);
  });
});

describe('CASE, COALESCE, NULLIF, GREATEST, LEAST', () => {
  it('searched CASE takes the first TRUE branch; NULL conditions are not taken', () => {
    const expr = "CASE WHEN new.n > 10 THEN 'big' WHEN new.n > 5 THEN 'mid' ELSE 'small' END = new.want";
    expect(ev(expr, { n: 11, want: 'big' })).toBe(true);
    expect(ev(expr, { n: 7, want: 'mid' })).toBe(true);
    expect(ev(expr, { n: 1, want: 'small' })).toBe(true);
    expect(ev(expr, { n: null, want: 'small' })).toBe(true);
    expect(ev("CASE WHEN new.n > 10 THEN 'big' END IS NULL", { n: 1 })).toBe(true);
  });

  it('simple CASE compares with =, never matching NULL', () => {
    const expr = "CASE new.s WHEN 'a' THEN 1 WHEN 'b' THEN 2 ELSE 0 END";
    expect(ev(`${expr} = 2`, { s: 'b' })).toBe(true);
    expect(ev(`${expr} = 0`, { s: 'z' })).toBe(true);
    expect(ev(`${expr} = 0`, { s: null })).toBe(true);
    expect(ev('CASE new.n WHEN 1.0 THEN true ELSE false END', { n: '1' })).toBe(true);
    expect(ev('CASE new.s WHEN NULL THEN true ELSE false END', { s: null })).toBe(false);
  });

  it('CASE as the condition itself', () => {
    expect(ev("CASE WHEN new.kind = 'a' THEN new.x > 1 ELSE new.y > 1 END", { kind: 'a', x: 2, y: 0 })).toBe(true);
    expect(ev("CASE WHEN new.kind = 'a' THEN new.x > 1 ELSE new.y > 1 END", { kind: 'b', x: 2, y: 0 })).toBe(false);
  });

  it('COALESCE returns the first non-NULL argument', () => {
    expect(ev("coalesce(new.a, new.b, 'z') = 'b'", { b: 'b' })).toBe(true);
    expect(ev("coalesce(new.a, new.b, 'z') = 'z'", {})).toBe(true);
    expect(ev('coalesce(new.a, new.b) IS NULL', {})).toBe(true);
    expect(ev('coalesce(new.a, 0) > 5', { a: '7.5' })).toBe(true);
  });

  it('NULLIF is NULL when equal, else its first argument', () => {
    expect(ev("nullif(new.s, '') IS NULL", { s: '' })).toBe(true);
    expect(ev("nullif(new.s, '') = 'x'", { s: 'x' })).toBe(true);
    expect(ev('nullif(new.n, 0) IS NULL', { n: '0.00' })).toBe(true);
    expect(ev('nullif(new.n, NULL) = 3', { n: 3 })).toBe(true);
  });

  it('GREATEST and LEAST ignore NULLs', () => {
    expect(ev('greatest(new.a, new.b, 3) = 10', { a: 10, b: null })).toBe(true);
    expect(ev('least(new.a, new.b, 3) = 3', { a: 10, b: null })).toBe(true);
    expect(ev('greatest(new.a, new.b) IS NULL', {})).toBe(true);
    expect(ev("greatest('b', 'abc') = 'b'")).toBe(true);
    expect(ev("least(new.a, '9') = '10.5'", { a: '10.5' })).toBe(true);
    expect(ev('greatest(new.a, 2) = 10.5', { a: '10.5' })).toBe(true);
  });
});
