// Text: comparison by Unicode code point (the "C" collation; no locale collation is applied),
// character (code point) counting as PostgreSQL's length() does, and LIKE patterns.

import { fail } from './errors.ts';

const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * Compare strings by code point. JavaScript's < compares UTF-16 code units, which orders U+E000..U+FFFF
 * above astral characters; shifting the first differing unit puts surrogates above the rest of the BMP.
 */
export function compareText(a: string, b: string): -1 | 0 | 1 {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return fixup(x) < fixup(y) ? -1 : 1;
  }
  return a.length < b.length ? -1 : 1;
}

function fixup(unit: number): number {
  return unit >= 0xe000 ? unit - 0x800 : unit >= 0xd800 ? unit + 0x2000 : unit;
}

/** The number of characters (code points), as length() counts them. */
export function charLength(s: string): number {
  if (!SURROGATE.test(s)) return s.length;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff) n++;
  }
  return n;
}

/** Characters [start, end) of s, counted from 0 in code points; end may exceed the length. */
export function charSlice(s: string, start: number, end: number): string {
  if (!SURROGATE.test(s)) return s.slice(Math.max(start, 0), Math.max(end, 0));
  return Array.from(s).slice(Math.max(start, 0), Math.max(end, 0)).join('');
}

/** The 1-based character position of `needle` in `s`, 0 if absent (strpos, position). */
export function charPosition(s: string, needle: string): number {
  const at = s.indexOf(needle);
  if (at < 0) return 0;
  return charLength(s.slice(0, at)) + 1;
}

export type Matcher = (s: string) => boolean;

/** A run of pattern characters between two %: each a character to equal, or null for _ (any one). */
type Segment = ReadonlyArray<string | null>;

/**
 * A LIKE / ILIKE pattern as a matcher: % is any run of characters, _ one character, and the escape
 * character (backslash unless ESCAPE says otherwise; ESCAPE '' has none) makes the next one literal.
 * The pattern matches the whole string. ILIKE compares the lower-cased strings.
 * Throws EvaluationError for the patterns PostgreSQL rejects.
 *
 * No regular expression: patterns come from users and run on every event, and a backtracking
 * engine takes exponential time on '%a%a%a%a%b'. Segments between % have a fixed length, so
 * placing each at its leftmost match is always right, and matching is O(pattern × string).
 */
export function likeMatcher(pattern: string, escape: string, insensitive: boolean): Matcher {
  if (charLength(escape) > 1) fail('invalid escape string: ESCAPE must be empty or one character');
  const chars = Array.from(insensitive ? pattern.toLowerCase() : pattern);
  const esc = insensitive ? escape.toLowerCase() : escape;
  const segments: Array<Array<string | null>> = [[]];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (esc !== '' && c === esc) {
      if (i + 1 >= chars.length) fail('LIKE pattern must not end with escape character');
      segments[segments.length - 1].push(chars[++i]);
    } else if (c === '%') {
      segments.push([]);
    } else {
      segments[segments.length - 1].push(c === '_' ? null : c);
    }
  }
  const match = segmentMatcher(segments);
  return insensitive ? (s) => match(s.toLowerCase()) : match;
}

function segmentMatcher(segments: readonly Segment[]): Matcher {
  const literal = (seg: Segment): string | undefined => (seg.includes(null) ? undefined : seg.join(''));
  if (segments.length === 1) {
    const only = segments[0];
    const text = literal(only);
    if (text !== undefined) return (s) => s === text;
    return (s) => {
      const cs = charsOf(s);
      return cs.length === only.length && matchesAt(only, cs, 0);
    };
  }
  const first = segments[0];
  const last = segments[segments.length - 1];
  const middle = segments.slice(1, -1).filter((seg) => seg.length > 0);
  // Common shapes, without splitting the string into characters.
  const [head, tail] = [literal(first), literal(last)];
  if (head !== undefined && tail !== undefined) {
    if (middle.length === 0) {
      return (s) => s.length >= head.length + tail.length && s.startsWith(head) && s.endsWith(tail);
    }
    if (middle.length === 1 && head === '' && tail === '') {
      const inner = literal(middle[0]);
      if (inner !== undefined) return (s) => s.includes(inner);
    }
  }
  return (s) => {
    const cs = charsOf(s);
    const end = cs.length - last.length;
    if (end < first.length || !matchesAt(first, cs, 0) || !matchesAt(last, cs, end)) return false;
    let pos = first.length;
    for (const seg of middle) {
      let at = pos;
      while (at + seg.length <= end && !matchesAt(seg, cs, at)) at++;
      if (at + seg.length > end) return false;
      pos = at + seg.length;
    }
    return true;
  };
}

/** The string's characters, indexable: the string itself unless it has characters beyond the BMP. */
function charsOf(s: string): ArrayLike<string> {
  return SURROGATE.test(s) ? Array.from(s) : s;
}

function matchesAt(seg: Segment, cs: ArrayLike<string>, at: number): boolean {
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c !== null && cs[at + i] !== c) return false;
  }
  return true;
}
