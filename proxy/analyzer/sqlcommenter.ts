// sqlcommenter tags (google.github.io/sqlcommenter/spec): a block comment at the end of the
// statement holding key='value' pairs joined by commas, keys and values URL-encoded, and `'`
// inside a value escaped as \'. Some ORMs put the comment in front of the statement instead,
// so a leading comment counts when there is no trailing one.

import { isSpace, skipSpace } from './comments.ts';

const QUOTE = 39;
const BACKSLASH = 92;
const COMMA = 44;
const SEMICOLON = 59;

export type Tags = Readonly<Record<string, string>>;

export const NO_TAGS: Tags = Object.freeze({});

/** The statement's sqlcommenter tags; NO_TAGS when it has none or the comment is malformed. */
export function parseSqlCommenter(sql: string): Tags {
  if (!sql.includes('/*')) return NO_TAGS;
  const comment = trailingComment(sql) ?? leadingComment(sql);
  return comment === undefined ? NO_TAGS : parseTags(comment);
}

/** Body of the block comment that ends the text, ignoring trailing whitespace and semicolons. */
function trailingComment(sql: string): string | undefined {
  let end = sql.length;
  while (end > 0 && (isSpace(sql.charCodeAt(end - 1)) || sql.charCodeAt(end - 1) === SEMICOLON)) end--;
  if (!sql.startsWith('*/', end - 2)) return undefined;
  // URL-encoding turns every `/` of a key or value into %2F, so tags never contain `/*`.
  const start = sql.lastIndexOf('/*', end - 4);
  return start < 0 ? undefined : sql.slice(start + 2, end - 2);
}

function leadingComment(sql: string): string | undefined {
  const start = skipSpace(sql, 0);
  if (!sql.startsWith('/*', start)) return undefined;
  const end = sql.indexOf('*/', start + 2);
  return end < 0 ? undefined : sql.slice(start + 2, end);
}

function parseTags(comment: string): Tags {
  const entries: [string, string][] = [];
  let i = skipSpace(comment, 0);
  while (i < comment.length) {
    const equals = comment.indexOf('=', i);
    if (equals < 0 || comment.charCodeAt(equals + 1) !== QUOTE) return NO_TAGS;
    const key = comment.slice(i, equals).trim();
    if (key === '' || /[',]/.test(key)) return NO_TAGS;
    let value = '';
    let from = equals + 2;
    let j = from;
    while (comment.charCodeAt(j) !== QUOTE) {
      if (j >= comment.length) return NO_TAGS;
      if (comment.charCodeAt(j) === BACKSLASH) {
        // \x stands for x: drop the backslash, keep x whatever it is.
        value += comment.slice(from, j);
        from = ++j;
      }
      j++;
    }
    value += comment.slice(from, j);
    entries.push([decode(key), decode(value)]);
    i = skipSpace(comment, j + 1);
    if (i < comment.length) {
      if (comment.charCodeAt(i) !== COMMA) return NO_TAGS;
      i = skipSpace(comment, i + 1);
    }
  }
  return entries.length === 0 ? NO_TAGS : Object.freeze(Object.fromEntries(entries));
}

function decode(text: string): string {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
