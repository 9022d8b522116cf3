// Comment removal that follows PostgreSQL's lexer: `--` runs to the end of the line, `/* */`
// nests, and neither starts inside a quoted string, quoted identifier or dollar-quoted body.
// Assumes standard_conforming_strings = on (the default since 9.1): backslash escapes only in E''.

/** A statement text with its comments removed, able to map positions back to the original. */
export interface CommentFreeText {
  /** The text without comments, trimmed. */
  readonly text: string;
  /** Index in the original string of the character at `index` of `text`. */
  originalIndex(index: number): number;
}

/** The statement text minus comments, trimmed; a comment between two tokens becomes one space. */
export function stripComments(sql: string): string {
  return mayHaveComment(sql) ? removeComments(sql).text : trimSpace(sql);
}

export function stripCommentsMapped(sql: string): CommentFreeText {
  if (mayHaveComment(sql)) return removeComments(sql);
  return { text: trimSpace(sql), originalIndex: shiftedBy(skipSpace(sql, 0)) };
}

// The mappings are arrows returned by a function, never arrows assigned to a name or property:
// under tsx (how the proxy runs) esbuild's keepNames wraps those in __name(), an
// Object.defineProperty per call that costs more than the rest of stripping a short statement.

function shiftedBy(lead: number): (index: number) => number {
  return (index) => index + lead;
}

/** Maps through runs of the original: run k starts at out index runOut[k] and original index runSql[k]; the text starts at `lead` of out. */
function throughRuns(lead: number, runOut: readonly number[], runSql: readonly number[]): (index: number) => number {
  return (index) => {
    const target = index + lead;
    let low = 0;
    let high = runOut.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (runOut[mid]! <= target) low = mid;
      else high = mid - 1;
    }
    return runSql[low]! + (target - runOut[low]!);
  };
}

export function mayHaveComment(sql: string): boolean {
  return sql.includes('--') || sql.includes('/*');
}

/** PostgreSQL's whitespace: space, \t, \n, \v, \f, \r. Wider than JS's trim(), which eats e.g. U+00A0, an identifier character to PostgreSQL. */
export function isSpace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13);
}

/** First index at or after `from` that is not whitespace. */
export function skipSpace(text: string, from: number): number {
  let i = from;
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  return i;
}

/** The index just past the last non-whitespace character before `end`. */
export function trimSpaceEnd(text: string, end: number): number {
  let i = end;
  while (i > 0 && isSpace(text.charCodeAt(i - 1))) i--;
  return i;
}

function trimSpace(text: string): string {
  return text.slice(skipSpace(text, 0), trimSpaceEnd(text, text.length));
}

const SINGLE_QUOTE = 39;
const DOUBLE_QUOTE = 34;
const DOLLAR = 36;
const DASH = 45;
const SLASH = 47;
const STAR = 42;
const BACKSLASH = 92;

function removeComments(sql: string): CommentFreeText {
  const remover = new CommentRemover(sql);
  let i = 0;
  while (i < sql.length) {
    const code = sql.charCodeAt(i);
    const next = sql.charCodeAt(i + 1);
    if (code === SINGLE_QUOTE) {
      i = skipQuoted(sql, i, isEscapeStringStart(sql, i));
    } else if (code === DOUBLE_QUOTE) {
      i = skipQuoted(sql, i, false);
    } else if (code === DOLLAR) {
      i = skipDollarQuoted(sql, i);
    } else if (code === DASH && next === DASH) {
      i = remover.removeRange(i, lineEnd(sql, i + 2));
    } else if (code === SLASH && next === STAR) {
      const end = blockCommentEnd(sql, i);
      // Unterminated: keep it, so parsing fails the way the server will.
      if (end < 0) break;
      i = remover.removeRange(i, end);
    } else {
      i++;
    }
  }
  return remover.finish();
}

class CommentRemover {
  private out = '';
  // Kept runs of the original: run k starts at out index runOut[k] and original index runSql[k].
  private readonly runOut: number[] = [];
  private readonly runSql: number[] = [];
  private runStart = 0;

