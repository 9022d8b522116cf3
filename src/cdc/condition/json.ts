// jsonb operators and functions on parsed JSON values, and PostgreSQL array text ('{a,b}').
// Values are as JSON.parse makes them; JSON_NULL stands for a JSON null taken out of a value.

import { fail, quote } from './errors.ts';
import { compareDoubles, decimalOf } from './numeric.ts';
import { compareText } from './text.ts';
import { JSON_NULL, type Value } from './values.ts';

const hasOwn = Object.prototype.hasOwnProperty;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && v !== JSON_NULL && !Array.isArray(v);
}

/** A JSON value taken out of a container, JSON null made JSON_NULL; undefined when absent. */
function lift(v: unknown): Value {
  return v === null ? JSON_NULL : v === undefined ? null : (v as Value);
}

/** j -> key (object field) or j -> index (array element, negative from the end); SQL NULL if absent. */
export function jsonGet(j: Value, key: string | number): Value {
  if (typeof key === 'number') {
    if (!Array.isArray(j)) return null;
    const i = key < 0 ? j.length + key : key;
    return i >= 0 && i < j.length ? lift(j[i]) : null;
  }
  return isPlainObject(j) && hasOwn.call(j, key) ? lift(j[key]) : null;
}

/** j #> path: each element a key, or an array index (negative from the end); SQL NULL if absent. */
export function jsonPath(j: Value, path: ReadonlyArray<string | null>): Value {
  let cur: Value = j;
  for (const step of path) {
    if (step === null) return null;
    if (Array.isArray(cur)) {
      if (!/^\s*[+-]?\d+\s*$/.test(step)) return null;
      cur = jsonGet(cur, Number(step));
    } else {
      cur = jsonGet(cur, step);
    }
    if (cur === null) return null;
  }
  return cur;
}

/** ->> and #>>: a JSON string's content, other values as jsonb text, JSON null as SQL NULL. */
export function jsonAsText(v: Value): string | null {
  if (v === JSON_NULL || v === null) return null;
  if (typeof v === 'string') return v;
  return jsonText(v);
}

/** jsonb's text form: ", " and ": " separators, object keys in jsonb's order (shorter first, then bytewise). */
export function jsonText(v: unknown): string {
  if (v === null || v === JSON_NULL) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? decimalOf(v) : JSON.stringify(String(v));
    case 'boolean':
      return v ? 'true' : 'false';
  }
  if (Array.isArray(v)) return `[${v.map(jsonText).join(', ')}]`;
  const o = v as Record<string, unknown>;
  return `{${jsonbKeys(o).map((k) => `${JSON.stringify(k)}: ${jsonText(o[k])}`).join(', ')}}`;
}

function jsonbKeys(o: Record<string, unknown>): string[] {
  return Object.keys(o).sort((a, b) => Buffer.byteLength(a) - Buffer.byteLength(b) || compareText(a, b));
}

export function jsonTypeof(v: Value): string {
  if (v === JSON_NULL || v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  switch (typeof v) {
    case 'string': return 'string';
    case 'number': return 'number';
    case 'boolean': return 'boolean';
    default: return 'object';
  }
}

export function jsonArrayLength(v: Value): number {
  if (Array.isArray(v)) return v.length;
  fail(isPlainObject(v) ? 'cannot get array length of a non-array' : 'cannot get array length of a scalar');
}

// jsonb's ordering: Object > Array > Boolean > Number > String > Null; containers with more
// members sort higher, then member by member (object keys in storage order, shorter first).
const RANK = { null: 0, string: 1, number: 2, boolean: 3, array: 4, object: 5 } as const;

function rank(v: unknown): number {
  if (v === null || v === JSON_NULL) return RANK.null;
  if (Array.isArray(v)) return RANK.array;
  switch (typeof v) {
    case 'string': return RANK.string;
    case 'number': return RANK.number;
    case 'boolean': return RANK.boolean;
    default: return RANK.object;
  }
}

export function compareJson(a: unknown, b: unknown, top = true): -1 | 0 | 1 {
  // PostgreSQL sorts a top-level empty array below null.
  if (top) {
    const ea = Array.isArray(a) && a.length === 0;
    const eb = Array.isArray(b) && b.length === 0;
    if (ea !== eb && (ea ? rank(b) === RANK.null : rank(a) === RANK.null)) return ea ? -1 : 1;
  }
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case RANK.null:
      return 0;
    case RANK.string:
      return compareText(a as string, b as string);
    case RANK.number:
      return compareDoubles(a as number, b as number);
    case RANK.boolean:
      return a === b ? 0 : a ? 1 : -1;
    case RANK.array: {
      const x = a as unknown[];
      const y = b as unknown[];
      if (x.length !== y.length) return x.length < y.length ? -1 : 1;
      for (let i = 0; i < x.length; i++) {
        const c = compareJson(x[i], y[i], false);
        if (c !== 0) return c;
      }
      return 0;
    }
    default: {
      const x = a as Record<string, unknown>;
      const y = b as Record<string, unknown>;
      const kx = jsonbKeys(x);
      const ky = jsonbKeys(y);
      if (kx.length !== ky.length) return kx.length < ky.length ? -1 : 1;
      for (let i = 0; i < kx.length; i++) {
        const k = compareText(kx[i], ky[i]);
        if (k !== 0) return k;
        const c = compareJson(x[kx[i]], y[ky[i]], false);
        if (c !== 0) return c;
      }
      return 0;
    }
  }
}

