// Numbers: JavaScript numbers (int2/int4/float columns, safe int8) and decimal strings (numeric
// and big int8 columns, numeric literals such as 1.5). Comparisons are exact for both: a decimal
// string is compared digit by digit when a double could not tell it apart from its neighbours.
// Arithmetic is done in double precision.
//
// PostgreSQL facts followed here: numeric and float8 order NaN above every other value and equal
// to itself; numeric rounds half away from zero, float8 (rint) half to even; casting numeric to an
// integer rounds, casting text to an integer accepts only an integer.

import { fail } from './errors.ts';

const PLAIN = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;
const EXPONENT = /^([+-]?)(\d*)(?:\.(\d*))?[eE]([+-]?\d+)$/;
const SPECIAL = /^([+-]?)(?:(nan)|inf(?:inity)?)$/i;
const INTEGER = /^[+-]?\d+$/;

/** A number in decimal text: a plain decimal string, or a number for NaN and ±Infinity; undefined if the text is not a number. */
export function parseNumeric(text: string): number | string | undefined {
  if (PLAIN.test(text)) return text.charCodeAt(0) === 43 /* + */ ? text.slice(1) : text;
  const t = text.trim();
  if (t !== text) return t === '' ? undefined : parseNumeric(t);
  const special = SPECIAL.exec(t);
  if (special) return special[2] ? NaN : special[1] === '-' ? -Infinity : Infinity;
  const exp = EXPONENT.exec(t);
  if (exp && (exp[2] !== '' || (exp[3] ?? '') !== '')) return expand(exp[1] === '-', exp[2], exp[3] ?? '', Number(exp[4]));
  return undefined;
}

/** Like parseNumeric, for input that must be an integer (PostgreSQL's integer types). */
export function parseIntegerText(text: string): string | undefined {
  const t = text.trim();
  return INTEGER.test(t) ? (t.charCodeAt(0) === 43 ? t.slice(1) : t) : undefined;
}

/** digits × 10^exponent as a plain decimal string. */
function expand(negative: boolean, int: string, frac: string, exponent: number): number | string {
  // A numeric this large or small is beyond what a condition meaningfully compares: keep it as a double.
  if (Math.abs(exponent) > 1000) return Number(`${negative ? '-' : ''}${int || '0'}.${frac || '0'}e${exponent}`);
  const digits = int + frac;
  const point = int.length + exponent;
  let text: string;
  if (point <= 0) text = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) text = digits + '0'.repeat(point - digits.length);
  else text = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return negative ? `-${text}` : text;
}

/** A number's exact decimal text (its shortest round-trip form, as PostgreSQL prints a float8). */
export function decimalOf(v: number | string): string {
  if (typeof v === 'string') return v;
  const s = String(v);
  if (s.indexOf('e') < 0) return s;
  const parsed = parseNumeric(s);
  return typeof parsed === 'string' ? parsed : s;
}

export function toDouble(v: number | string): number {
  return typeof v === 'number' ? v : Number(v);
}

/** Compare two doubles, NaN above everything and equal to itself. */
export function compareDoubles(x: number, y: number): -1 | 0 | 1 {
  if (x < y) return -1;
  if (x > y) return 1;
  if (x === y) return 0;
  const xNaN = x !== x;
  const yNaN = y !== y;
  return xNaN === yNaN ? 0 : xNaN ? 1 : -1;
}

/** Compare two numbers exactly. Strings must come from parseNumeric (plain decimals). */
export function compareNumeric(a: number | string, b: number | string): -1 | 0 | 1 {
  // A decimal of at most 15 significant digits converts to the one double nearest it, and distinct
  // such decimals to distinct doubles; a string of at most 15 characters has at most 15 digits.
  if (typeof a === 'number' || a.length <= 15) {
    if (typeof b === 'number' || b.length <= 15) return compareDoubles(toDouble(a), toDouble(b));
  }
  if (typeof a === 'number' && !Number.isFinite(a)) return compareDoubles(a, Number(b));
  if (typeof b === 'number' && !Number.isFinite(b)) return compareDoubles(Number(a), b);
  return compareDecimals(decimalOf(a), decimalOf(b));
}

interface Decimal {
  readonly sign: -1 | 0 | 1;
  /** Integer digits without leading zeros, fraction digits without trailing zeros. */
  readonly int: string;
  readonly frac: string;
}

function splitDecimal(text: string): Decimal {
  const negative = text.charCodeAt(0) === 45; /* - */
  const body = negative || text.charCodeAt(0) === 43 ? text.slice(1) : text;
  const dot = body.indexOf('.');
  let int = dot < 0 ? body : body.slice(0, dot);
  let frac = dot < 0 ? '' : body.slice(dot + 1);
  let i = 0;
  while (i < int.length && int.charCodeAt(i) === 48) i++;
  int = int.slice(i);
  let j = frac.length;
  while (j > 0 && frac.charCodeAt(j - 1) === 48) j--;
  frac = frac.slice(0, j);
  const sign = int === '' && frac === '' ? 0 : negative ? -1 : 1;
  return { sign, int, frac };
}

