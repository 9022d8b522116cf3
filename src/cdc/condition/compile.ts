// From the parse tree of a condition to one closure per node, built once. Each closure returns a
// Value (values.ts); SQL NULL is null and three-valued logic holds throughout: a comparison with
// NULL is NULL, AND is false if any operand is false, OR true if any is true, else NULL if any is.
//
// The compiler tracks each node's kind (values.ts): where PostgreSQL would know a type (a number
// literal, a cast, a function's result) values are converted to it, and comparisons of two known
// kinds that PostgreSQL would reject ('a'::text = 1) are rejected here. Parts without column
// references are evaluated once, at compile time, so their errors are compile errors, as
// PostgreSQL's constant folding makes them.

import { add, divide, modulo, multiply, power, subtract } from './arith.ts';
import { Builder, callClosure, commonNum, isNullish, nodeOf, not3, svals, type Expr, type Tri } from './builder.ts';
import { castTarget } from './casts.ts';
import { COMPARE, compareDynamic, type Compare } from './compare.ts';
import { toText } from './convert.ts';
import { EvaluationError } from './errors.ts';
import { FUNCTIONS, type NumType } from './functions.ts';
import { jsonConcat, parseJson } from './json.ts';
import { containment, jsonExists, jsonExistsAnyAll, jsonField, jsonOperand, jsonPathOp, overlap } from './json-ops.ts';
import { negate, parseNumeric } from './numeric.ts';
import { cellReader } from './row.ts';
import type { Source, Tree } from './source.ts';
import { likeMatcher, type Matcher } from './text.ts';
import { domainOf, isJsonObject, kindName, UNCHANGED, type Ev, type Kind, type Value } from './values.ts';

/** Deeper expressions are refused; real conditions nest a few levels. */
export const MAX_DEPTH = 100;

