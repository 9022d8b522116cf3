// Splitting a Query string into its statements. libpg-query parses the comment-free text once;
// each statement is then located in the string the client sent, which may hold comments.

import { parseSync } from 'libpg-query';
import type { StatementAnalysis } from '../../plugins/contract.ts';
import { analyzeParsed, analyzeUnparseable } from './analyze.ts';
import { skipSpace, trimSpaceEnd, type CommentFreeText } from './comments.ts';
import { NO_TAGS, parseSqlCommenter, type Tags } from './sqlcommenter.ts';

/** One statement of a query string as the proxy is about to run it. */
export interface AnalyzedStatement {
  /** The statement's text in the string sent, comments included, without the terminating ';'. */
  readonly text: string;
  /** JS string indices of `text` in the string sent: splice a replacement over [start, end). */
  readonly start: number;
  readonly end: number;
  readonly analysis: StatementAnalysis;
  readonly tags: Tags;
}

/** Where a statement sits in the comment-free text: the `;` before it and the `;` ending it (-1: none). */
export interface StatementLayout {
  readonly analysis: StatementAnalysis;
  readonly separator: number;
  readonly terminator: number;
  /** The text analyzed: [start, end) of the comment-free text. */
  readonly start: number;
  readonly end: number;
}

/** The statements of a comment-free, trimmed, non-empty text. */
export function layoutStatements(text: string): readonly StatementLayout[] {
  let stmts;
  try {
    stmts = parseSync(text).stmts ?? [];
  } catch (error) {
    return [unparseableLayout(text, error instanceof Error ? error.message : String(error))];
  }
  const toIndex = utf16Index(text);
  return stmts.map((raw) => {
    // stmt_location and stmt_len count UTF-8 bytes; stmt_len 0 means "to the end of the text".
    const start = toIndex(raw.stmt_location ?? 0);
    const end = raw.stmt_len ? toIndex((raw.stmt_location ?? 0) + raw.stmt_len) : text.length;
    const textEnd = trimSpaceEnd(text, end);
    return {
      analysis: analyzeParsed(raw.stmt, text.slice(start, textEnd)),
      start,
      end: textEnd,
      // The location is the statement's first token, so the last ';' before it separates it from the previous one.
      separator: start > 0 ? text.lastIndexOf(';', start - 1) : -1,
      // A statement that does not run to the end of the text ends at its ';'.
      terminator: end < text.length ? end : -1,
    };
  });
}

/** The whole text as one statement, without trailing semicolons. */
function unparseableLayout(text: string, error: string): StatementLayout {
  let end = text.length;
  while (end > 0 && text[end - 1] === ';') end = trimSpaceEnd(text, end - 1);
  return {
    analysis: analyzeUnparseable(text, error),
    separator: -1,
    terminator: end < text.length ? text.indexOf(';', end) : -1,
    start: 0,
    end: text.length,
  };
}

/** Maps UTF-8 byte offsets into `text` to string indices; offsets must come in ascending order. */
function utf16Index(text: string): (byteOffset: number) => number {
  if (Buffer.byteLength(text) === text.length) return (byteOffset) => byteOffset;
  let index = 0;
  let bytes = 0;
  return (byteOffset) => {
    while (bytes < byteOffset) {
      const codePoint = text.codePointAt(index)!;
      bytes += codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
      index += codePoint < 0x10000 ? 1 : 2;
    }
    return index;
  };
}

/**
 * The statement in the string sent. Its text runs from the `;` before it to the `;` ending it,
 * whitespace trimmed, so comments between those belong to it. Tags come from that text, and
 * for the last statement also from what follows its `;` (`SELECT 1; /*tags*\/`).
 */
export function placeStatement(sql: string, source: CommentFreeText, layout: StatementLayout, last: boolean): AnalyzedStatement {
  return placeStatementAt(sql, source, layout.analysis, layout.separator, layout.terminator, last);
}

/** placeStatement for a statement whose `;`s are at `separator` and `terminator` of `source.text` (-1: none). */
export function placeStatementAt(
  sql: string,
  source: CommentFreeText,
  analysis: StatementAnalysis,
  separator: number,
  terminator: number,
  last: boolean,
): AnalyzedStatement {
  const start = skipSpace(sql, separator < 0 ? 0 : source.originalIndex(separator) + 1);
  const end = trimSpaceEnd(sql, terminator < 0 ? sql.length : source.originalIndex(terminator));
  return Object.freeze({
    text: sql.slice(start, end),
    start,
    end,
    analysis,
    tags: sql.includes('/*') ? parseSqlCommenter(sql.slice(start, last ? sql.length : end)) : NO_TAGS,
  });
}
