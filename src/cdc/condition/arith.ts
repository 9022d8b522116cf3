// Arithmetic on numbers (see numeric.ts for how numbers are held). Sums, differences, products
// and remainders of decimal strings are exact, as numeric's are in PostgreSQL (0.1 + 0.2 = 0.3),
// with numeric's result scale (a sum has the larger scale, a product the sum of the scales);
// integers whose result leaves the safe range are computed exactly too. Everything else,
// including division of decimals and ^, is done in double precision.
//
// Integer division truncates toward zero, as int / int does in PostgreSQL; `integerDivision` says
// whether the operands' types allow it, and it applies when both values are integers.

import { fail } from './errors.ts';
import { decimalOf, toDouble } from './numeric.ts';

type Num = number | string;

function checked(result: number, x: Num, y: Num): number {
  if (result === Infinity || result === -Infinity) {
    if (Number.isFinite(toDouble(x)) && Number.isFinite(toDouble(y))) fail('value out of range: overflow');
  }
  return result;
}

/** Whether x op y is done exactly: a decimal string with a decimal string or an integer. */
function exact(x: Num, y: Num): boolean {
  if (typeof x === 'number' && typeof y === 'number') return false;
  return (typeof x === 'string' || Number.isInteger(x)) && (typeof y === 'string' || Number.isInteger(y));
}

function scaled(v: Num): [bigint, number] {
  const s = decimalOf(v);
  const negative = s.charCodeAt(0) === 45;
  const body = negative ? s.slice(1) : s;
  const dot = body.indexOf('.');
  const frac = dot < 0 ? '' : body.slice(dot + 1);
  const m = BigInt((dot < 0 ? body : body.slice(0, dot)) + frac || '0');
  return [negative ? -m : m, frac.length];
}

function align(x: Num, y: Num): [bigint, bigint, number] {
  const [a, sa] = scaled(x);
  const [b, sb] = scaled(y);
  const scale = Math.max(sa, sb);
  return [a * 10n ** BigInt(scale - sa), b * 10n ** BigInt(scale - sb), scale];
}

function unscaled(m: bigint, scale: number): Num {
  const negative = m < 0n;
  let digits = (negative ? -m : m).toString();
  if (scale > 0) {
    digits = digits.padStart(scale + 1, '0');
    digits = `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  }
  return negative ? `-${digits}` : digits;
}

function bothIntegers(x: Num, y: Num): x is number {
  return typeof x === 'number' && typeof y === 'number' && Number.isInteger(x) && Number.isInteger(y);
}

export function add(x: Num, y: Num): Num {
  if (bothIntegers(x, y) && !Number.isSafeInteger(x + (y as number))) return unscaled(BigInt(x) + BigInt(y as number), 0);
  if (!exact(x, y)) return checked(toDouble(x) + toDouble(y), x, y);
  const [a, b, scale] = align(x, y);
  return unscaled(a + b, scale);
}

export function subtract(x: Num, y: Num): Num {
  if (bothIntegers(x, y) && !Number.isSafeInteger(x - (y as number))) return unscaled(BigInt(x) - BigInt(y as number), 0);
  if (!exact(x, y)) return checked(toDouble(x) - toDouble(y), x, y);
  const [a, b, scale] = align(x, y);
  return unscaled(a - b, scale);
}

export function multiply(x: Num, y: Num): Num {
  if (bothIntegers(x, y) && !Number.isSafeInteger(x * (y as number))) return unscaled(BigInt(x) * BigInt(y as number), 0);
  if (!exact(x, y)) return checked(toDouble(x) * toDouble(y), x, y);
  const [a, sa] = scaled(x);
  const [b, sb] = scaled(y);
  return unscaled(a * b, sa + sb);
}

export function divide(x: Num, y: Num, integerDivision: boolean): Num {
  const d = toDouble(y);
  if (d === 0) fail('division by zero');
  if (integerDivision && bothIntegers(x, y)) return Math.trunc(x / d) || 0;
  return checked(toDouble(x) / d, x, y);
}

export function modulo(x: Num, y: Num): Num {
  if (toDouble(y) === 0) fail('division by zero');
  if (bothIntegers(x, y)) return x % (y as number) || 0;
  if (!exact(x, y)) return toDouble(x) % toDouble(y);
  const [a, b, scale] = align(x, y);
  return unscaled(a % b, scale);
}

export function power(x: Num, y: Num): number {
  const a = toDouble(x);
  const b = toDouble(y);
  if (a === 0 && b < 0) fail('zero raised to a negative power is undefined');
  if (a < 0 && !Number.isInteger(b)) fail('a negative number raised to a non-integer power yields a complex result');
  return checked(a ** b, x, y);
}
