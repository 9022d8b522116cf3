// What the compiler builds with: compiled nodes (Expr), and the steps shared by every node kind:
// constants folded at compile time, conversions between kinds, the common kind of expressions
// that are compared or replace each other, and calls of strict functions.

import { COMPARE, compareDynamic, literalComparator, type Compare } from './compare.ts';
import { implicitConversion, type Convert } from './convert.ts';
import { EvaluationError } from './errors.ts';
import type { NumType } from './functions.ts';
import type { Source, Tree } from './source.ts';
import { domainOf, kindName, UNCHANGED, type Ev, type Kind, type RowPair, type Value } from './values.ts';

export interface Expr {
  readonly ev: Ev;
  readonly kind: Kind;
  /** The same for every row (no column in it); `value` is that value. */
  readonly constant: boolean;
  readonly value?: Value;
  /** For the number kind: whether / and % divide as integers (see arith.ts). */
  readonly num?: NumType;
  /** The parse tree node, for error messages. */
  readonly node: unknown;
}

/** A text[] operand (of #>, ?|, ?&, @>, <@, &&). */
export interface ArrayExpr {
  readonly ev: (row: RowPair) => ReadonlyArray<string | null> | null | typeof UNCHANGED;
  readonly constant: boolean;
}

export const EMPTY_ROW: RowPair = { new: null, old: null };

export type Tri = boolean | null;

export function nodeOf(node: unknown): [string, Tree] {
  const entry = typeof node === 'object' && node !== null ? Object.entries(node)[0] : undefined;
  return entry ? [entry[0], entry[1] as Tree] : ['', {}];
}

export function svals(list: unknown): string[] {
  return ((list as unknown[] | undefined) ?? []).map((n) => {
    const [type, body] = nodeOf(n);
    return type === 'String' ? String(body.sval ?? '') : type === 'A_Star' ? '*' : '';
  });
}

export function isNullish(v: Value): boolean {
  return v === null || v === UNCHANGED;
}

export function not3(v: Value): Tri {
  return v === true ? false : v === false ? true : null;
}

const TIME_ORDER: readonly Kind[] = ['date', 'timestamp', 'timestamptz'];

export abstract class Builder {
  constructor(readonly source: Source) {}

  abstract compile(node: unknown, depth: number): Expr;

  error(message: string, node: unknown, quoteFragment = false): Error {
    return this.source.error(message, node, quoteFragment);
  }

  constant(value: Value, kind: Kind, node: unknown, num?: NumType): Expr {
    return { ev: () => value, kind, constant: true, value, num, node };
  }

  /** A node computed from `inputs`; folded to a constant when they all are. */
  derived(ev: Ev, kind: Kind, node: unknown, inputs: readonly Expr[], num?: NumType): Expr {
    if (inputs.every((e) => e.constant)) {
      let value: Value;
      try {
        value = ev(EMPTY_ROW);
      } catch (err) {
        if (err instanceof EvaluationError) throw this.error(err.message, node);
        throw err;
      }
      return this.constant(value, kind, node, num);
    }
    return { ev, kind, constant: false, num, node };
  }

  /** f applied to e's non-null values (NULL and UNCHANGED pass through). */
  map(e: Expr, f: Convert, kind: Kind, num?: NumType, node: unknown = e.node): Expr {
    const ev = e.ev;
    return this.derived((r) => {
      const v = ev(r);
      return v === null || v === UNCHANGED ? v : f(v);
    }, kind, node, [e], num);
  }

  /** e converted to kind `to` (the caller has checked that the kinds are compatible). */
  coerce(e: Expr, to: Kind): Expr {
    if (e.kind === to || to === 'any') return e;
    const num = to === 'number' ? (e.kind === 'unknown' ? 'numeric' : e.num ?? 'dynamic') : undefined;
    return this.map(e, implicitConversion(e.kind, to), to, num);
  }

  /** e as an argument of kind `to`: columns and literals convert, anything converts to text, other kinds must match. */
  expect(e: Expr, to: Kind, what: string): Expr {
    if (e.kind === to) return e;
    const from = domainOf(e.kind);
    if (from === undefined || from === domainOf(to) || to === 'text') return this.coerce(e, to);
    throw this.error(`${what} must be ${kindName(to)}, not ${kindName(e.kind)}`, e.node, true);
  }

