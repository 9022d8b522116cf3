import { beforeAll, describe, expect, it } from 'vitest';
import { compileConditionSync, ConditionError, ensureParser } from './index.ts';

type Cell = Record<string, unknown>;

beforeAll(() => ensureParser());

function ev(expr: string, next: Cell | null = {}): boolean | null {
  return compileConditionSync(expr).evaluate({ new: next, old: null });
}

const doc = {
  p: {
    status: 'paid',
    total: 12.5,
    qty: '3',
    flags: { vip: true },
    items: [{ sku: 'a', n: 1 }, { sku: 'b', n: 2 }],
    tags: ['x', 'y'],
    none: null,
    'odd key': 1,
  },
};

describe('-> and ->>', () => {
  it('take object fields and array elements', () => {
    expect(ev("new.p->>'status' = 'paid'", doc)).toBe(true);
    expect(ev("new.p->'flags'->>'vip' = 'true'", doc)).toBe(true);
    expect(ev("new.p->'items'->1->>'sku' = 'b'", doc)).toBe(true);
    expect(ev("new.p->'items'->-1->>'sku' = 'b'", doc)).toBe(true);
    expect(ev("new.p->'tags'->>0 = 'x'", doc)).toBe(true);
    expect(ev("new.p->>'odd key' = '1'", doc)).toBe(true);
  });

  it('are NULL for a missing key, an index out of range, or the wrong container', () => {
    expect(ev("new.p->'nope' IS NULL", doc)).toBe(true);
    expect(ev("new.p->'tags'->5 IS NULL", doc)).toBe(true);
    expect(ev("new.p->'tags'->>'x' IS NULL", doc)).toBe(true);
    expect(ev("new.p->0 IS NULL", doc)).toBe(true);
    expect(ev("new.p->'status'->'x' IS NULL", doc)).toBe(true);
    expect(ev("new.p->'constructor' IS NULL", doc)).toBe(true);
    expect(ev("new.missing->'a' IS NULL", doc)).toBe(true);
  });

  it('a JSON null is a value for ->, SQL NULL for ->>', () => {
    expect(ev("new.p->'none' IS NULL", doc)).toBe(false);
    expect(ev("new.p->'none' = 'null'", doc)).toBe(true);
    expect(ev("new.p->>'none' IS NULL", doc)).toBe(true);
    expect(ev("jsonb_typeof(new.p->'none') = 'null'", doc)).toBe(true);
  });

  it('->> gives scalars as text and containers as jsonb text', () => {
    expect(ev("new.p->>'total' = '12.5'", doc)).toBe(true);
    expect(ev('new.p->>\'flags\' = \'{"vip": true}\'', doc)).toBe(true);
    expect(ev("new.p->>'tags' = '[\"x\", \"y\"]'", doc)).toBe(true);
  });

  it('-> values compare as jsonb', () => {
    expect(ev("new.p->'status' = '\"paid\"'", doc)).toBe(true);
    expect(ev("new.p->'total' = '12.50'", doc)).toBe(true);
    expect(ev("new.p->'tags' = '[\"x\",\"y\"]'", doc)).toBe(true);
    expect(ev("new.p->'flags' = '{\"vip\": true}'::jsonb", doc)).toBe(true);
    expect(ev("new.p->'total' > '12'", doc)).toBe(true);
    // jsonb orders: object > array > boolean > number > string > null.
    expect(ev("new.p->'flags' > new.p->'tags'", doc)).toBe(true);
    expect(ev("new.p->'total' > new.p->'status'", doc)).toBe(true);
  });

  it('casts of ->> results, the usual way to compare', () => {
    expect(ev("(new.p->>'qty')::int = 3", doc)).toBe(true);
    expect(ev("(new.p->>'total')::numeric > 10", doc)).toBe(true);
    expect(ev("(new.p->'total')::numeric = 12.5", doc)).toBe(true);
    expect(ev("(new.p->'flags'->'vip')::boolean", doc)).toBe(true);
    expect(() => compileConditionSync("new.p->'status' = 'paid'").evaluate({ new: doc, old: null })).toThrow(
      'invalid input syntax for type json: "paid"',
    );
  });

  it('a key from a column, a number as an index', () => {
    expect(ev("new.p->>new.k = 'paid'", { ...doc, k: 'status' })).toBe(true);
    expect(ev("new.p->'tags'->>new.k = 'y'", { ...doc, k: 1 })).toBe(true);
  });
});

describe('#> and #>>', () => {
  it('follow a path of keys and indexes', () => {
    expect(ev("new.p #>> '{items,0,sku}' = 'a'", doc)).toBe(true);
    expect(ev("new.p #>> '{items,-1,n}' = '2'", doc)).toBe(true);
    expect(ev("new.p #> '{flags,vip}' = 'true'", doc)).toBe(true);
    expect(ev("new.p #>> ARRAY['items', '1', 'sku'] = 'b'", doc)).toBe(true);
    expect(ev("new.p #>> '{items,0,sku}'::text[] = 'a'", doc)).toBe(true);
    expect(ev("new.p #>> '{items,x}' IS NULL", doc)).toBe(true);
    expect(ev("new.p #> '{}' = new.p", doc)).toBe(true);
    expect(() => compileConditionSync("new.p #> '{a'")).toThrow('malformed array literal: "{a" (at position 10)');
  });
});