function compareDecimals(a: string, b: string): -1 | 0 | 1 {
  const x = splitDecimal(a);
  const y = splitDecimal(b);
  if (x.sign !== y.sign) return x.sign < y.sign ? -1 : 1;
  if (x.sign === 0) return 0;
  let magnitude: number;
  if (x.int.length !== y.int.length) magnitude = x.int.length < y.int.length ? -1 : 1;
  else if (x.int !== y.int) magnitude = x.int < y.int ? -1 : 1;
  else if (x.frac !== y.frac) magnitude = x.frac < y.frac ? -1 : 1;
  else magnitude = 0;
  return (magnitude * x.sign) as -1 | 0 | 1;
}

export type RoundMode = 'half-up' | 'trunc' | 'floor' | 'ceil';

/**
 * A decimal rounded to `scale` fraction digits (negative: to tens, hundreds...), as numeric's
 * round/trunc/floor/ceil do: the result has exactly max(scale, 0) fraction digits.
 */
export function roundDecimal(value: number | string, scale: number, mode: RoundMode): string {
  const text = decimalOf(value);
  const { sign, int, frac } = splitDecimal(text);
  const digits = int + frac;
  const keep = int.length + scale;
  const kept = keep <= 0 ? '' : digits.slice(0, keep).padEnd(keep, '0');
  const dropped = keep >= digits.length ? '' : digits.slice(Math.max(keep, 0));
  const droppedNonZero = /[1-9]/.test(dropped);
  let up: boolean;
  switch (mode) {
    case 'half-up':
      up = keep >= 0 && dropped.charCodeAt(0) >= 53; /* 5 */
      break;
    case 'trunc':
      up = false;
      break;
    case 'floor':
      up = sign < 0 && droppedNonZero;
      break;
    case 'ceil':
      up = sign > 0 && droppedNonZero;
      break;
  }
  let units = kept === '' ? '0' : kept;
  if (up) units = increment(units);
  const fracDigits = Math.max(scale, 0);
  let body: string;
  if (fracDigits === 0) body = units + (scale < 0 && units !== '0' ? '0'.repeat(-scale) : '');
  else {
    const padded = units.padStart(fracDigits + 1, '0');
    body = `${padded.slice(0, padded.length - fracDigits)}.${padded.slice(padded.length - fracDigits)}`;
  }
  body = body.replace(/^0+(?=\d)/, '');
  const zero = !/[1-9]/.test(body);
  return sign < 0 && !zero ? `-${body}` : body;
}

function increment(digits: string): string {
  const out = digits.split('');
  let i = out.length - 1;
  while (i >= 0 && out[i] === '9') out[i--] = '0';
  if (i < 0) return `1${out.join('')}`;
  out[i] = String.fromCharCode(out[i].charCodeAt(0) + 1);
  return out.join('');
}

/** Round half to even, as float8's rint and casts from float8 to integers do. */
export function rint(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function negate(v: number | string): number | string {
  if (typeof v === 'number') return v === 0 ? 0 : -v;
  if (v.charCodeAt(0) === 45) return v.slice(1);
  return /^[0.]*$/.test(v) ? v : `-${v}`;
}

export function absolute(v: number | string): number | string {
  if (typeof v === 'number') return Math.abs(v);
  return v.charCodeAt(0) === 45 ? v.slice(1) : v;
}

const INTEGER_RANGES = {
  2: { min: -32768, max: 32767, name: 'smallint' },
  4: { min: -2147483648, max: 2147483647, name: 'integer' },
  8: { min: '-9223372036854775808', max: '9223372036854775807', name: 'bigint' },
} as const;

/**
 * A number cast to an integer type: floats round half to even, decimals half away from zero.
 * int8 beyond 2^53 stays a decimal string, as it arrives in rows.
 */
export function toInteger(v: number | string, bytes: 2 | 4 | 8): number | string {
  const range = INTEGER_RANGES[bytes];
  let result: number | string;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) fail(`cannot convert ${String(v)} to ${range.name}`);
    result = Number.isInteger(v) ? v : rint(v);
    if (!Number.isSafeInteger(result)) result = decimalOf(result);
  } else {
    const rounded = roundDecimal(v, 0, 'half-up');
    const n = Number(rounded);
    result = Number.isSafeInteger(n) ? n : rounded;
  }
  if (compareNumeric(result, range.min) < 0 || compareNumeric(result, range.max) > 0) fail(`${range.name} out of range`);
  return result;
}

/** numeric(precision, scale): rounds to the scale, and the integer part must fit. */
export function toNumericTypmod(v: number | string, precision: number, scale: number): number | string {
  if (typeof v === 'number' && !Number.isFinite(v)) {
    if (v !== v) return v;
    fail(`numeric field overflow: a field with precision ${precision}, scale ${scale} cannot hold an infinite value`);
  }
  const rounded = roundDecimal(v, scale, 'half-up');
  const { int } = splitDecimal(rounded);
  if (int.length > precision - scale) {
    fail(`numeric field overflow: a field with precision ${precision}, scale ${scale} must round to an absolute value less than 10^${precision - scale}`);
  }
  return rounded;
}
