// The statement analyzer the proxy consults for every statement. Analyses are cached by
// comment-free text, so the same statement with a different trace comment is parsed once, and
// where it is safe by that text with its literals masked, so the same statement with other
// constants (`WHERE aid = 1`, `WHERE aid = 2`) is parsed once too.

import { loadModule } from 'libpg-query';
import { LRUCache } from 'lru-cache';
import { EMPTY_ANALYSIS, analyzeUnparseable } from './analyze.ts';
import { skipSpace, stripComments, stripCommentsMapped, trimSpaceEnd, type CommentFreeText } from './comments.ts';
import { LiteralMasker } from './literal-mask.ts';
import { parseSqlCommenter } from './sqlcommenter.ts';
import { layoutStatements, placeStatement, placeStatementAt, type AnalyzedStatement, type StatementLayout } from './statements.ts';

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
  /** The result for a query string equal to the text analyzed: nothing to strip, so shared as is. */
  readonly plain: readonly AnalyzedStatement[];
  /** Set on entries cached under a literal-masked key. */
  readonly masked?: MaskedLayout;
}

/** What places an entry's statements in another text of its key, whose literals differ in length. */
interface MaskedLayout {
  /** The comment-free text analyzed; `plain` is its result. */
  readonly text: string;
  /** Its semicolons outside quotes (any text of the key has as many, at the same places in the key). */
  readonly semicolons: number;
  /** Per layout, the separator's then the terminator's index among those semicolons (-1: none). */
  readonly ordinals: readonly number[];
}

// Longer texts are analyzed but not cached: they are mostly one-off bulk statements and would crowd the cache.
const MAX_CACHED_TEXT = 64 * 1024;

// Statements whose analysis a literal-masked key may share. In these, pg_query's normalize
// replaces A_Const nodes only, whose values the fingerprint ignores, and the kind and tables come
// from the parse tree's shape, which constants of the same lexical class do not change. Utility
// statements are left out: normalize also replaces option strings there (CREATE ROLE ... PASSWORD,
// subscription conninfo, NOTIFY payloads) whose values the fingerprint does hash, so two texts
// that normalize alike can still fingerprint apart (`PASSWORD 'x'` vs `'y'`).
const MASKABLE_KINDS: ReadonlySet<string> = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE']);

const NO_STATEMENTS: readonly AnalyzedStatement[] = Object.freeze([]);

/**
 * The cache maps the comment-free text to its analysis, or, when that is provably the same for
 * every text differing from it only in literal values, the text's literal-masked key (see
 * literal-mask.ts). Masked keys hold a NUL, which texts never do, so the two kinds never meet.
 */
class CachingAnalyzer implements StatementAnalyzer {
  private readonly cache: LRUCache<string, CacheEntry>;
  private readonly masker = new LiteralMasker();
  private hits = 0;
  private misses = 0;

  constructor(cacheSize: number) {
    this.cache = new LRUCache({ max: cacheSize });
  }

  analyzeQuery(sql: string): readonly AnalyzedStatement[] {
    const source = stripCommentsMapped(sql);
    const text = source.text;
    if (text === '') return NO_STATEMENTS;
    // A NUL cannot come off the wire; such a text could pass for a masked key, so it is not cached.
    if (text.length > MAX_CACHED_TEXT || text.includes('\0')) {
      this.misses++;
      return place(sql, source, analyze(text));
    }
    // The masked key first: under pgbench -S style traffic the exact text is new every time.
    // A text whose key was not accepted is cached under itself, as are texts without literals.
    const key = this.masker.mask(text);
    if (key !== text) {
      const entry = this.cache.get(key);
      const placed = entry?.masked && this.placeMasked(sql, source, entry, entry.masked);
      if (placed) {
        this.hits++;
        return placed;
      }
    }
    const cached = this.cache.get(text);
    if (cached !== undefined) {
      this.hits++;
      return place(sql, source, cached);
    }
    this.misses++;
    const entry = analyze(text);
    const masked = key !== text && !this.cache.has(key) ? this.maskedLayout(text, entry.layouts) : undefined;
    if (masked !== undefined) this.cache.set(key, { ...entry, masked });
    else this.cache.set(text, entry);
    return place(sql, source, entry);
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

  /**
   * The statements of `sql`, whose comment-free text was just masked to the key of `entry`. The
   * entry's positions are those of the text it was analyzed from, where literals had other lengths;
   * here each statement is found by the index of its semicolons instead. Undefined if the counts
   * of semicolons disagree (they cannot, texts of one key differ only inside literals).
   */
  private placeMasked(sql: string, source: CommentFreeText, entry: CacheEntry, masked: MaskedLayout): readonly AnalyzedStatement[] | undefined {
    if (masked.text === source.text) return place(sql, source, entry);
    const masker = this.masker;
    if (masker.semicolons !== masked.semicolons) return undefined;
    const { layouts } = entry;
    const { ordinals } = masked;
    const statements: AnalyzedStatement[] = new Array(layouts.length);
    for (let i = 0; i < layouts.length; i++) {
      const separator = ordinals[2 * i]!;
      const terminator = ordinals[2 * i + 1]!;
      statements[i] = placeStatementAt(
        sql,
        source,
        layouts[i]!.analysis,
        separator < 0 ? -1 : masker.semicolonAt[separator]!,
        terminator < 0 ? -1 : masker.semicolonAt[terminator]!,
        i === layouts.length - 1,
      );
    }
    return Object.freeze(statements);
  }

  /**
   * The masked layout of `text`, just analyzed and masked, when its analysis holds for every text
   * of its key: every statement parsed and is DML, and normalize replaced each masked literal.
   * Then texts of the key differ only in literals pg_query turns into A_Const nodes, so they parse
   * to trees of one shape that fingerprint and normalize alike.
   */
  private maskedLayout(text: string, layouts: readonly StatementLayout[]): MaskedLayout | undefined {
    for (const { analysis } of layouts) {
      if (analysis.error !== undefined || analysis.fingerprint === '' || !MASKABLE_KINDS.has(analysis.kind)) return undefined;
    }
    const masker = this.masker;
    const statements = layouts.map((layout) => ({ start: layout.start, end: layout.end, normalized: layout.analysis.normalized }));
    if (!masker.coveredByNormalized(text, statements)) return undefined;
    const semicolons = masker.semicolonAt.slice(0, masker.semicolons);
    const ordinals: number[] = [];
    for (const { separator, terminator } of layouts) {
      for (const position of [separator, terminator]) {
        const ordinal = position < 0 ? -1 : semicolons.indexOf(position);
        if (position >= 0 && ordinal < 0) return undefined;
        ordinals.push(ordinal);
      }
    }
    return { text, semicolons: semicolons.length, ordinals };
  }
}

function analyze(text: string): CacheEntry {
  const layouts = layoutStatements(text);
  const identity = { text, originalIndex: (index: number) => index };
  const last = layouts.length - 1;
  return { layouts, plain: Object.freeze(layouts.map((layout, i) => placeStatement(text, identity, layout, i === last))) };
}

/** The entry's statements in `sql`, whose comment-free text is the one the entry was analyzed from. */
function place(sql: string, source: CommentFreeText, entry: CacheEntry): readonly AnalyzedStatement[] {
  if (source.text === sql) return entry.plain;
  const last = entry.layouts.length - 1;
  return Object.freeze(entry.layouts.map((layout, i) => placeStatement(sql, source, layout, i === last)));
}
