// Ordering of two non-null values. When the compiler knows the values' family (a cast, a number
// literal, a function's result) both sides are converted to it first; between two columns, or a
// column and a string literal, the family is read from the JavaScript values at run time.

import { parseBool, toBool, toNumber } from './convert.ts';
import { fail, quote } from './errors.ts';
import { compareJson, parseJson } from './json.ts';
import { compareDoubles, compareNumeric, parseNumeric } from './numeric.ts';
import { compareText } from './text.ts';
import type { Domain, Value } from './values.ts';

export type Compare = (a: Value, b: Value) => -1 | 0 | 1;

function compareBools(a: boolean, b: boolean): -1 | 0 | 1 {
  return a === b ? 0 : a ? 1 : -1;
}

export const COMPARE: Readonly<Record<Domain, Compare>> = {
  number: (a, b) => compareNumeric(a as number | string, b as number | string),
  text: (a, b) => compareText(a as string, b as string),
  bool: (a, b) => compareBools(a as boolean, b as boolean),
  json: (a, b) => compareJson(a, b),
  time: (a, b) => compareDoubles(a as number, b as number),
};

/**
 * Two column values: strings compare as text, a number with a number or a numeric string
 * numerically, booleans as booleans (false < true), and JSON values (objects, arrays) as jsonb.
 */
export function compareDynamic(a: Value, b: Value): -1 | 0 | 1 {
  const ta = typeof a;
  const tb = typeof b;
  if (ta === 'string' && tb === 'string') return compareText(a as string, b as string);
  if (ta === 'object' || tb === 'object') return compareJson(a, b);
  if (ta === 'number' || tb === 'number') return compareNumeric(toNumber(a, 'any'), toNumber(b, 'any'));
  return compareBools(toBool(a, 'any'), toBool(b, 'any'));
}

/**
 * A column value and a string literal: the literal takes the column value's type, as an untyped
 * literal does in PostgreSQL ('5' with a number is 5, 't' with a boolean is true, '{"a":1}' with
 * json is that object). The literal's readings are computed once.
 */
export function literalComparator(literalOnLeft: boolean): Compare {
  let literal: string | undefined;
  let number: number | string | undefined;
  let bool: boolean | undefined;
  let json: Value | undefined;
  const against = (a: Value, lit: string): -1 | 0 | 1 => {
    if (lit !== literal) {
      literal = lit;
      number = undefined;
      bool = undefined;
      json = undefined;
    }
    switch (typeof a) {
      case 'string':
        return compareText(a, lit);
      case 'number':
        number ??= parseNumeric(lit) ?? fail(`invalid input syntax for type numeric: ${quote(lit)}`);
        return compareNumeric(a, number);
      case 'boolean':
        bool ??= parseBool(lit) ?? fail(`invalid input syntax for type boolean: ${quote(lit)}`);
        return compareBools(a, bool);
      default:
        json ??= parseJson(lit);
        return compareJson(a, json);
    }
  };
  return literalOnLeft ? (a, b) => (-against(b, a as string) || 0) as -1 | 0 | 1 : (a, b) => against(a, b as string);
}