/** An identifier as the user could have written it: bare when that reads back the same, else quoted. */
function ident(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** c >= 0 style tests of a comparison result. */
const TESTS: Readonly<Record<string, (c: number) => boolean>> = {
  '=': (c) => c === 0,
  '<>': (c) => c !== 0,
  '<': (c) => c < 0,
  '<=': (c) => c <= 0,
  '>': (c) => c > 0,
  '>=': (c) => c >= 0,
};

export interface CompiledTree {
  readonly test: Ev;
  readonly columns: readonly string[];
}

export function compileTree(tree: Tree, source: Source): CompiledTree {
  const compiler = new Compiler(source);
  const root = compiler.condition(compiler.compile(tree, 0), 'WHERE');
  return { test: root.ev, columns: compiler.columns };
}

class Compiler extends Builder {
  readonly columns: string[] = [];

  private columnName(side: string, name: string): void {
    const key = `${side}.${name}`;
    if (!this.columns.includes(key)) this.columns.push(key);
  }

  // ---- nodes -----------------------------------------------------------------------------

  compile(node: unknown, depth: number): Expr {
    if (depth > MAX_DEPTH) throw this.error(`the condition is nested too deeply (more than ${MAX_DEPTH} levels)`, node);
    const [type, body] = nodeOf(node);
    const d = depth + 1;
    switch (type) {
      case 'A_Const':
        return this.literal(body, node);
      case 'ColumnRef':
        return this.column(body, node);
      case 'TypeCast':
        return this.cast(body, node, d);
      case 'A_Expr':
        return this.aExpr(body, node, d);
      case 'BoolExpr':
        return this.boolExpr(body, node, d);
      case 'NullTest':
        return this.nullTest(body, node, d);
      case 'BooleanTest':
        return this.booleanTest(body, node, d);
      case 'CaseExpr':
        return this.caseExpr(body, node, d);
      case 'CoalesceExpr':
        return this.coalesce(body, node, d);
      case 'MinMaxExpr':
        return this.minMax(body, node, d);
      case 'FuncCall':
        return this.call(body, node, d);
      case 'SubLink':
        throw this.error('subqueries are not allowed in a condition', node, true);
      case 'ParamRef':
        throw this.error(`parameters ($${Number(body.number ?? 0)}) are not allowed in a condition`, node);
      case 'SQLValueFunction':
        throw this.error(`unsupported function "${String(body.op).replace(/^SVFOP_/, '').toLowerCase()}"`, node);
      case 'CollateClause':
        throw this.error('COLLATE is not supported (text is compared by code point)', node, true);
      case 'A_Indirection':
        throw this.error('subscripts and field selection are not supported (for json use -> and ->>)', node, true);
      case 'A_ArrayExpr':
        throw this.error('an ARRAY is only allowed as the right operand of #>, #>>, ?|, ?& and as an operand of @>, <@, &&', node, true);
      case 'RowExpr':
        throw this.error('row constructors are not supported', node, true);
      default:
        throw this.error('unsupported expression', node, true);
    }
  }

  private literal(body: Tree, node: unknown): Expr {
    if (body.isnull) return this.constant(null, 'unknown', node);
    if ('ival' in body) return this.constant(Number((body.ival as Tree).ival ?? 0), 'number', node, 'int');
    if ('fval' in body) {
      // Integers too large for int4 come as fval too; PostgreSQL types them bigint, or numeric beyond.
      const text = String((body.fval as Tree).fval);
      const value = parseNumeric(text) ?? text;
      if (/^-?\d+$/.test(text) && Number.isSafeInteger(Number(text))) return this.constant(Number(text), 'number', node, 'int');
      return this.constant(value, 'number', node, 'numeric');
    }
    if ('sval' in body) return this.constant(String((body.sval as Tree).sval ?? ''), 'unknown', node);
    if ('boolval' in body) return this.constant((body.boolval as Tree).boolval === true, 'bool', node);
    throw this.error('bit string literals are not supported', node, true);
  }

  private column(body: Tree, node: unknown): Expr {
    const names = svals(body.fields);
    const shown = names.map((n) => (n === '*' ? '*' : ident(n))).join('.');
    if (names.includes('*')) throw this.error(`"${shown}" is not supported: reference columns one by one, as new.<column>`, node);
    let side: 'new' | 'old';
    let name: string;
    if (names.length === 1) {
      if (names[0] === 'new' || names[0] === 'old') {
        throw this.error(`"${names[0]}" is a whole row: reference one of its columns, as ${names[0]}.<column>`, node);
      }
      side = 'new';
      name = names[0];
    } else if (names.length === 2 && (names[0] === 'new' || names[0] === 'old')) {
      side = names[0];
      name = names[1];
    } else {
      throw this.error(`unknown column reference "${shown}": use new.<column> or old.<column>`, node);
    }
    this.columnName(side, name);
    return { ev: cellReader(side, name), kind: 'any', constant: false, num: 'dynamic', node };
  }

  // ---- casts -----------------------------------------------------------------------------

  private cast(body: Tree, node: unknown, depth: number): Expr {
    const typeName = body.typeName as Tree;
    const names = svals(typeName.names);
    const shown = (names[0] === 'pg_catalog' ? names.slice(1) : names).join('.');
    if (typeName.arrayBounds) {
      throw this.error(`array type "${shown}[]" is only allowed as the right operand of #>, #>>, ?|, ?& and as an operand of @>, <@, &&`, node);
    }
    const typmods = ((typeName.typmods as unknown[] | undefined) ?? []).map((t) => {
      const [type, b] = nodeOf(t);
      if (type !== 'A_Const' || !('ival' in b)) throw this.error(`invalid type modifier for "${shown}"`, t);
      return Number((b.ival as Tree).ival ?? 0);
    });
    const target = castTarget(names, typmods);
    if (typeof target === 'string') throw this.error(target, { location: typeName.location });
    const arg = this.compile(body.arg, depth);
    return this.map(arg, target.convert(arg.kind), target.kind, target.num, node);
  }

  // ---- operators -------------------------------------------------------------------------

  private aExpr(body: Tree, node: unknown, depth: number): Expr {
    const names = svals(body.name);
    const op = names[names.length - 1] ?? '';
    if (names.length > 1 && names[0] !== 'pg_catalog') throw this.error(`unsupported operator "${names.join('.')}"`, { location: body.location });
    switch (body.kind) {
      case 'AEXPR_OP':
        return this.operator(op, body, node, depth);
      case 'AEXPR_DISTINCT':
        return this.distinct(body, node, depth, false);
      case 'AEXPR_NOT_DISTINCT':
        return this.distinct(body, node, depth, true);
      case 'AEXPR_NULLIF':
        return this.nullif(body, node, depth);
      case 'AEXPR_IN':
        return this.inList(body, node, depth, op === '<>');
      case 'AEXPR_LIKE':
      case 'AEXPR_ILIKE':
        return this.like(op, body, node, depth);
      case 'AEXPR_BETWEEN':
        return this.between(body, node, depth, false, false);
      case 'AEXPR_NOT_BETWEEN':
        return this.between(body, node, depth, true, false);
      case 'AEXPR_BETWEEN_SYM':
        return this.between(body, node, depth, false, true);
      case 'AEXPR_NOT_BETWEEN_SYM':
        return this.between(body, node, depth, true, true);
      case 'AEXPR_OP_ANY':
      case 'AEXPR_OP_ALL':
        throw this.error(`${op} ${body.kind === 'AEXPR_OP_ANY' ? 'ANY' : 'ALL'} (array) is not supported: use IN (...)`, node, true);
      case 'AEXPR_SIMILAR':
        throw this.error('SIMILAR TO is not supported: use LIKE', node, true);
      default:
        throw this.error('unsupported expression', node, true);
    }
  }

  private operator(op: string, body: Tree, node: unknown, depth: number): Expr {
    const at = { location: body.location };
    if (body.lexpr === undefined) {
      if (op !== '-' && op !== '+') throw this.error(`unsupported operator "${op}"`, at);
      const e = this.numberOperand(this.compile(body.rexpr, depth), op);
      return op === '-' ? this.map(e, (v) => negate(v as number | string), 'number', e.num, node) : e;
    }
    switch (op) {
      case '=':
      case '<>':
      case '<':
      case '<=':
      case '>':
      case '>=':
        return this.comparison(op, this.compile(body.lexpr, depth), this.compile(body.rexpr, depth), node);
      case '+':
      case '-':
      case '*':
      case '/':
      case '%':
      case '^':
        return this.arithmetic(op, this.compile(body.lexpr, depth), this.compile(body.rexpr, depth), node);
      case '||':
        return this.concat(this.compile(body.lexpr, depth), this.compile(body.rexpr, depth), node);
      case '~~':
      case '!~~':
      case '~~*':
      case '!~~*':
        return this.like(op, body, node, depth);
      case '->':
      case '->>':
        return jsonField(this, op, body, node, depth);
      case '#>':
      case '#>>':
        return jsonPathOp(this, op, body, node, depth);
      case '?':
        return jsonExists(this, body, node, depth);
      case '?|':
      case '?&':
        return jsonExistsAnyAll(this, op, body, node, depth);
      case '@>':
      case '<@':
        return containment(this, op, body, node, depth);
      case '&&':
        return overlap(this, body, node, depth);
      default:
        throw this.error(`unsupported operator "${op}"`, at);
    }
  }

  private comparison(op: string, left: Expr, right: Expr, node: unknown): Expr {
    const { exprs: [l, r] } = this.comparable([left, right], node);
    const cmp = this.comparer(l.kind, r.kind);
    const test = TESTS[op];
    const a = l.ev;
    const b = r.ev;
    if ((l.constant && l.value === null) || (r.constant && r.value === null)) return this.constant(null, 'bool', node);
    if (r.constant) {
      const y = r.value as Value;
      return this.derived((row) => {
        const x = a(row);
        return x === null || x === UNCHANGED ? null : test(cmp(x, y));
      }, 'bool', node, [l, r]);
    }
    return this.derived((row) => {
      const x = a(row);
      if (x === null || x === UNCHANGED) return null;
      const y = b(row);
      if (y === null || y === UNCHANGED) return null;
      return test(cmp(x, y));
    }, 'bool', node, [l, r]);
  }

  private distinct(body: Tree, node: unknown, depth: number, not: boolean): Expr {
    const { exprs: [l, r] } = this.comparable([this.compile(body.lexpr, depth), this.compile(body.rexpr, depth)], node);
    const cmp = this.comparer(l.kind, r.kind);
    const a = l.ev;
    const b = r.ev;
    // NULL is not distinct from NULL and distinct from any value, an unchanged value included;
    // whether an unchanged value is distinct from a value is unknown.
    return this.derived((row) => {
      const x = a(row);
      const y = b(row);
      let distinct: Tri;
      if (x === null || y === null) distinct = (x === null) !== (y === null);
      else if (x === UNCHANGED || y === UNCHANGED) return null;
      else distinct = cmp(x, y) !== 0;
      return not ? !distinct : distinct;
    }, 'bool', node, [l, r]);
  }

  private nullif(body: Tree, node: unknown, depth: number): Expr {
    const { exprs: [l, r] } = this.comparable([this.compile(body.lexpr, depth), this.compile(body.rexpr, depth)], node);
    const cmp = this.comparer(l.kind, r.kind);
    const a = l.ev;
    const b = r.ev;
    return this.derived((row) => {
      const x = a(row);
      if (x === null) return null;
      const y = b(row);
      if (y === null) return x;
      if (x === UNCHANGED || y === UNCHANGED) return UNCHANGED;
      return cmp(x, y) === 0 ? null : x;
    }, l.kind, node, [l, r], l.num);
  }

  private inList(body: Tree, node: unknown, depth: number, not: boolean): Expr {
    const [rType, rBody] = nodeOf(body.rexpr);
    if (rType !== 'List') throw this.error('IN needs a list of values', node, true);
    const left = this.compile(body.lexpr, depth);
    const items = ((rBody.items as unknown[] | undefined) ?? []).map((n) => this.compile(n, depth));
    const { exprs: [l, ...rs] } = this.comparable([left, ...items], node);
    const a = l.ev;
    const finish = (t: Tri): Tri => (not ? not3(t) : t);
    if (rs.every((e) => e.constant)) {
      const values = rs.map((e) => e.value as Value);
      const hasNull = values.includes(null);
      const present = values.filter((v) => v !== null);
      const miss: Tri = hasNull ? null : false;
      // Equal strings are equal text; the common case of text IN ('a', 'b') is a set lookup.
      if ((l.kind === 'text' || (l.kind === 'any' && rs.every((e) => e.kind === 'unknown' || e.value === null))) && present.every((v) => typeof v === 'string')) {
        const set = new Set(present as string[]);
        const cmps = rs.map((e) => this.comparer(l.kind, e.kind));
        return this.derived((row) => {
          const x = a(row);
          if (x === null || x === UNCHANGED) return null;
          if (typeof x === 'string') return finish(set.has(x) ? true : miss);
          for (let i = 0; i < values.length; i++) {
            if (values[i] !== null && cmps[i](x, values[i]) === 0) return finish(true);
          }
          return finish(miss);
        }, 'bool', node, [l, ...rs]);
      }
      const cmps = rs.map((e) => this.comparer(l.kind, e.kind));
      return this.derived((row) => {
        const x = a(row);
        if (x === null || x === UNCHANGED) return null;
        for (let i = 0; i < values.length; i++) {
          if (values[i] !== null && cmps[i](x, values[i]) === 0) return finish(true);
        }
        return finish(miss);
      }, 'bool', node, [l, ...rs]);
    }
    const evs = rs.map((e) => e.ev);
    const cmps = rs.map((e) => this.comparer(l.kind, e.kind));
    return this.derived((row) => {
      const x = a(row);
      if (x === null || x === UNCHANGED) return null;
      let unknown = false;
      for (let i = 0; i < evs.length; i++) {
        const y = evs[i](row);
        if (y === null || y === UNCHANGED) unknown = true;
        else if (cmps[i](x, y) === 0) return finish(true);
      }
      return finish(unknown ? null : false);
    }, 'bool', node, [l, ...rs]);
  }

  private between(body: Tree, node: unknown, depth: number, not: boolean, symmetric: boolean): Expr {
    const [, list] = nodeOf(body.rexpr);
    const [lowNode, highNode] = (list.items as unknown[] | undefined) ?? [];
    const { exprs: [x, lo, hi] } = this.comparable(
      [this.compile(body.lexpr, depth), this.compile(lowNode, depth), this.compile(highNode, depth)],
      node,
    );
    const cmpLow = this.comparer(x.kind, lo.kind);
    const cmpHigh = this.comparer(x.kind, hi.kind);
    const ex = x.ev;
    const el = lo.ev;
    const eh = hi.ev;
    // x BETWEEN a AND b is x >= a AND x <= b; SYMMETRIC also accepts b <= x <= a.
    const within = (v: Value, a: Value, b: Value, ca: Compare, cb: Compare): Tri => {
      const ge: Tri = isNullish(v) || isNullish(a) ? null : ca(v, a) >= 0;
      if (ge === false) return false;
      const le: Tri = isNullish(v) || isNullish(b) ? null : cb(v, b) <= 0;
      if (le === false) return false;
      return ge === true && le === true ? true : null;
    };
    return this.derived((row) => {
      const v = ex(row);
      const a = el(row);
      const b = eh(row);
      let t = within(v, a, b, cmpLow, cmpHigh);
      if (symmetric && t !== true) {
        const swapped = within(v, b, a, cmpHigh, cmpLow);
        t = swapped === true ? true : t === false && swapped === false ? false : null;
      }
      return not ? not3(t) : t;
    }, 'bool', node, [x, lo, hi]);
  }

  private numberOperand(e: Expr, op: string): Expr {
    if (e.kind === 'number') return e;
    if (e.kind === 'any' || e.kind === 'unknown') return this.coerce(e, 'number');
    throw this.error(`operator ${op} is not supported for ${kindName(e.kind)}`, e.node, true);
  }

  private arithmetic(op: string, left: Expr, right: Expr, node: unknown): Expr {
    const l = this.numberOperand(left, op);
    const r = this.numberOperand(right, op);
    const num: NumType =
      l.num === 'float' || r.num === 'float' || op === '^' ? 'float'
      : l.num === 'numeric' || r.num === 'numeric' ? 'numeric'
      : l.num === 'int' && r.num === 'int' ? 'int'
      : 'dynamic';
    // int / int truncates; a column holding an integer counts as one.
    const integerDivision = l.num !== 'numeric' && l.num !== 'float' && r.num !== 'numeric' && r.num !== 'float';
    type Num = number | string;
    let f: (x: Num, y: Num) => Value;
    switch (op) {
      case '+': f = add; break;
      case '-': f = subtract; break;
      case '*': f = multiply; break;
      case '/': f = (x, y) => divide(x, y, integerDivision); break;
      case '%': f = modulo; break;
      default: f = power; break;
    }
    return this.strict2(l, r, (x, y) => f(x as Num, y as Num), 'number', node, num);
  }

  private concat(left: Expr, right: Expr, node: unknown): Expr {
    const jsonish = (k: Kind): boolean => k === 'json' || k === 'unknown' || k === 'any';
    if ((left.kind === 'json' && jsonish(right.kind)) || (right.kind === 'json' && jsonish(left.kind))) {
      return this.strict2(jsonOperand(this, left, '||'), jsonOperand(this, right, '||'), jsonConcat, 'json', node);
    }
    if ((left.kind === 'any' || left.kind === 'unknown') && (right.kind === 'any' || right.kind === 'unknown') && !(left.kind === 'unknown' && right.kind === 'unknown')) {
      // A column's kind is seen at run time: jsonb || jsonb merges, anything else concatenates text.
      const lk = left.kind;
      const rk = right.kind;
      return this.strict2(left, right, (x, y) => {
        const xs = lk === 'unknown' ? x : isJsonObject(x) ? x : undefined;
        const ys = rk === 'unknown' ? y : isJsonObject(y) ? y : undefined;
        if ((isJsonObject(x) || isJsonObject(y)) && xs !== undefined && ys !== undefined) {
          return jsonConcat(typeof xs === 'string' ? parseJson(xs) : xs, typeof ys === 'string' ? parseJson(ys) : ys);
        }
        return toText(x, 'any') + toText(y, 'any');
      }, 'any', node);
    }
    const l = this.expect(left, 'text', 'operand of ||');
    const r = this.expect(right, 'text', 'operand of ||');
    return this.strict2(l, r, (x, y) => (x as string) + (y as string), 'text', node);
  }

  private like(op: string, body: Tree, node: unknown, depth: number): Expr {
    const negated = op.startsWith('!');
    const insensitive = op.endsWith('*');
    const subject = this.expect(this.compile(body.lexpr, depth), 'text', 'operand of LIKE');
    let patternNode = body.rexpr;
    let escape: Expr = this.constant('\\', 'text', node);
    const [rType, rBody] = nodeOf(body.rexpr);
    if (rType === 'FuncCall' && svals(rBody.funcname).join('.') === 'pg_catalog.like_escape') {
      const [p, e] = rBody.args as unknown[];
      patternNode = p;
      escape = this.expect(this.compile(e, depth), 'text', 'ESCAPE');
    }
    const pattern = this.expect(this.compile(patternNode, depth), 'text', 'pattern of LIKE');
    const s = subject.ev;
    if (pattern.constant && escape.constant) {
      if (pattern.value === null || escape.value === null) return this.constant(null, 'bool', node);
      let matcher: Matcher;
      try {
        matcher = likeMatcher(pattern.value as string, escape.value as string, insensitive);
      } catch (err) {
        if (err instanceof EvaluationError) throw this.error(err.message, pattern.node);
        throw err;
      }
      return this.derived((row) => {
        const v = s(row);
        return v === null || v === UNCHANGED ? null : matcher(v as string) !== negated;
      }, 'bool', node, [subject]);
    }
    const p = pattern.ev;
    const e = escape.ev;
    let lastPattern: string | undefined;
    let lastEscape: string | undefined;
    let matcher: Matcher = () => false;
    return this.derived((row) => {
      const v = s(row);
      const pv = p(row);
      const esc = e(row);
      if (isNullish(v) || isNullish(pv) || isNullish(esc)) return null;
      if (pv !== lastPattern || esc !== lastEscape) {
        matcher = likeMatcher(pv as string, esc as string, insensitive);
        lastPattern = pv as string;
        lastEscape = esc as string;
      }
      return matcher(v as string) !== negated;
    }, 'bool', node, [subject, pattern, escape]);
  }

  // ---- logic -----------------------------------------------------------------------------

  private boolExpr(body: Tree, node: unknown, depth: number): Expr {
    const op = body.boolop;
    const what = op === 'AND_EXPR' ? 'AND' : op === 'OR_EXPR' ? 'OR' : 'NOT';
    const args = ((body.args as unknown[] | undefined) ?? []).map((n) => this.condition(this.compile(n, depth), what));
    const evs = args.map((e) => e.ev);
    if (what === 'NOT') {
      const ev = evs[0];
      return this.derived((row) => not3(ev(row)), 'bool', node, args);
    }
    // AND is false when any operand is false, OR true when any is true; otherwise NULL if any is.
    const decisive = what === 'OR';
    if (evs.length === 2) {
      const [a, b] = evs;
      return this.derived((row) => {
        const x = a(row);
        if (x === decisive) return decisive;
        const y = b(row);
        if (y === decisive) return decisive;
        return x === !decisive && y === !decisive ? !decisive : null;
      }, 'bool', node, args);
    }
    return this.derived((row) => {
      let unknown = false;
      for (let i = 0; i < evs.length; i++) {
        const v = evs[i](row);
        if (v === decisive) return decisive;
        if (v !== !decisive) unknown = true;
      }
      return unknown ? null : !decisive;
    }, 'bool', node, args);
  }

  private nullTest(body: Tree, node: unknown, depth: number): Expr {
    const arg = this.compile(body.arg, depth);
    const ev = arg.ev;
    // An unchanged value is not NULL; neither is a JSON null.
    return body.nulltesttype === 'IS_NOT_NULL'
      ? this.derived((row) => ev(row) !== null, 'bool', node, [arg])
      : this.derived((row) => ev(row) === null, 'bool', node, [arg]);
  }

  private booleanTest(body: Tree, node: unknown, depth: number): Expr {
    const type = String(body.booltesttype);
    const arg = this.condition(this.compile(body.arg, depth), type.replace(/_/g, ' '));
    const ev = arg.ev;
    let test: (v: Value) => Tri;
    // IS [NOT] TRUE/FALSE never yield NULL in SQL; of an unchanged value they are unknown here.
    switch (type) {
      case 'IS_TRUE': test = (v) => (v === UNCHANGED ? null : v === true); break;
      case 'IS_NOT_TRUE': test = (v) => (v === UNCHANGED ? null : v !== true); break;
      case 'IS_FALSE': test = (v) => (v === UNCHANGED ? null : v === false); break;
      case 'IS_NOT_FALSE': test = (v) => (v === UNCHANGED ? null : v !== false); break;
      case 'IS_UNKNOWN': test = (v) => v === null; break;
      default: test = (v) => v !== null; break;
    }
    return this.derived((row) => test(ev(row)), 'bool', node, [arg]);
  }

  private caseExpr(body: Tree, node: unknown, depth: number): Expr {
    const whens = ((body.args as unknown[] | undefined) ?? []).map((n) => nodeOf(n)[1]);
    const results = whens.map((w) => this.compile(w.result, depth));
    if (body.defresult !== undefined) results.push(this.compile(body.defresult, depth));
    const { exprs: branches, kind } = this.matchable(results, 'CASE', node);
    const evs = branches.map((e) => e.ev);
    const fallback = body.defresult !== undefined ? evs[evs.length - 1] : () => null;
    const n = whens.length;
    const inputs = [...branches];
    let ev: Ev;
    if (body.arg !== undefined) {
      // CASE x WHEN v THEN ...: the first v equal to x (never when either is NULL).
      const subject = this.compile(body.arg, depth);
      const { exprs: [x, ...values] } = this.comparable([subject, ...whens.map((w) => this.compile(w.expr, depth))], node);
      const cmps = values.map((v) => this.comparer(x.kind, v.kind));
      const vs = values.map((v) => v.ev);
      const ex = x.ev;
      inputs.push(x, ...values);
      ev = (row) => {
        const v = ex(row);
        if (v !== null && v !== UNCHANGED) {
          for (let i = 0; i < n; i++) {
            const w = vs[i](row);
            if (w !== null && w !== UNCHANGED && cmps[i](v, w) === 0) return evs[i](row);
          }
        }
        return fallback(row);
      };
    } else {
      const conds = whens.map((w) => this.condition(this.compile(w.expr, depth), 'CASE/WHEN'));
      const cs = conds.map((c) => c.ev);
      inputs.push(...conds);
      ev = (row) => {
        for (let i = 0; i < n; i++) if (cs[i](row) === true) return evs[i](row);
        return fallback(row);
      };
    }
    return this.derived(ev, kind, node, inputs, commonNum(branches));
  }

  private coalesce(body: Tree, node: unknown, depth: number): Expr {
    const args = ((body.args as unknown[] | undefined) ?? []).map((n) => this.compile(n, depth));
    const { exprs, kind } = this.matchable(args, 'COALESCE', node);
    const evs = exprs.map((e) => e.ev);
    return this.derived((row) => {
      for (let i = 0; i < evs.length; i++) {
        const v = evs[i](row);
        if (v !== null) return v;
      }
      return null;
    }, kind, node, exprs, commonNum(exprs));
  }

  private minMax(body: Tree, node: unknown, depth: number): Expr {
    const greatest = body.op === 'IS_GREATEST';
    const args = ((body.args as unknown[] | undefined) ?? []).map((n) => this.compile(n, depth));
    const { exprs, kind } = this.matchable(args, greatest ? 'GREATEST' : 'LEAST', node);
    const cmp = domainOf(kind) ? COMPARE[domainOf(kind)!] : compareDynamic;
    const evs = exprs.map((e) => e.ev);
    // NULL arguments are ignored; the result is NULL only when all are.
    return this.derived((row) => {
      let best: Value = null;
      let unknown = false;
      for (let i = 0; i < evs.length; i++) {
        const v = evs[i](row);
        if (v === null) continue;
        if (v === UNCHANGED) unknown = true;
        else if (best === null || (greatest ? cmp(v, best) > 0 : cmp(v, best) < 0)) best = v;
      }
      return unknown ? UNCHANGED : best;
    }, kind, node, exprs, commonNum(exprs));
  }

  // ---- functions -------------------------------------------------------------------------

  private call(body: Tree, node: unknown, depth: number): Expr {
    const names = svals(body.funcname);
    const name = names.length === 2 && names[0] === 'pg_catalog' ? names[1] : names.join('.');
    const at = { location: body.location };
    if (body.agg_star || body.agg_distinct || body.agg_order || body.agg_filter || body.over || body.agg_within_group || body.func_variadic) {
      throw this.error(`aggregate, window and VARIADIC syntax is not allowed in a condition: "${name}"`, node, true);
    }
    const spec = FUNCTIONS.get(name);
    if (!spec) throw this.error(`unsupported function "${name}"`, at);
    const argNodes = (body.args as unknown[] | undefined) ?? [];
    for (const a of argNodes) if (nodeOf(a)[0] === 'NamedArgExpr') throw this.error('named arguments are not supported', a);
    const min = spec.params.length - (spec.optional ?? 0);
    const max = spec.variadic ? Infinity : spec.params.length;
    if (argNodes.length < min || argNodes.length > max) {
      const expected = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
      throw this.error(`function ${name}() takes ${expected} argument${expected === '1' ? '' : 's'}, not ${argNodes.length}`, at);
    }
    const compiled = argNodes.map((n) => this.compile(n, depth));
    if (name === 'substring' && compiled.slice(1).some((e) => e.kind === 'text' || e.kind === 'unknown')) {
      throw this.error('substring with a regular expression (FROM pattern) is not supported', node, true);
    }
    const args = compiled.map((e, i) => this.expect(e, spec.params[i] ?? spec.variadic!, `argument ${i + 1} of ${name}()`));
    const num = spec.num === 'arg' ? args[0]?.num ?? 'dynamic' : spec.num;
    return this.derived(callClosure(spec.impl, args.map((e) => e.ev), spec.strict !== false), spec.result, node, args, num);
  }
}

