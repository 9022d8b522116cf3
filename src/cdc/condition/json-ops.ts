// jsonb operators (-> ->> #> #>> ? ?| ?& @> <@) and array operators (@> <@ && on array text
// such as '{a,b}', as text[] columns arrive, or ARRAY[...]).

import { EMPTY_ROW, nodeOf, svals, type ArrayExpr, type Builder, type Expr } from './builder.ts';
import { toText } from './convert.ts';
import { EvaluationError, fail } from './errors.ts';
import { arrayContains, arrayOverlaps, jsonAsText, jsonContains, jsonGet, jsonHasKey, jsonPath, parseJson, parseTextArray } from './json.ts';
import { decimalOf, toDouble } from './numeric.ts';
import type { Tree } from './source.ts';
import { describe, kindName, UNCHANGED, type RowPair, type Value } from './values.ts';

/** e as a json operand: json and column values as they are, text parsed as JSON. */
export function jsonOperand(cx: Builder, e: Expr, op: string): Expr {
  if (e.kind === 'json' || e.kind === 'any') return e;
  if (e.kind === 'text' || e.kind === 'unknown') return cx.coerce(e, 'json');
  throw cx.error(`operator ${op} needs jsonb, not ${kindName(e.kind)}`, e.node, true);
}

export function jsonField(cx: Builder, op: string, body: Tree, node: unknown, depth: number): Expr {
  const j = jsonOperand(cx, cx.compile(body.lexpr, depth), op);
  const keyExpr = cx.compile(body.rexpr, depth);
  let key: Expr;
  if (keyExpr.kind === 'number') {
    key = cx.map(keyExpr, (v) => {
      const n = toDouble(v as number | string);
      return Number.isInteger(n) ? n : fail(`a json array index must be an integer, not ${decimalOf(v as number | string)}`);
    }, 'number', 'int');
  } else if (keyExpr.kind === 'any') {
    key = keyExpr;
  } else {
    key = cx.expect(keyExpr, 'text', `right operand of ${op}`);
  }
  const asText = op === '->>';
  return cx.strict2(j, key, (v, k) => {
    if (typeof k !== 'number' && typeof k !== 'string') fail(`the right operand of ${op} must be a key or an index, not ${describe(k)}`);
    const got = jsonGet(v, k);
    return asText ? jsonAsText(got) : got;
  }, asText ? 'text' : 'json', node);
}

export function jsonPathOp(cx: Builder, op: string, body: Tree, node: unknown, depth: number): Expr {
  const j = jsonOperand(cx, cx.compile(body.lexpr, depth), op);
  const path = textArray(cx, body.rexpr, depth);
  const asText = op === '#>>';
  const a = j.ev;
  const b = path.ev;
  return cx.derived((row) => {
    const v = a(row);
    if (v === null) return null;
    const p = b(row);
    if (p === null) return null;
    if (v === UNCHANGED || p === UNCHANGED) return UNCHANGED;
    const got = jsonPath(v, p as ReadonlyArray<string | null>);
    return asText ? jsonAsText(got) : got;
  }, asText ? 'text' : 'json', node, [j, input(path, node)]);
}

export function jsonExists(cx: Builder, body: Tree, node: unknown, depth: number): Expr {
  const j = jsonOperand(cx, cx.compile(body.lexpr, depth), '?');
  const key = cx.expect(cx.compile(body.rexpr, depth), 'text', 'right operand of ?');
  const exists = cx.strict2(j, key, (v, k) => jsonHasKey(v, k as string), 'bool', node);
  return unknownAsNull(cx, exists);
}

export function jsonExistsAnyAll(cx: Builder, op: string, body: Tree, node: unknown, depth: number): Expr {
  const j = jsonOperand(cx, cx.compile(body.lexpr, depth), op);
  const keys = textArray(cx, body.rexpr, depth);
  const all = op === '?&';
  const a = j.ev;
  const b = keys.ev;
  // NULL elements of the key array are ignored.
  return cx.derived((row) => {
    const v = a(row);
    if (v === null) return null;
    const k = b(row);
    if (k === null || v === UNCHANGED || k === UNCHANGED) return null;
    const list = (k as ReadonlyArray<string | null>).filter((x): x is string => x !== null);
    return all ? list.every((x) => jsonHasKey(v, x)) : list.some((x) => jsonHasKey(v, x));
  }, 'bool', node, [j, input(keys, node)]);
}

/** @> and <@: jsonb containment, or array containment for arrays (text such as '{a,b}', or ARRAY[...]). */
export function containment(cx: Builder, op: string, body: Tree, node: unknown, depth: number): Expr {
  const [outerNode, innerNode] = op === '@>' ? [body.lexpr, body.rexpr] : [body.rexpr, body.lexpr];
  if (isArrayNode(outerNode) || isArrayNode(innerNode)) {
    return arrayOp(cx, textArray(cx, outerNode, depth), textArray(cx, innerNode, depth), arrayContains, node);
  }
  const outer = cx.compile(outerNode, depth);
  const inner = cx.compile(innerNode, depth);
  if (outer.kind === 'json' || inner.kind === 'json') {
    const contains = cx.strict2(jsonOperand(cx, outer, op), jsonOperand(cx, inner, op), (x, y) => jsonContains(x, y), 'bool', node);
    return unknownAsNull(cx, contains);
  }
  for (const e of [outer, inner]) {
    if (e.kind !== 'any' && e.kind !== 'unknown' && e.kind !== 'text') {
      throw cx.error(`operator ${op} needs jsonb or arrays, not ${kindName(e.kind)}`, e.node, true);
    }
  }
  // Column values: a string is an array's text, anything else a json value.
  const outerArrays = new ArrayTextCache();
  const innerArrays = new ArrayTextCache();
  const innerLiteral = inner.kind === 'unknown' || inner.kind === 'text';
  let lastText: string | undefined;
  let lastJson: Value = null;
  const contains = cx.strict2(outer, inner, (x, y) => {
    if (typeof x === 'string') return arrayContains(outerArrays.parse(x), arrayElements(y, innerArrays));
    if (innerLiteral && typeof y === 'string') {
      if (y !== lastText) {
        lastJson = parseJson(y);
        lastText = y;
      }
      return jsonContains(x, lastJson);
    }
    return jsonContains(x, y);
  }, 'bool', node);
  return unknownAsNull(cx, contains);
}