  /**
   * The common kind of expressions that are compared or may replace each other (CASE branches,
   * COALESCE arguments...), each converted to it: the known kind if any (all known kinds must be
   * of one family), else `any` if a column is among them, else text (only literals).
   */
  resolve(exprs: readonly Expr[], mismatch: (a: Kind, b: Kind) => string, node: unknown): { exprs: Expr[]; kind: Kind } {
    let known: Kind | undefined;
    let column = false;
    for (const e of exprs) {
      if (e.kind === 'any') column = true;
      else if (e.kind !== 'unknown') {
        if (known === undefined) known = e.kind;
        else if (domainOf(known) !== domainOf(e.kind)) throw this.error(mismatch(known, e.kind), node, true);
        else if (TIME_ORDER.indexOf(e.kind) > TIME_ORDER.indexOf(known)) known = e.kind;
      }
    }
    const kind: Kind = known ?? (column ? 'any' : 'text');
    return { exprs: exprs.map((e) => this.coerce(e, kind)), kind };
  }

  /** How values of two resolved kinds compare. */
  comparer(a: Kind, b: Kind): Compare {
    const domain = domainOf(a) ?? domainOf(b);
    if (domain) return COMPARE[domain];
    if (a === 'unknown' && b === 'unknown') return COMPARE.text;
    if (b === 'unknown') return literalComparator(false);
    if (a === 'unknown') return literalComparator(true);
    return compareDynamic;
  }

  comparable(exprs: readonly Expr[], node: unknown): { exprs: Expr[]; kind: Kind } {
    return this.resolve(exprs, (a, b) => `cannot compare ${kindName(a)} with ${kindName(b)}`, node);
  }

  matchable(exprs: readonly Expr[], what: string, node: unknown): { exprs: Expr[]; kind: Kind } {
    return this.resolve(exprs, (a, b) => `${what} types ${kindName(a)} and ${kindName(b)} cannot be matched`, node);
  }

  /** e where a boolean is needed (WHERE, AND, OR, NOT, CASE WHEN). */
  condition(e: Expr, what: string): Expr {
    if (e.kind === 'bool') return e;
    if (e.kind === 'any' || e.kind === 'unknown') return this.coerce(e, 'bool');
    throw this.error(`argument of ${what} must be type boolean, not type ${kindName(e.kind)}`, e.node, true);
  }

  /** f of two operands, NULL if either is NULL, unknown if either is unchanged. */
  strict2(l: Expr, r: Expr, f: (x: Value, y: Value) => Value, kind: Kind, node: unknown, num?: NumType): Expr {
    const a = l.ev;
    const b = r.ev;
    return this.derived((row) => {
      const x = a(row);
      if (x === null) return null;
      const y = b(row);
      if (y === null) return null;
      if (x === UNCHANGED || y === UNCHANGED) return UNCHANGED;
      return f(x, y);
    }, kind, node, [l, r], num);
  }
}

/** A call of a function of the arguments' values, without an array for up to three arguments. */
export function callClosure(impl: (...args: any[]) => Value, evs: readonly Ev[], strict: boolean): Ev {
  if (!strict) {
    return (row) => {
      const values = evs.map((ev) => ev(row));
      return values.includes(UNCHANGED) ? UNCHANGED : impl(...values);
    };
  }
  switch (evs.length) {
    case 1: {
      const [a] = evs;
      return (row) => {
        const x = a(row);
        return x === null || x === UNCHANGED ? x : impl(x);
      };
    }
    case 2: {
      const [a, b] = evs;
      return (row) => {
        const x = a(row);
        if (x === null) return null;
        const y = b(row);
        if (y === null) return null;
        return x === UNCHANGED || y === UNCHANGED ? UNCHANGED : impl(x, y);
      };
    }
    case 3: {
      const [a, b, c] = evs;
      return (row) => {
        const x = a(row);
        if (x === null) return null;
        const y = b(row);
        if (y === null) return null;
        const z = c(row);
        if (z === null) return null;
        return x === UNCHANGED || y === UNCHANGED || z === UNCHANGED ? UNCHANGED : impl(x, y, z);
      };
    }
    default:
      return (row) => {
        const values = evs.map((ev) => ev(row));
        if (values.includes(null)) return null;
        return values.includes(UNCHANGED) ? UNCHANGED : impl(...values);
      };
  }
}

export function commonNum(exprs: readonly Expr[]): NumType {
  const nums = new Set(exprs.filter((e) => !(e.constant && e.value === null)).map((e) => e.num ?? 'dynamic'));
  return nums.size === 1 ? [...nums][0] : 'dynamic';
}
