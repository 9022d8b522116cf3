// The functions a condition may call. Each is pure and deterministic: nothing that reads the
// clock, the session or the database. Arguments arrive converted to the parameter kinds (text as
// strings, numbers as in numeric.ts, json as parsed values), never NULL for strict functions.

import { modulo, power } from './arith.ts';
import { fail } from './errors.ts';
import { jsonArrayLength, jsonTypeof } from './json.ts';
import { absolute, compareNumeric, rint, roundDecimal, toDouble } from './numeric.ts';
import { charLength, charPosition, charSlice } from './text.ts';
import type { Kind, Value } from './values.ts';

/** Integer-ness of a number result, for / and % (see arith.ts); 'arg' = that of the first argument. */
export type NumType = 'int' | 'numeric' | 'float' | 'dynamic';

export interface FunctionSpec {
  /** Parameter kinds; the last `optional` of them may be left out. */
  readonly params: readonly Kind[];
  readonly optional?: number;
  /** Kind of any further arguments (concat). */
  readonly variadic?: Kind;
  readonly result: Kind;
  readonly num?: NumType | 'arg';
  /** Non-strict functions see NULL arguments; strict ones return NULL for any. */
  readonly strict?: false;
  readonly impl: (...args: any[]) => Value;
}

type Num = number | string;

/** An integer argument (a count, a position): numeric rounds half away from zero when made an int. */
function intArg(v: Num): number {
  const d = toDouble(v);
  if (!Number.isFinite(d) || Math.abs(d) > 2147483647) fail('integer out of range');
  return Math.sign(d) * Math.round(Math.abs(d));
}

function substr(s: string, start: Num, count?: Num): string {
  const from = intArg(start);
  if (count === undefined) return charSlice(s, from - 1, Infinity);
  const n = intArg(count);
  if (n < 0) fail('negative substring length not allowed');
  return charSlice(s, Math.max(from, 1) - 1, from + n - 1);
}

function left(s: string, n: Num): string {
  const k = intArg(n);
  return charSlice(s, 0, k >= 0 ? k : charLength(s) + k);
}

function right(s: string, n: Num): string {
  const k = intArg(n);
  const len = charLength(s);
  return charSlice(s, k >= 0 ? len - k : -k, len);
}

/** btrim/ltrim/rtrim: removes the characters in `chars` (default: spaces only, not other whitespace). */
function trimmer(fromStart: boolean, fromEnd: boolean) {
  return (s: string, chars = ' '): string => {
    if (chars === ' ') {
      let i = 0;
      let j = s.length;
      if (fromStart) while (i < j && s.charCodeAt(i) === 32) i++;
      if (fromEnd) while (j > i && s.charCodeAt(j - 1) === 32) j--;
      return s.slice(i, j);
    }
    const set = new Set(Array.from(chars));
    const cps = Array.from(s);
    let i = 0;
    let j = cps.length;
    if (fromStart) while (i < j && set.has(cps[i])) i++;
    if (fromEnd) while (j > i && set.has(cps[j - 1])) j--;
    return i === 0 && j === cps.length ? s : cps.slice(i, j).join('');
  };
}

function splitPart(s: string, delimiter: string, field: Num): string {
  const n = intArg(field);
  if (n === 0) fail('field position must not be zero');
  if (delimiter === '') return n === 1 || n === -1 ? s : '';
  const parts = s.split(delimiter);
  return parts[n > 0 ? n - 1 : parts.length + n] ?? '';
}

// round(x) of a float rounds half to even; of a numeric (a decimal string), half away from zero.
function round(x: Num, scale?: Num): Num {
  if (scale !== undefined) return roundDecimal(x, intArg(scale), 'half-up');
  return typeof x === 'number' ? rint(x) : roundDecimal(x, 0, 'half-up');
}

function trunc(x: Num, scale?: Num): Num {
  if (scale !== undefined) return roundDecimal(x, intArg(scale), 'trunc');
  return typeof x === 'number' ? Math.trunc(x) || 0 : roundDecimal(x, 0, 'trunc');
}

function floor(x: Num): Num {
  return typeof x === 'number' ? Math.floor(x) : roundDecimal(x, 0, 'floor');
}

function ceil(x: Num): Num {
  return typeof x === 'number' ? Math.ceil(x) || 0 : roundDecimal(x, 0, 'ceil');
}

function sign(x: Num): number {
  if (typeof x === 'number') return Math.sign(x) || 0;
  return compareNumeric(x, 0);
}