export function overlap(cx: Builder, body: Tree, node: unknown, depth: number): Expr {
  return arrayOp(cx, textArray(cx, body.lexpr, depth), textArray(cx, body.rexpr, depth), arrayOverlaps, node);
}

export function arrayOp(cx: Builder, 
  left: ArrayExpr,
  right: ArrayExpr,
  f: (a: ReadonlyArray<string | null>, b: ReadonlyArray<string | null>) => boolean,
  node: unknown,
): Expr {
  const a = left.ev;
  const b = right.ev;
  return cx.derived((row) => {
    const x = a(row);
    const y = b(row);
    if (x === null || y === null || x === UNCHANGED || y === UNCHANGED) return null;
    return f(x as ReadonlyArray<string | null>, y as ReadonlyArray<string | null>);
  }, 'bool', node, [input(left, node), input(right, node)]);
}

/** Booleans computed from an unchanged value are unknown, not an unknown non-null value. */
export function unknownAsNull(cx: Builder, e: Expr): Expr {
  const ev = e.ev;
  return cx.derived((row) => {
    const v = ev(row);
    return v === UNCHANGED ? null : v;
  }, 'bool', e.node, [e]);
}

/** A text[] operand: ARRAY[...], an array literal '{a,b}' (optionally cast to text[]), or a column holding either an array's text or a json array. */
export function textArray(cx: Builder, node: unknown, depth: number): ArrayExpr {
  const [type, body] = nodeOf(node);
  if (type === 'A_ArrayExpr') {
    const elements = ((body.elements as unknown[] | undefined) ?? []).map((n) => cx.expect(cx.compile(n, depth + 1), 'text', 'an array element'));
    const evs = elements.map((e) => e.ev);
    const build = (row: RowPair): ReadonlyArray<string | null> | typeof UNCHANGED => {
      const out: Array<string | null> = [];
      for (const ev of evs) {
        const v = ev(row);
        if (v === UNCHANGED) return UNCHANGED;
        out.push(v as string | null);
      }
      return out;
    };
    if (elements.every((e) => e.constant)) {
      const value = build(EMPTY_ROW);
      return { ev: () => value, constant: true };
    }
    return { ev: build, constant: false };
  }
  if (type === 'TypeCast') {
    const typeName = body.typeName as Tree;
    const names = svals(typeName.names).filter((n) => n !== 'pg_catalog');
    if (typeName.arrayBounds && names.length === 1 && (names[0] === 'text' || names[0] === 'varchar')) return textArray(cx, body.arg, depth + 1);
  }
  const e = cx.compile(node, depth + 1);
  if (e.kind !== 'any' && e.kind !== 'unknown' && e.kind !== 'text' && e.kind !== 'json') {
    throw cx.error(`expected a text array, not ${kindName(e.kind)}`, node, true);
  }
  const cache = new ArrayTextCache();
  const ev = e.ev;
  const read = (row: RowPair): ReadonlyArray<string | null> | null | typeof UNCHANGED => {
    const v = ev(row);
    if (v === null || v === UNCHANGED) return v;
    return arrayElements(v, cache);
  };
  if (e.constant) {
    let value: ReturnType<typeof read>;
    try {
      value = read(EMPTY_ROW);
    } catch (err) {
      if (err instanceof EvaluationError) throw cx.error(err.message, node);
      throw err;
    }
    return { ev: () => value, constant: true };
  }
  return { ev: read, constant: false };
}

/** An array operand as an input of Builder.derived, which only asks inputs whether they are constant. */
function input(a: ArrayExpr, node: unknown): Expr {
  return { ev: a.ev, kind: 'text', constant: a.constant, node };
}

function isArrayNode(node: unknown): boolean {
  const [type, body] = nodeOf(node);
  return type === 'A_ArrayExpr' || (type === 'TypeCast' && (body.typeName as Tree | undefined)?.arrayBounds !== undefined);
}

/** The last array text parsed, to parse a literal or an unchanged cell once. */
class ArrayTextCache {
  private text: string | undefined;
  private value: ReadonlyArray<string | null> = [];

  parse(text: string): ReadonlyArray<string | null> {
    if (text !== this.text) {
      this.value = parseTextArray(text);
      this.text = text;
    }
    return this.value;
  }
}

/** An array's elements as text: from array text ('{a,b}'), or from a JSON array. */
function arrayElements(v: Value, cache: ArrayTextCache): ReadonlyArray<string | null> {
  if (typeof v === 'string') return cache.parse(v);
  if (Array.isArray(v)) return v.map((x) => (x === null ? null : typeof x === 'string' ? x : toText(x as Value, 'json')));
  return fail(`expected an array, not ${describe(v)}`);
}