describe('? ?| ?&', () => {
  it('test top-level keys and string elements', () => {
    expect(ev("new.p ? 'status'", doc)).toBe(true);
    expect(ev("new.p ? 'paid'", doc)).toBe(false);
    expect(ev("new.p->'tags' ? 'x'", doc)).toBe(true);
    expect(ev("new.p->'status' ? 'paid'", doc)).toBe(true);
    expect(ev("new.p ?| array['nope', 'total']", doc)).toBe(true);
    expect(ev("new.p ?| '{nope,nada}'", doc)).toBe(false);
    expect(ev("new.p ?& array['status', 'total']", doc)).toBe(true);
    expect(ev("new.p ?& '{status,nope}'", doc)).toBe(false);
    expect(ev("new.p ? 'x'", {})).toBe(null);
  });
});

describe('@> and <@', () => {
  it('jsonb containment', () => {
    expect(ev('new.p @> \'{"status": "paid"}\'', doc)).toBe(true);
    expect(ev('new.p @> \'{"flags": {"vip": true}}\'', doc)).toBe(true);
    expect(ev('new.p @> \'{"items": [{"sku": "b"}]}\'', doc)).toBe(true);
    expect(ev('new.p @> \'{"tags": ["y"]}\'', doc)).toBe(true);
    expect(ev('new.p @> \'{"status": "open"}\'', doc)).toBe(false);
    expect(ev('\'{"status": "paid"}\' <@ new.p', doc)).toBe(true);
    expect(ev("new.p->'tags' @> '\"x\"'", doc)).toBe(true); // a top-level array contains its scalar elements
    expect(ev("new.p->'tags' @> '[[\"x\"]]'", doc)).toBe(false);
    expect(ev('new.p @> new.q', { ...doc, q: { total: 12.5 } })).toBe(true);
  });

  it('array containment and overlap on array text', () => {
    const row = { tags: '{a,b,"c d"}', ids: '{1,2,3}' };
    expect(ev("new.tags @> '{a}'", row)).toBe(true);
    expect(ev("new.tags @> '{a,\"c d\"}'", row)).toBe(true);
    expect(ev("new.tags @> '{z}'", row)).toBe(false);
    expect(ev("new.tags <@ '{a,b,c d,e}'", row)).toBe(true);
    expect(ev("new.tags @> ARRAY['b']", row)).toBe(true);
    expect(ev("new.tags && ARRAY['z', 'a']", row)).toBe(true);
    expect(ev("new.tags && '{z}'", row)).toBe(false);
    expect(ev("new.ids @> '{2}'", row)).toBe(true);
    expect(ev("new.tags @> '{NULL}'", row)).toBe(false);
  });
});

describe('jsonb functions and ||', () => {
  it('jsonb_typeof, jsonb_array_length', () => {
    expect(ev("jsonb_typeof(new.p) = 'object'", doc)).toBe(true);
    expect(ev("jsonb_typeof(new.p->'tags') = 'array'", doc)).toBe(true);
    expect(ev("jsonb_typeof(new.p->'total') = 'number'", doc)).toBe(true);
    expect(ev("json_typeof(new.p->'status') = 'string'", doc)).toBe(true);
    expect(ev("jsonb_typeof(new.p->'flags'->'vip') = 'boolean'", doc)).toBe(true);
    expect(ev("jsonb_array_length(new.p->'items') = 2", doc)).toBe(true);
    expect(ev("jsonb_typeof('[1]') = 'array'")).toBe(true);
    expect(() => compileConditionSync('jsonb_array_length(new.p) = 1').evaluate({ new: doc, old: null })).toThrow(
      'cannot get array length of a non-array',
    );
  });

  it('jsonb || merges objects and concatenates arrays', () => {
    expect(ev('new.p->\'flags\' || \'{"x": 1}\' = \'{"vip": true, "x": 1}\'', doc)).toBe(true);
    expect(ev("new.p->'tags' || '[\"z\"]' = '[\"x\", \"y\", \"z\"]'", doc)).toBe(true);
    expect(ev('new.q || new.r = \'{"a": 2}\'::jsonb', { q: { a: 1 }, r: { a: 2 } })).toBe(true);
  });

  it('errors are ConditionErrors from evaluate and non-matches from matches', () => {
    const c = compileConditionSync("(new.p->>'status')::int = 1");
    expect(c.matches({ new: doc, old: null })).toBe(false);
    expect(() => c.evaluate({ new: doc, old: null })).toThrow(ConditionError);
  });
});
