// Literal masking: a cache key under which statements that differ only in constant values meet,
// so `... WHERE aid = 1` and `... WHERE aid = 22` share one analysis.
//
// One pass over a comment-free text that follows PostgreSQL's lexer (standard_conforming_strings
// on, as comments.ts assumes). Each constant token is replaced by a placeholder naming its class:
//
//   numbers      `42`, `0x1F`, `0o17`, `0b101`, `1_000` (class i when the value fits int4, as the
//                lexer's ICONST) and `1.5`, `.5`, `5.`, `1.5e-3`, integers past int4 (class n, FCONST).
//                The classes stay apart: pg_query leaves `ORDER BY 1` alone but normalizes `ORDER BY 1.5`.
//                A leading `-` stays in the key: normalize folds it into the constant either way.
//   strings      '...', E'...', U&'...', N'...', and the string of `interval '1 day'` (class s);
//                B'...' (class b), X'...' (class x). Only the quoted part is masked; a prefix stays.
//
// Kept as they are (so texts must agree on them to share a key):
//   - dollar-quoted bodies, quoted identifiers, `$1` parameters, digits inside identifiers (t1);
//   - numbers directly inside parentheses that follow a word, `varchar(10)`, `numeric(10,2)`,
//     `f(1)`: typmods there, which normalize keeps; IN (...), VALUES (...) and the like still mask;
//   - strings whose escapes may be invalid: E'..' with \digit, \x, \u, \U; U&'..' with any `\`;
//     B'..'/X'..' with digits of the wrong kind. Other values of those could fail to lex.
//
// Texts the lexer would reject (unterminated quotes, junk after a number such as `1abc`, `1..2`)
// are not masked at all. The placeholder starts with NUL, which a text never holds (the wire
// protocol NUL-terminates strings and the analyzer does not cache a text with one), so keys of
// masked texts never equal an unmasked text and two texts share a key exactly when they differ
// only in the values of masked literals of the same class.
//
// Sharing a key is necessary, not sufficient, for sharing an analysis: the analyzer also checks
// with `coveredByNormalized` that pg_query's normalize replaced every masked literal of the text
// it analyzed (see index.ts).

const MASK = '\0';

const QUOTE = 39;
const DOUBLE_QUOTE = 34;
const DOLLAR = 36;
const DOT = 46;
const DASH = 45;
const PLUS = 43;
const SLASH = 47;
const STAR = 42;
const BACKSLASH = 92;
const AMPERSAND = 38;
const UNDERSCORE = 95;
const LEFT_PAREN = 40;
const RIGHT_PAREN = 41;
const SEMICOLON = 59;

/** What the last significant token before a `(` was: a word's parentheses protect numbers. */
const OTHER = 0;
const WORD = 1;

const STRING = 0;
const ESCAPE_STRING = 1;
const UNICODE_STRING = 2;
const BIT_STRING = 3;
const HEX_STRING = 4;

const INT4_MAX = 2147483647;

// Reserved words before `(` that can name neither a type nor a function: their parentheses hold
// expressions, never typmods, so numbers there are masked (IN (1, 2), VALUES (1, 'a')).
const EXPRESSION_KEYWORDS: ReadonlySet<string> = new Set([
  'all', 'and', 'any', 'array', 'as', 'case', 'else', 'except', 'exists', 'from', 'having', 'in', 'intersect', 'join',
  'lateral', 'limit', 'not', 'offset', 'on', 'or', 'returning', 'row', 'select', 'some', 'then', 'union', 'values',
  'when', 'where',
]);

const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\uffff][A-Za-z_0-9\u0080-\uffff]*)?\$/y;

/**
 * Masks the literals of one text at a time. Besides the key, it keeps (until the next call) where
 * the literal tokens and the semicolons outside quotes are, in scratch arrays reused across calls.
 */