  constructor(private readonly sql: string) {}

  /** Drops sql[start, end) and returns where scanning resumes. */
  removeRange(start: number, end: number): number {
    const sql = this.sql;
    if (start > this.runStart) {
      this.runOut.push(this.out.length);
      this.runSql.push(this.runStart);
      this.out += sql.slice(this.runStart, start);
    }
    // A comment separates tokens as whitespace does ("1/**/2" is "1 2", not "12"); whitespace
    // on both sides of it collapses to the one before it.
    const out = this.out;
    const spaceBefore = out.length === 0 || isSpace(out.charCodeAt(out.length - 1));
    if (spaceBefore) end = skipSpace(sql, end);
    else if (end < sql.length && !isSpace(sql.charCodeAt(end))) this.out += ' ';
    this.runStart = end;
    return end;
  }

  finish(): CommentFreeText {
    const sql = this.sql;
    if (this.runStart < sql.length) {
      this.runOut.push(this.out.length);
      this.runSql.push(this.runStart);
      this.out += sql.slice(this.runStart);
    }
    const out = this.out;
    const lead = skipSpace(out, 0);
    return { text: out.slice(lead, trimSpaceEnd(out, out.length)), originalIndex: throughRuns(lead, this.runOut, this.runSql) };
  }
}

/** Index just past the quote that closes the string or identifier opened at `open`. */
function skipQuoted(sql: string, open: number, backslashEscapes: boolean): number {
  const quote = sql.charCodeAt(open);
  let i = open + 1;
  while (i < sql.length) {
    const code = sql.charCodeAt(i);
    if (backslashEscapes && code === BACKSLASH) {
      i += 2;
    } else if (code === quote) {
      // A doubled quote is an escaped quote, not the end.
      if (sql.charCodeAt(i + 1) !== quote) return i + 1;
      i += 2;
    } else {
      i++;
    }
  }
  return sql.length;
}

/** E'...' (or e'...'): the E must start a token, else it ends an identifier as in `some_type'...'`. */
function isEscapeStringStart(sql: string, quote: number): boolean {
  const prefix = sql.charCodeAt(quote - 1) | 0x20;
  return prefix === 0x65 && (quote < 2 || !isIdentifierChar(sql.charCodeAt(quote - 2)));
}

const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\uffff][A-Za-z_0-9\u0080-\uffff]*)?\$/y;

/** $$...$$ or $tag$...$tag$; a `$` inside an identifier (a$b) or before a digit ($1) opens nothing. */
function skipDollarQuoted(sql: string, dollar: number): number {
  if (dollar > 0 && isIdentifierChar(sql.charCodeAt(dollar - 1))) return dollar + 1;
  DOLLAR_TAG.lastIndex = dollar;
  const match = DOLLAR_TAG.exec(sql);
  if (match === null) return dollar + 1;
  const tag = match[0];
  const close = sql.indexOf(tag, dollar + tag.length);
  return close < 0 ? sql.length : close + tag.length;
}

function isIdentifierChar(code: number): boolean {
  return (
    (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || (code >= 48 && code <= 57) || code === 95 || code === DOLLAR || code >= 0x80
  );
}

/** A `--` comment ends before the next \n or \r. */
function lineEnd(sql: string, from: number): number {
  for (let i = from; i < sql.length; i++) {
    const code = sql.charCodeAt(i);
    if (code === 10 || code === 13) return i;
  }
  return sql.length;
}

/** Index just past the `*\/` closing the (nested) block comment opened at `open`; -1 when unterminated. */
function blockCommentEnd(sql: string, open: number): number {
  let depth = 1;
  let i = open + 2;
  while (i < sql.length - 1) {
    const code = sql.charCodeAt(i);
    const next = sql.charCodeAt(i + 1);
    if (code === SLASH && next === STAR) {
      depth++;
      i += 2;
    } else if (code === STAR && next === SLASH) {
      if (--depth === 0) return i + 2;
      i += 2;
    } else {
      i++;
    }
  }
  return -1;
}
