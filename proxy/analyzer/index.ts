// The statement analyzer the proxy consults for every statement. Analyses are cached by
// comment-free text, so the same statement with a different trace comment is parsed once.

import { loadModule } from 'libpg-query';
import { LRUCache } from 'lru-cache';
import { EMPTY_ANALYSIS, analyzeUnparseable } from './analyze.ts';
import { skipSpace, stripComments, stripCommentsMapped, trimSpaceEnd } from './comments.ts';
import { parseSqlCommenter } from './sqlcommenter.ts';
import { layoutStatements, placeStatement, type AnalyzedStatement, type StatementLayout } from './statements.ts';

export type { AnalyzedStatement } from './statements.ts';
export type { Tags } from './sqlcommenter.ts';
export { stripComments } from './comments.ts';
export { parseSqlCommenter } from './sqlcommenter.ts';

export interface StatementAnalyzer {
  /** The statements of a simple-protocol Query string; [] when it holds none (only comments or semicolons). */
  analyzeQuery(sql: string): readonly AnalyzedStatement[];
  /** The one statement of an extended-protocol Parse. */
  analyzeStatement(sql: string): AnalyzedStatement;
  stats(): { hits: number; misses: number; size: number };
}

export async function createAnalyzer(opts: { cacheSize?: number } = {}): Promise<StatementAnalyzer> {
  await loadModule();
  return new CachingAnalyzer(opts.cacheSize ?? 5000);
}

interface CacheEntry {
  readonly layouts: readonly StatementLayout[];
  /** The result for a query string equal to the key: nothing to strip, so shared as is. */
  readonly plain: readonly AnalyzedStatement[];
}

// Longer texts are analyzed but not cached: they are mostly one-off bulk statements and would crowd the cache.
const MAX_CACHED_TEXT = 64 * 1024;

const NO_STATEMENTS: readonly AnalyzedStatement[] = Object.freeze([]);
const EMPTY_ENTRY: CacheEntry = { layouts: [], plain: NO_STATEMENTS };

class CachingAnalyzer implements StatementAnalyzer {
  private readonly cache: LRUCache<string, CacheEntry>;
  private hits = 0;
  private misses = 0;

  constructor(cacheSize: number) {
    this.cache = new LRUCache({ max: cacheSize });
  }

  analyzeQuery(sql: string): readonly AnalyzedStatement[] {
    const source = stripCommentsMapped(sql);
    const entry = this.entry(source.text);
    if (source.text === sql) return entry.plain;
    const last = entry.layouts.length - 1;
    return Object.freeze(entry.layouts.map((layout, i) => placeStatement(sql, source, layout, i === last)));
  }

  analyzeStatement(sql: string): AnalyzedStatement {
    const statements = this.analyzeQuery(sql);
    if (statements.length === 1) return statements[0]!;
    const analysis =
      statements.length === 0
        ? EMPTY_ANALYSIS
        : analyzeUnparseable(stripComments(sql), 'cannot insert multiple commands into a prepared statement');
    const start = skipSpace(sql, 0);
    const end = trimSpaceEnd(sql, sql.length);
    return Object.freeze({ text: sql.slice(start, end), start, end, analysis, tags: parseSqlCommenter(sql) });
  }

  stats(): { hits: number; misses: number; size: number } {
    return { hits: this.hits, misses: this.misses, size: this.cache.size };
  }

  private entry(text: string): CacheEntry {
    if (text === '') return EMPTY_ENTRY;
    const cached = this.cache.get(text);
    if (cached !== undefined) {
      this.hits++;
      return cached;
    }
    this.misses++;
    const layouts = layoutStatements(text);
    const identity = { text, originalIndex: (index: number) => index };
    const last = layouts.length - 1;
    const entry = { layouts, plain: Object.freeze(layouts.map((layout, i) => placeStatement(text, identity, layout, i === last))) };
    if (text.length <= MAX_CACHED_TEXT) this.cache.set(text, entry);
    return entry;
  }
}