export class LiteralMasker {
  /** Literals masked in the last text. */
  count = 0;
  /** Literal tokens of the last text, masked or kept: [spanStart[k], spanEnd[k]), in order. */
  spans = 0;
  readonly spanStart: number[] = [];
  readonly spanEnd: number[] = [];
  readonly spanMasked: boolean[] = [];
  /** Semicolons outside quotes in the last text, in order; they are statement separators. */
  semicolons = 0;
  readonly semicolonAt: number[] = [];

  private key = '';
  private copied = 0;
  private numberClass = '';
  private readonly protects: boolean[] = [];

  /** The key for a comment-free text: the text itself (the same string) when nothing was masked. */
  mask(text: string): string {
    this.count = 0;
    this.spans = 0;
    this.semicolons = 0;
    this.key = '';
    this.copied = 0;
    const protects = this.protects;
    let depth = 0;
    let last = OTHER;
    let wordStart = -1;
    let wordEnd = -1;
    const length = text.length;
    let i = 0;
    while (i < length) {
      const code = text.charCodeAt(i);
      if (code === 32 || (code >= 9 && code <= 13)) {
        i++;
        continue;
      }
      if (isIdentifierStart(code)) {
        let end = i + 1;
        while (end < length && isIdentifierChar(text.charCodeAt(end))) end++;
        const next = text.charCodeAt(end);
        if (next === QUOTE) {
          // E'..', B'..', X'..' when the prefix is the whole word; N'..' and `type '..'` are plain.
          end = this.string(text, end, end - i === 1 ? prefixKind(code) : STRING);
          if (end < 0) return this.giveUp(text);
          i = end;
          last = OTHER;
          continue;
        }
        if (next === AMPERSAND && end - i === 1 && (code | 0x20) === 0x75) {
          const quote = text.charCodeAt(end + 1);
          if (quote === QUOTE) {
            end = this.string(text, end + 1, UNICODE_STRING);
            if (end < 0) return this.giveUp(text);
            i = end;
            last = OTHER;
            continue;
          }
          if (quote === DOUBLE_QUOTE) {
            end = skipQuotedIdentifier(text, end + 1);
            if (end < 0) return this.giveUp(text);
            i = end;
            last = WORD;
            wordStart = -1;
            continue;
          }
        }
        last = WORD;
        wordStart = i;
        wordEnd = end;
        i = end;
        continue;
      }
      if ((code >= 48 && code <= 57) || (code === DOT && isDigit(text.charCodeAt(i + 1)))) {
        const end = this.number(text, i);
        if (end < 0) return this.giveUp(text);
        const masked = depth === 0 || !protects[depth - 1];
        this.literal(text, i, end, masked, this.numberClass);
        i = end;
        last = OTHER;
        continue;
      }
      switch (code) {
        case QUOTE: {
          const end = this.string(text, i, STRING);
          if (end < 0) return this.giveUp(text);
          i = end;
          last = OTHER;
          continue;
        }
        case DOUBLE_QUOTE: {
          const end = skipQuotedIdentifier(text, i);
          if (end < 0) return this.giveUp(text);
          i = end;
          last = WORD;
          wordStart = -1;
          continue;
        }
        case DOLLAR: {
          const end = this.dollar(text, i);
          if (end < 0) return this.giveUp(text);
          i = end;
          last = OTHER;
          continue;
        }
        case LEFT_PAREN:
          protects[depth++] = last === WORD && !isExpressionKeyword(text, wordStart, wordEnd);
          break;
        case RIGHT_PAREN:
          if (depth > 0) depth--;
          break;
        case SEMICOLON:
          this.semicolonAt[this.semicolons++] = i;
          break;
        case DASH:
          // Comments are gone; what is left of one is an unterminated /* and what follows it.
          if (text.charCodeAt(i + 1) === DASH) return this.giveUp(text);
          break;
        case SLASH:
          if (text.charCodeAt(i + 1) === STAR) return this.giveUp(text);
          break;
      }
      last = OTHER;
      i++;
    }
    if (this.count === 0) return text;
    const key = this.key + text.slice(this.copied);
    this.key = '';
    return key;
  }