/** a @> b, jsonb containment; at top level an array also contains a scalar it has as an element. */
export function jsonContains(a: Value, b: Value): boolean {
  if (Array.isArray(a) && !Array.isArray(b) && !isPlainObject(b)) return a.some((x) => jsonEqualScalar(x, b));
  return contains(a, b);
}

function contains(a: unknown, b: unknown): boolean {
  if (isPlainObject(b)) {
    if (!isPlainObject(a)) return false;
    for (const k of Object.keys(b)) {
      if (!hasOwn.call(a, k) || !contains(a[k], b[k])) return false;
    }
    return true;
  }
  if (Array.isArray(b)) {
    if (!Array.isArray(a)) return false;
    return b.every((y) => a.some((x) => (Array.isArray(y) || isPlainObject(y) ? contains(x, y) : jsonEqualScalar(x, y))));
  }
  return jsonEqualScalar(a, b);
}

function jsonEqualScalar(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || isPlainObject(a)) return false;
  return compareJson(a, b, false) === 0;
}

/** a ? key: an object has the key, an array has the string as an element, or a is that string. */
export function jsonHasKey(a: Value, key: string): boolean {
  if (isPlainObject(a)) return hasOwn.call(a, key);
  if (Array.isArray(a)) return a.some((x) => x === key);
  return a === key;
}

/** jsonb || jsonb: objects merge (right wins), anything else concatenates as arrays. */
export function jsonConcat(a: Value, b: Value): Value {
  if (isPlainObject(a) && isPlainObject(b)) return { ...a, ...b };
  const items = (v: Value): unknown[] => (Array.isArray(v) ? v : [v === JSON_NULL ? null : v]);
  return [...items(a), ...items(b)];
}

/** Parses JSON text; JSON null becomes JSON_NULL. Throws EvaluationError on invalid input. */
export function parseJson(text: string): Value {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    fail(`invalid input syntax for type json: ${quote(text)}`);
  }
  return lift(v);
}

/**
 * A one-dimensional PostgreSQL array literal ('{a,"b c",NULL}') as its elements' text (NULL for
 * an unquoted NULL). Throws EvaluationError when it is not one.
 */
export function parseTextArray(text: string): Array<string | null> {
  const s = text.trim();
  const malformed = (): never => fail(`malformed array literal: ${quote(text)}`);
  if (s[0] !== '{' || s[s.length - 1] !== '}') malformed();
  const out: Array<string | null> = [];
  let i = 1;
  const end = s.length - 1;
  const skip = (): void => {
    while (i < end && /\s/.test(s[i])) i++;
  };
  skip();
  if (i === end) return out;
  for (;;) {
    skip();
    if (s[i] === '"') {
      let v = '';
      i++;
      while (i < end && s[i] !== '"') {
        if (s[i] === '\\') i++;
        v += s[i++] ?? '';
      }
      if (s[i] !== '"') malformed();
      i++;
      out.push(v);
    } else {
      let v = '';
      while (i < end && s[i] !== ',') {
        if (s[i] === '{' || s[i] === '}' || s[i] === '"') malformed();
        if (s[i] === '\\') i++;
        v += s[i++] ?? '';
      }
      v = v.trim();
      if (v === '') malformed();
      out.push(/^null$/i.test(v) ? null : v);
    }
    skip();
    if (i === end) return out;
    if (s[i] !== ',') malformed();
    i++;
  }
}

/** Array containment (@>): every element of b is in a; NULL elements are never equal. */
export function arrayContains(a: ReadonlyArray<string | null>, b: ReadonlyArray<string | null>): boolean {
  return b.every((y) => y !== null && a.includes(y));
}

/** Array overlap (&&): some element in common. */
export function arrayOverlaps(a: ReadonlyArray<string | null>, b: ReadonlyArray<string | null>): boolean {
  return b.some((y) => y !== null && a.includes(y));
}
