// Webhook subscription conditions: a SQL boolean expression over the changed row, such as
//
//   new.status = 'paid' AND old.status IS DISTINCT FROM 'paid' AND new.amount > 100
//
// parsed by PostgreSQL's own grammar (libpg-query) and compiled once into closures that are
// evaluated on every change event.
//
// Columns: `new.col` and `old.col` (quoted names too: new."Mixed Case"); a bare `col` means
// `new.col`. When the event has no new row (a delete) or no old row (an insert, or an update
// without REPLICA IDENTITY FULL, whose old row holds only the key), their columns are NULL, and so
// is a column the row does not have.
//
// Semantics are PostgreSQL's where they can be without the catalog:
// - Three-valued logic: the condition matches only when it is TRUE; NULL (unknown) does not match.
// - A column's type is not known ahead, so it is read from the value: a number compared with a
//   number literal or a numeric string ('12.50', as numeric and big int8 arrive) compares
//   numerically and exactly; two strings compare as text. A string literal takes the type of
//   what it is compared with ('5' with a number column is 5, 't' with a boolean is true).
//   So `new.amount > 10` is numeric, but `new.amount = '12.5'` is text: '12.50' <> '12.5'.
//   Cast to choose: `new.amount::numeric = 12.5`, `new.created_at::timestamptz > '2026-01-01'`.
// - Text compares by Unicode code point (the "C" collation): collations are not applied.
// - An unchanged TOASTed value ({ $unchanged: true }: not sent by pgoutput, content unknown) is
//   not NULL (IS NULL is false), but any comparison or function of it is unknown (NULL), so a
//   condition that depends on it does not match. `x IS DISTINCT FROM NULL` is still true.
// - Evaluation errors (a cast of 'abc' to int, division by zero, invalid JSON, comparing a number
//   with a string that is not one) make the condition not match that row; PostgreSQL would raise
//   them. `evaluate` reports them instead. Errors in parts without columns are compile errors.
// - Arithmetic on decimals is exact for + - * %, integer division truncates (7 / 2 = 3, and a
//   column holding an integer counts as an integer), the rest is double precision.
// - Timestamps are compared as instants once cast; the session time zone is taken as UTC.
//
// Supported: = <> != < <= > >=, AND OR NOT, [NOT] IN (list), [NOT] [I]LIKE with % _ and ESCAPE,
// IS [NOT] NULL, IS [NOT] TRUE/FALSE/UNKNOWN, IS [NOT] DISTINCT FROM, [NOT] BETWEEN [SYMMETRIC],
// CASE, COALESCE, NULLIF, GREATEST, LEAST, casts (:: and CAST) to text, varchar(n), smallint,
// integer, bigint, numeric(p,s), real, double precision, boolean, json, jsonb, date, timestamp,
// timestamptz; + - * / % ^ and unary -, ||; the functions in functions.ts; jsonb -> ->> #> #>>
// ? ?| ?& @> <@; array text ('{a,b}') with @> <@ &&.
//
// Rejected at compile time, with a message saying so: anything that reads the database, the
// session or the clock (subqueries, now(), current_user, $1 parameters), regular expressions
// (~, SIMILAR TO: PostgreSQL's dialect differs from JavaScript's), = ANY/ALL (array), intervals
// and date arithmetic, array subscripts and field selection, COLLATE, char(n), aggregates and
// window functions, and every function and type not listed above.

import { compileTree } from './compile.ts';
import { ConditionError, EvaluationError } from './errors.ts';
import { ensureParser, parseCondition, Source } from './source.ts';
import type { Ev, RowPair } from './values.ts';

export { ConditionError } from './errors.ts';
export { ensureParser, MAX_CONDITION_LENGTH } from './source.ts';
export { MAX_DEPTH } from './compile.ts';
export type { RowPair } from './values.ts';

export interface CompiledCondition {
  readonly source: string;
  /** Columns referenced, e.g. ['new.status', 'old.amount'], each once, in order of appearance; names unquoted. */
  readonly columns: readonly string[];
  /** Whether the condition is TRUE for the row; NULL (unknown) and evaluation errors are not. */
  matches(row: RowPair): boolean;
  /** The condition's value for the row: true, false or null (unknown); throws ConditionError on an evaluation error. */
  evaluate(row: RowPair): boolean | null;
}

class Condition implements CompiledCondition {
  constructor(
    readonly source: string,
    readonly columns: readonly string[],
    private readonly test: Ev,
  ) {}

  matches(row: RowPair): boolean {
    try {
      return this.test(row) === true;
    } catch {
      return false;
    }
  }

  evaluate(row: RowPair): boolean | null {
    let v;
    try {
      v = this.test(row);
    } catch (err) {
      if (err instanceof EvaluationError) throw new ConditionError(err.message);
      throw err;
    }
    return typeof v === 'boolean' ? v : null;
  }
}

/** Compiles a condition; libpg-query must be loaded (await ensureParser() once). Throws ConditionError. */
export function compileConditionSync(expr: string): CompiledCondition {
  if (typeof expr !== 'string') throw new ConditionError('the condition must be a string');
  const source = new Source(expr);
  const tree = parseCondition(source);
  let compiled;
  try {
    compiled = compileTree(tree, source);
  } catch (err) {
    // Recursion is bounded by MAX_DEPTH; this is a last guard, so that no input crashes the caller.
    if (err instanceof RangeError) throw new ConditionError('the condition is nested too deeply');
    throw err;
  }
  return Object.freeze(new Condition(expr, Object.freeze([...compiled.columns]), compiled.test));
}

/** Compiles a condition, loading libpg-query's WASM module the first time. Throws ConditionError. */
export async function compileCondition(expr: string): Promise<CompiledCondition> {
  await ensureParser();
  return compileConditionSync(expr);
}