  /**
   * Whether normalize replaced every masked literal of the text last masked by a `$n`: each
   * statement's `normalized` must be its text [start, end) with some tokens replaced by `$n`,
   * and each masked literal inside one of those (with a `-` or E/B/X/U& prefix normalize takes
   * along). Replaced tokens that were not masked (`true`, `LIMIT ALL`, the 1 of `f(1)`) are in
   * the key, so they are alike in every text that shares it.
   */
  coveredByNormalized(text: string, statements: readonly { start: number; end: number; normalized: string }[]): boolean {
    let covered = 0;
    let k = 0;
    for (const { start, end, normalized } of statements) {
      while (k < this.spans && this.spanEnd[k]! <= start) {
        if (this.spanMasked[k]) return false;
        k++;
      }
      let i = start;
      let j = 0;
      while (i < end) {
        while (k < this.spans && this.spanEnd[k]! <= i) {
          if (this.spanMasked[k]) return false;
          k++;
        }
        const code = text.charCodeAt(i);
        const replacement = normalized.charCodeAt(j);
        // A `$` followed by a digit in the normalized text where the text has no parameter.
        if (replacement === DOLLAR && isDigit(normalized.charCodeAt(j + 1)) && !(code === DOLLAR && isDigit(text.charCodeAt(i + 1)))) {
          const replaced = this.replacedToken(text, i, k);
          if (replaced < 0) return false;
          j += 2;
          while (isDigit(normalized.charCodeAt(j))) j++;
          while (k < this.spans && this.spanStart[k]! < replaced) {
            if (this.spanMasked[k]) covered++;
            k++;
          }
          i = replaced;
          continue;
        }
        if (k < this.spans && this.spanStart[k] === i && this.spanMasked[k]) return false;
        if (code !== replacement) return false;
        i++;
        j++;
      }
      if (j !== normalized.length) return false;
    }
    return covered === this.count;
  }

  /** The end of the token normalize replaced from `at` on: a literal (k: the first span ending after `at`) or a word. */
  private replacedToken(text: string, at: number, k: number): number {
    if (k < this.spans) {
      const start = this.spanStart[k]!;
      if (start === at) return this.spanEnd[k]!;
      const code = text.charCodeAt(at);
      if (start > at) {
        // A negative number: `-` and the number, whitespace between.
        if (code === DASH) {
          let p = at + 1;
          while (p < start && isSpaceCode(text.charCodeAt(p))) p++;
          if (p === start) return this.spanEnd[k]!;
        }
        if (start === at + 1 && text.charCodeAt(start) === QUOTE && isStringPrefix(code)) return this.spanEnd[k]!;
        if (start === at + 2 && (code | 0x20) === 0x75 && text.charCodeAt(at + 1) === AMPERSAND) return this.spanEnd[k]!;
      }
    }
    // A keyword that stands for a constant: TRUE, NULL, LIMIT ALL, extract(year ...).
    if (isIdentifierStart(text.charCodeAt(at)) && (at === 0 || !isIdentifierChar(text.charCodeAt(at - 1)))) {
      let end = at + 1;
      while (end < text.length && isIdentifierChar(text.charCodeAt(end))) end++;
      return end;
    }
    return -1;
  }

  private giveUp(text: string): string {
    this.count = 0;
    this.spans = 0;
    this.key = '';
    return text;
  }

  /** Records the literal [start, end), replacing it in the key when masked. */
  private literal(text: string, start: number, end: number, masked: boolean, kind: string): void {
    const k = this.spans++;
    this.spanStart[k] = start;
    this.spanEnd[k] = end;
    this.spanMasked[k] = masked;
    if (!masked) return;
    this.count++;
    this.key += text.slice(this.copied, start) + MASK + kind;
    this.copied = end;
  }

