// Casts (:: and CAST): the target types a condition may name, and how values convert to them.

import { toBool, toJson, toNumber, toText, toTime, type Convert } from './convert.ts';
import { fail, quote } from './errors.ts';
import type { NumType } from './functions.ts';
import { decimalOf, parseIntegerText, parseNumeric, toDouble, toInteger, toNumericTypmod } from './numeric.ts';
import { charSlice } from './text.ts';
import { roundTime } from './time.ts';
import type { Kind, TimeKind, Value } from './values.ts';

export interface CastTarget {
  readonly kind: Kind;
  readonly num?: NumType;
  readonly convert: (from: Kind) => Convert;
}

const INTEGER_TYPES: Readonly<Record<string, 2 | 4 | 8>> = { int2: 2, smallint: 2, int4: 4, int: 4, integer: 4, int8: 8, bigint: 8 };
const INTEGER_NAMES = { 2: 'smallint', 4: 'integer', 8: 'bigint' } as const;

/**
 * A value cast to an integer type, before rounding and range checks: text must be an integer, as
 * integer input requires; a column's string may be a numeric ('12.50'), which the cast rounds.
 */
function integerInput(v: Value, from: Kind, type: string): number | string {
  if (typeof v !== 'string' || from === 'json') return toNumber(v, from, true);
  const n = from === 'any' ? parseNumeric(v) : parseIntegerText(v);
  if (n === undefined) fail(`invalid input syntax for type ${type}: ${quote(v)}`);
  return n;
}

/** The cast to a type named `names` with modifiers `typmods`, or the message saying why there is none. */
export function castTarget(names: readonly string[], typmods: readonly number[]): CastTarget | string {
  const plain = names[0] === 'pg_catalog' ? names.slice(1) : names;
  const shown = plain.join('.');
  if (plain.length !== 1) return `unsupported type "${shown}"`;
  const name = plain[0];
  const noTypmods = (target: CastTarget): CastTarget | string => (typmods.length > 0 ? `type modifiers are not supported for type "${shown}"` : target);
  const bytes = INTEGER_TYPES[name];
  if (bytes) {
    return noTypmods({
      kind: 'number',
      num: 'int',
      convert: (from) => (v) => toInteger(integerInput(v, from, INTEGER_NAMES[bytes]), bytes),
    });
  }
  switch (name) {
    case 'text':
      return noTypmods({ kind: 'text', convert: (from) => (v) => toText(v, from) });
    case 'varchar': {
      if (typmods.length > 1) return `invalid type modifier for type "${shown}"`;
      const length = typmods[0];
      // An explicit cast to varchar(n) truncates to n characters.
      return {
        kind: 'text',
        convert: (from) => (length === undefined ? (v) => toText(v, from) : (v) => charSlice(toText(v, from), 0, length)),
      };
    }
    case 'numeric':
    case 'decimal': {
      if (typmods.length > 2 || (typmods.length > 0 && (typmods[0] < 1 || typmods[0] > 1000))) return `invalid type modifier for type "${shown}"`;
      const [precision, scale = 0] = typmods;
      return {
        kind: 'number',
        num: 'numeric',
        convert: (from) => (v) => {
          const n = toNumber(v, from, true);
          if (precision !== undefined) return toNumericTypmod(n, precision, scale);
          // A numeric is a decimal string here, so that 7::numeric / 2 divides as numeric does.
          return typeof n === 'number' && Number.isFinite(n) ? decimalOf(n) : n;
        },
      };
    }
    case 'float4':
    case 'real':
      return noTypmods({ kind: 'number', num: 'float', convert: (from) => (v) => Math.fround(toDouble(toNumber(v, from, true))) });
    case 'float8':
    case 'float':
      return noTypmods({ kind: 'number', num: 'float', convert: (from) => (v) => toDouble(toNumber(v, from, true)) });
    case 'bool':
    case 'boolean':
      return noTypmods({ kind: 'bool', convert: (from) => (v) => toBool(v, from, true) });
    case 'json':
    case 'jsonb':
      return noTypmods({ kind: 'json', convert: (from) => (v) => toJson(v, from, true) });
    case 'date':
      return noTypmods({ kind: 'date', convert: (from) => (v) => toTime(v, from, 'date') });
    case 'timestamp':
    case 'timestamptz': {
      const kind: TimeKind = name;
      if (typmods.length > 1 || (typmods.length === 1 && (typmods[0] < 0 || typmods[0] > 6))) return `invalid type modifier for type "${shown}"`;
      const precision = typmods[0] ?? 6;
      return { kind, convert: (from) => (v) => roundTime(toTime(v, from, kind), precision) };
    }
    default:
      return `unsupported type "${shown}"`;
  }
}