function sqrt(x: Num): number {
  const d = toDouble(x);
  if (d < 0) fail('cannot take square root of a negative number');
  return Math.sqrt(d);
}

const replace = (s: string, from: string, to: string): string => (from === '' ? s : s.split(from).join(to));

// concat skips NULL arguments (it is not strict); concat_ws also skips them, but not a NULL separator.
function concat(...parts: Array<string | null>): string {
  let out = '';
  for (const p of parts) if (p !== null) out += p;
  return out;
}

function concatWs(separator: string | null, ...parts: Array<string | null>): string | null {
  if (separator === null) return null;
  return parts.filter((p) => p !== null).join(separator);
}

const trim = trimmer(true, true);
const textToText = (impl: (s: string) => string): FunctionSpec => ({ params: ['text'], result: 'text', impl });
const numToNum = (impl: (x: Num) => Value): FunctionSpec => ({ params: ['number'], result: 'number', num: 'arg', impl });

export const FUNCTIONS: ReadonlyMap<string, FunctionSpec> = new Map<string, FunctionSpec>([
  ['lower', textToText((s) => s.toLowerCase())],
  ['upper', textToText((s) => s.toUpperCase())],
  ['length', { params: ['text'], result: 'number', num: 'int', impl: charLength }],
  ['char_length', { params: ['text'], result: 'number', num: 'int', impl: charLength }],
  ['character_length', { params: ['text'], result: 'number', num: 'int', impl: charLength }],
  ['octet_length', { params: ['text'], result: 'number', num: 'int', impl: (s: string) => Buffer.byteLength(s, 'utf8') }],
  ['btrim', { params: ['text', 'text'], optional: 1, result: 'text', impl: trim }],
  ['trim', { params: ['text', 'text'], optional: 1, result: 'text', impl: trim }],
  ['ltrim', { params: ['text', 'text'], optional: 1, result: 'text', impl: trimmer(true, false) }],
  ['rtrim', { params: ['text', 'text'], optional: 1, result: 'text', impl: trimmer(false, true) }],
  ['substr', { params: ['text', 'number', 'number'], optional: 1, result: 'text', impl: substr }],
  ['substring', { params: ['text', 'number', 'number'], optional: 1, result: 'text', impl: substr }],
  ['left', { params: ['text', 'number'], result: 'text', impl: left }],
  ['right', { params: ['text', 'number'], result: 'text', impl: right }],
  ['strpos', { params: ['text', 'text'], result: 'number', num: 'int', impl: charPosition }],
  // position(sub IN s) reaches here as position(s, sub), the argument order of strpos.
  ['position', { params: ['text', 'text'], result: 'number', num: 'int', impl: charPosition }],
  ['replace', { params: ['text', 'text', 'text'], result: 'text', impl: replace }],
  ['concat', { params: [], variadic: 'text', result: 'text', strict: false, impl: concat }],
  ['concat_ws', { params: ['text'], variadic: 'text', result: 'text', strict: false, impl: concatWs }],
  ['starts_with', { params: ['text', 'text'], result: 'bool', impl: (s: string, p: string) => s.startsWith(p) }],
  ['split_part', { params: ['text', 'text', 'number'], result: 'text', impl: splitPart }],
  ['abs', numToNum(absolute)],
  ['round', { params: ['number', 'number'], optional: 1, result: 'number', num: 'arg', impl: round }],
  ['trunc', { params: ['number', 'number'], optional: 1, result: 'number', num: 'arg', impl: trunc }],
  ['floor', numToNum(floor)],
  ['ceil', numToNum(ceil)],
  ['ceiling', numToNum(ceil)],
  ['sign', numToNum(sign)],
  ['sqrt', { params: ['number'], result: 'number', num: 'float', impl: sqrt }],
  ['mod', { params: ['number', 'number'], result: 'number', num: 'arg', impl: modulo }],
  ['power', { params: ['number', 'number'], result: 'number', num: 'float', impl: power }],
  ['pow', { params: ['number', 'number'], result: 'number', num: 'float', impl: power }],
  ['jsonb_typeof', { params: ['json'], result: 'text', impl: jsonTypeof }],
  ['json_typeof', { params: ['json'], result: 'text', impl: jsonTypeof }],
  ['jsonb_array_length', { params: ['json'], result: 'number', num: 'int', impl: jsonArrayLength }],
  ['json_array_length', { params: ['json'], result: 'number', num: 'int', impl: jsonArrayLength }],
]);

