// Conversions of non-null values between kinds: the implicit ones a comparison or a function
// argument needs, and the explicit ones of a cast. They throw EvaluationError where PostgreSQL
// would raise an error ("invalid input syntax for type integer").

import { fail, quote } from './errors.ts';
import { jsonText, parseJson } from './json.ts';
import { decimalOf, parseNumeric } from './numeric.ts';
import { convertTime, formatTime, parseTime } from './time.ts';
import { describe, isTimeKind, type Kind, type TimeKind, type Value } from './values.ts';

export type Convert = (v: Value) => Value;

/** Text of a value of kind `from`, as `::text` prints it. */
export function toText(v: Value, from: Kind): string {
  if (from === 'json') return jsonText(v);
  switch (typeof v) {
    case 'string':
      return v;
    case 'number':
      return isTimeKind(from) ? formatTime(v, from) : decimalOf(v);
    case 'boolean':
      return v ? 'true' : 'false';
    default:
      return jsonText(v);
  }
}

/** A value as a number; booleans only in a cast (`true::int` is 1, `true = 1` is an error). */
export function toNumber(v: Value, from: Kind, explicit = false): number | string {
  if (typeof v === 'number' && !isTimeKind(from)) return v;
  if (typeof v === 'string') {
    // A string in a json value is a JSON string, which PostgreSQL will not cast to a number.
    if (from === 'json') fail('cannot cast jsonb string to type numeric');
    const n = parseNumeric(v);
    if (n === undefined) fail(`invalid input syntax for type numeric: ${quote(v)}`);
    return n;
  }
  if (typeof v === 'boolean' && explicit && from !== 'json') return v ? 1 : 0;
  return fail(`cannot use ${describe(v)} as a number`);
}

/** PostgreSQL's boolean input: t/true/y/yes/on/1 and f/false/n/no/off/0, any case, or a unique prefix of a word. */
export function parseBool(text: string): boolean | undefined {
  const t = text.trim().toLowerCase();
  if (t === '') return undefined;
  if (t === '1') return true;
  if (t === '0') return false;
  if (t === 'o') return undefined;
  for (const word of ['true', 'yes', 'on']) if (word.startsWith(t)) return true;
  for (const word of ['false', 'no', 'off']) if (word.startsWith(t)) return false;
  return undefined;
}

/** A value as a boolean; integers only in a cast (`1::boolean` is true, `true = 1` is an error). */
export function toBool(v: Value, from: Kind, explicit = false): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && from !== 'json') {
    const b = parseBool(v);
    if (b === undefined) fail(`invalid input syntax for type boolean: ${quote(v)}`);
    return b;
  }
  if (typeof v === 'number' && explicit && Number.isInteger(v) && from !== 'json') return v !== 0;
  return fail(`cannot use ${describe(v)} as a boolean`);
}

/**
 * A value as json. Strings from text (a cast, a literal) are JSON text to parse; a string in a
 * column is a value already parsed from json unless `parseColumnText` (an explicit cast).
 */
export function toJson(v: Value, from: Kind, parseColumnText: boolean): Value {
  if (typeof v === 'string' && (from === 'text' || from === 'unknown' || (from === 'any' && parseColumnText))) return parseJson(v);
  if (typeof v === 'number' && isTimeKind(from)) return formatTime(v, from);
  return v;
}

export function toTime(v: Value, from: Kind, to: TimeKind): number {
  if (typeof v === 'number' && isTimeKind(from)) return convertTime(v, to);
  if (typeof v === 'string') return convertTime(parseTime(v, to), to);
  return fail(`cannot use ${describe(v)} as a ${to}`);
}

/** The implicit conversion of a value of kind `from` to kind `to`. */
export function implicitConversion(from: Kind, to: Kind): Convert {
  switch (to) {
    case 'text':
      return (v) => toText(v, from);
    case 'number':
      return (v) => toNumber(v, from);
    case 'bool':
      return (v) => toBool(v, from);
    case 'json':
      return (v) => toJson(v, from, false);
    case 'date':
    case 'timestamp':
    case 'timestamptz':
      return (v) => toTime(v, from, to);
    default:
      return (v) => v;
  }
}

