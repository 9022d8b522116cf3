// Values as the evaluator sees them, and the static kinds the compiler tracks.
//
// A value is SQL NULL (null), a boolean, a number, a string, a parsed JSON object or array, or
// one of two sentinels: UNCHANGED (a column whose content is unknown) and JSON_NULL (a JSON null
// taken out of a json value by -> or #>, which unlike SQL NULL is a value: `j -> 'k' IS NULL` is
// false when j = {"k": null}). Inside JSON objects and arrays a JSON null stays a plain null.

export type Value = null | boolean | number | string | object;

export type Row = Readonly<Record<string, unknown>>;

export interface RowPair {
  readonly new: Row | null | undefined;
  readonly old: Row | null | undefined;
  /**
   * Optional: the columns of `new` that are unchanged TOASTed values (ChangeEvent.unchanged).
   * When given, an object { $unchanged: true } in another column is taken as real jsonb data.
   */
  readonly unchanged?: readonly string[];
}

export type Ev = (row: RowPair) => Value;

/**
 * An unchanged TOASTed value: not NULL, content unknown. Comparisons and functions of it are
 * unknown; `IS NULL` on it is false. Row cells of the shape { $unchanged: true } become this.
 */
export const UNCHANGED: object = Object.freeze({ $unchanged: true });

/** A JSON null as a value of its own (see above). */
export const JSON_NULL: object = Object.freeze({ $jsonNull: true });

/**
 * What the compiler knows about a value's type. `any` is a column: its type is seen only at run
 * time, from the JavaScript value. `unknown` is a string literal, whose type PostgreSQL infers
 * from where it is used ('5' compared with a number is a number) and so does the compiler.
 * Values of the time kinds are microseconds since 1970-01-01 00:00 UTC.
 */
export type Kind = 'any' | 'unknown' | 'bool' | 'number' | 'text' | 'json' | 'date' | 'timestamp' | 'timestamptz';

export type TimeKind = 'date' | 'timestamp' | 'timestamptz';

/** The comparison family of a kind: kinds of one family compare with each other. */
export type Domain = 'bool' | 'number' | 'text' | 'json' | 'time';

export function domainOf(kind: Kind): Domain | undefined {
  switch (kind) {
    case 'date':
    case 'timestamp':
    case 'timestamptz':
      return 'time';
    case 'any':
    case 'unknown':
      return undefined;
    default:
      return kind;
  }
}

export function isTimeKind(kind: Kind): kind is TimeKind {
  return kind === 'date' || kind === 'timestamp' || kind === 'timestamptz';
}

/** The kind's name in messages, as PostgreSQL names the type. */
export function kindName(kind: Kind): string {
  switch (kind) {
    case 'bool': return 'boolean';
    case 'number': return 'numeric';
    case 'json': return 'jsonb';
    case 'unknown': return 'unknown';
    case 'any': return 'a column value';
    default: return kind;
  }
}

/** Whether a value is a JSON container or JSON null (what json operators work on beyond scalars). */
export function isJsonObject(v: Value): v is object {
  return typeof v === 'object' && v !== null && v !== UNCHANGED;
}

/** For messages: what a run-time value is. */
export function describe(v: Value): string {
  if (v === null) return 'NULL';
  if (v === JSON_NULL) return 'a JSON null';
  if (Array.isArray(v)) return 'a JSON array';
  switch (typeof v) {
    case 'boolean': return 'a boolean';
    case 'number': return 'a number';
    case 'string': return 'a string';
    default: return 'a JSON object';
  }
}