  /** Lexes the string whose opening quote is at `quote`; returns its end, -1 when unterminated. */
  private string(text: string, quote: number, kind: number): number {
    let safe = true;
    let i = quote + 1;
    let end = -1;
    if (kind === ESCAPE_STRING) {
      while (i < text.length) {
        const code = text.charCodeAt(i);
        if (code === BACKSLASH) {
          // \ooo, \xhh, \uXXXX and \UXXXXXXXX make bytes or code points that may be invalid.
          const escaped = text.charCodeAt(i + 1);
          if ((escaped >= 48 && escaped <= 55) || escaped === 0x78 || (escaped | 0x20) === 0x75) safe = false;
          i += 2;
        } else if (code === QUOTE) {
          if (text.charCodeAt(i + 1) !== QUOTE) {
            end = i + 1;
            break;
          }
          i += 2;
        } else {
          i++;
        }
      }
    } else {
      for (;;) {
        const close = text.indexOf("'", i);
        if (close < 0) break;
        if (text.charCodeAt(close + 1) !== QUOTE) {
          end = close + 1;
          break;
        }
        i = close + 2;
      }
    }
    if (end < 0) return -1;
    if (kind === UNICODE_STRING) safe = text.lastIndexOf('\\', end) <= quote;
    else if (kind === BIT_STRING || kind === HEX_STRING) safe = allDigits(text, quote + 1, end - 1, kind === BIT_STRING ? 2 : 16);
    this.literal(text, quote, end, safe, kind === BIT_STRING ? 'b' : kind === HEX_STRING ? 'x' : 's');
    return end;
  }

  /** Lexes the number at `start` as PostgreSQL 16+ does; returns its end, -1 for what it rejects. */
  private number(text: string, start: number): number {
    let i = start;
    let integer = true;
    if (text.charCodeAt(start) === 48) {
      const marker = text.charCodeAt(start + 1) | 0x20;
      const radix = marker === 0x78 ? 16 : marker === 0x6f ? 8 : marker === 0x62 ? 2 : 0;
      if (radix !== 0) {
        const end = digitsEnd(text, start + 2, radix);
        if (end < 0 || isJunkAfterNumber(text.charCodeAt(end))) return -1;
        this.numberClass = fitsInt4(text, start + 2, end, radix) ? 'i' : 'n';
        return end;
      }
    }
    if (text.charCodeAt(i) !== DOT) i = digitsEnd(text, i, 10);
    if (text.charCodeAt(i) === DOT) {
      // `1..2` lexes as 1 and `..`; not worth following.
      if (text.charCodeAt(i + 1) === DOT) return -1;
      integer = false;
      i++;
      if (isDigit(text.charCodeAt(i))) i = digitsEnd(text, i, 10);
    }
    if ((text.charCodeAt(i) | 0x20) === 0x65) {
      let exponent = i + 1;
      const sign = text.charCodeAt(exponent);
      if (sign === PLUS || sign === DASH) exponent++;
      if (!isDigit(text.charCodeAt(exponent))) return -1;
      integer = false;
      i = digitsEnd(text, exponent, 10);
    }
    if (isJunkAfterNumber(text.charCodeAt(i))) return -1;
    this.numberClass = integer && fitsInt4(text, start, i, 10) ? 'i' : 'n';
    return i;
  }

  /** A `$` token: a parameter, a dollar-quoted string (kept, but known as a literal), or a lone `$`. */
  private dollar(text: string, at: number): number {
    if (isDigit(text.charCodeAt(at + 1))) {
      let end = at + 2;
      while (isDigit(text.charCodeAt(end))) end++;
      // `$1a` and `$1_0` are errors or oddities the lexer handles its own way.
      return isIdentifierChar(text.charCodeAt(end)) ? -1 : end;
    }
    DOLLAR_TAG.lastIndex = at;
    const match = DOLLAR_TAG.exec(text);
    if (match === null) return at + 1;
    const tag = match[0];
    const close = text.indexOf(tag, at + tag.length);
    if (close < 0) return -1;
    const end = close + tag.length;
    this.literal(text, at, end, false, '');
    return end;
  }
}

/** The key for a comment-free text and how many literals were masked; the text itself when none. */
export function maskLiterals(text: string): { key: string; count: number } {
  const masker = new LiteralMasker();
  const key = masker.mask(text);
  return { key, count: masker.count };
}

function prefixKind(code: number): number {
  switch (code | 0x20) {
    case 0x65:
      return ESCAPE_STRING;
    case 0x62:
      return BIT_STRING;
    case 0x78:
      return HEX_STRING;
    default:
      return STRING;
  }
}

/** E, B or X: normalize's constant starts at the prefix. */
function isStringPrefix(code: number): boolean {
  const lower = code | 0x20;
  return lower === 0x65 || lower === 0x62 || lower === 0x78;
}

function isExpressionKeyword(text: string, start: number, end: number): boolean {
  return start >= 0 && end - start >= 2 && end - start <= 9 && EXPRESSION_KEYWORDS.has(text.slice(start, end).toLowerCase());
}

/** Index just past the quoted identifier opened at `open`; -1 when unterminated. */
function skipQuotedIdentifier(text: string, open: number): number {
  let i = open + 1;
  for (;;) {
    const close = text.indexOf('"', i);
    if (close < 0) return -1;
    if (text.charCodeAt(close + 1) !== DOUBLE_QUOTE) return close + 1;
    i = close + 2;
  }
}

/** End of digits in `radix` from `from`, single underscores allowed between them; -1 when there is none. */
function digitsEnd(text: string, from: number, radix: number): number {
  let i = from;
  if (text.charCodeAt(i) === UNDERSCORE && radix !== 10) i++;
  if (!isRadixDigit(text.charCodeAt(i), radix)) return -1;
  i++;
  for (;;) {
    const code = text.charCodeAt(i);
    if (isRadixDigit(code, radix)) i++;
    else if (code === UNDERSCORE && isRadixDigit(text.charCodeAt(i + 1), radix)) i += 2;
    else return i;
  }
}

/** The lexer takes letters, digits, `_`, `$` or `.` right after a number for junk, or another token it does not mean. */
function isJunkAfterNumber(code: number): boolean {
  return isIdentifierChar(code) || code === DOT;
}

/** Whether the integer written in [from, end) (underscores aside) fits int4, making it an ICONST. */
function fitsInt4(text: string, from: number, end: number, radix: number): boolean {
  let value = 0;
  for (let i = from; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code === UNDERSCORE) continue;
    value = value * radix + digitValue(code);
    if (value > INT4_MAX) return false;
  }
  return true;
}

function allDigits(text: string, from: number, end: number, radix: number): boolean {
  for (let i = from; i < end; i++) if (!isRadixDigit(text.charCodeAt(i), radix)) return false;
  return true;
}

function digitValue(code: number): number {
  return code <= 57 ? code - 48 : (code | 0x20) - 87;
}

function isRadixDigit(code: number, radix: number): boolean {
  if (radix === 16) return isDigit(code) || ((code | 0x20) >= 0x61 && (code | 0x20) <= 0x66);
  return code >= 48 && code < 48 + radix;
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function isSpaceCode(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13);
}

/** PostgreSQL's ident_start: letters, `_`, any non-ASCII character. */
function isIdentifierStart(code: number): boolean {
  return (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || code === UNDERSCORE || code >= 0x80;
}

/** PostgreSQL's ident_cont: ident_start, digits, `$`. */
function isIdentifierChar(code: number): boolean {
  return isIdentifierStart(code) || (code >= 48 && code <= 57) || code === DOLLAR;
}
