// Per-statement statistics by fingerprint and database, like pg_stat_statements but updated
// as each statement completes and with latency percentiles (DDSketch, 1% relative accuracy).
import { DDSketch } from '@datadog/sketches-js';
import type { StatementAnalysis } from '../../plugins/contract.ts';
import { LogHistogram } from './log-histogram.ts';

export interface QueryStatsEntry {
  readonly fingerprint: string;
  readonly database: string;
  /** Normalized text (constants replaced by $n): the sample query, never the literals. */
  readonly query: string;
  readonly kind: string;
  readonly tables: readonly string[];
  calls: number;
  errors: number;
  rows: number;
  totalSeconds: number;
  minSeconds: number;
  maxSeconds: number;
  readonly sketch: DDSketch;
  readonly firstSeen: number;
  lastSeen: number;
  /**
   * This second's figures, kept only for the fingerprints the anomaly engine watches (the
   * busiest ones); null for the rest, so unwatched statements pay nothing for it.
   */
  second: { latency: LogHistogram; calls: number; errors: number } | null;
}

export interface QueryStatsRow {
  fingerprint: string;
  database: string;
  query: string;
  kind: string;
  tables: readonly string[];
  calls: number;
  errors: number;
  rows: number;
  total_ms: number;
  mean_ms: number;
  min_ms: number;
  max_ms: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  first_seen: string;
  last_seen: string;
}

export const SORT_KEYS = ['total', 'mean', 'p95', 'p99', 'calls', 'errors', 'rows', 'last'] as const;
export type SortKey = (typeof SORT_KEYS)[number];


const ms = (s: number) => Math.round(s * 1e6) / 1e3;

export class QueryStats {
  /** database → fingerprint → entry: two lookups and no key string built per statement. */
  private readonly byDatabase = new Map<string, Map<string, QueryStatsEntry>>();
  private size = 0;
  /** Entries dropped to stay under the limit (pg_stat_statements' dealloc). */
  evicted = 0;
  resetAt = Date.now();

  constructor(private readonly maxEntries = 5000) {}

  /** The entry a statement counts under; created on first sight. Undefined for unparseable statements. */
  entry(s: StatementAnalysis, database: string, now: number): QueryStatsEntry | undefined {
    if (s.fingerprint === '') return undefined;
    let fps = this.byDatabase.get(database);
    if (fps === undefined) {
      fps = new Map();
      this.byDatabase.set(database, fps);
    }
    let e = fps.get(s.fingerprint);
    if (e === undefined) {
      if (this.size >= this.maxEntries) this.evict();
      e = {
        fingerprint: s.fingerprint,
        database,
        query: s.normalized,
        kind: s.kind,
        tables: s.writes.length ? [...new Set([...s.writes, ...s.reads])] : s.reads,
        calls: 0,
        errors: 0,
        rows: 0,
        totalSeconds: 0,
        minSeconds: Infinity,
        maxSeconds: 0,
        sketch: new DDSketch({ relativeAccuracy: 0.01 }),
        firstSeen: now,
        lastSeen: now,
        second: null,
      };
      fps.set(s.fingerprint, e);
      this.size++;
    }
    return e;
  }

  record(e: QueryStatsEntry, seconds: number, failed: boolean, rows: number, now: number): void {
    e.calls++;
    e.rows += rows;
    e.totalSeconds += seconds;
    if (seconds < e.minSeconds) e.minSeconds = seconds;
    if (seconds > e.maxSeconds) e.maxSeconds = seconds;
    e.sketch.accept(seconds);
    e.lastSeen = now;
    if (failed) e.errors++;
    const sec = e.second;
    if (sec !== null) {
      sec.latency.observe(seconds);
      sec.calls++;
      if (failed) sec.errors++;
    }
  }

  get(database: string, fingerprint: string): QueryStatsEntry | undefined {
    return this.byDatabase.get(database)?.get(fingerprint);
  }

  *entries(): IterableIterator<QueryStatsEntry> {
    for (const fps of this.byDatabase.values()) yield* fps.values();
  }

  get count(): number {
    return this.size;
  }

  top(opts: { sort?: SortKey; limit?: number; database?: string } = {}): QueryStatsRow[] {
    const sort = opts.sort ?? 'total';
    const key = (e: QueryStatsEntry): number => {
      switch (sort) {
        case 'total':
          return e.totalSeconds;
        case 'mean':
          return e.calls ? e.totalSeconds / e.calls : 0;
        case 'p95':
          return e.sketch.getValueAtQuantile(0.95);
        case 'p99':
          return e.sketch.getValueAtQuantile(0.99);
        case 'calls':
          return e.calls;
        case 'errors':
          return e.errors;
        case 'rows':
          return e.rows;
        case 'last':
          return e.lastSeen;
      }
    };
    const list: { e: QueryStatsEntry; k: number }[] = [];
    for (const e of this.entries()) {
      if (e.calls === 0 || (opts.database !== undefined && e.database !== opts.database)) continue;
      list.push({ e, k: key(e) });
    }
    list.sort((a, b) => b.k - a.k);
    return list.slice(0, opts.limit ?? 20).map(({ e }) => toRow(e));
  }

  reset(): void {
    this.byDatabase.clear();
    this.size = 0;
    this.resetAt = Date.now();
  }

  /** Drops the least-called tenth, as pg_stat_statements does when it is full. */
  private evict(): void {
    const all = [...this.entries()].sort((a, b) => a.calls - b.calls || a.lastSeen - b.lastSeen);
    const drop = Math.max(1, Math.floor(all.length / 10));
    for (const e of all.slice(0, drop)) {
      const fps = this.byDatabase.get(e.database)!;
      fps.delete(e.fingerprint);
      if (fps.size === 0) this.byDatabase.delete(e.database);
    }
    this.size -= drop;
    this.evicted += drop;
  }
}

export function toRow(e: QueryStatsEntry): QueryStatsRow {
  return {
    fingerprint: e.fingerprint,
    database: e.database,
    query: e.query,
    kind: e.kind,
    tables: e.tables,
    calls: e.calls,
    errors: e.errors,
    rows: e.rows,
    total_ms: ms(e.totalSeconds),
    mean_ms: e.calls ? ms(e.totalSeconds / e.calls) : 0,
    min_ms: e.calls ? ms(e.minSeconds) : 0,
    max_ms: ms(e.maxSeconds),
    p50_ms: e.calls ? ms(e.sketch.getValueAtQuantile(0.5)) : 0,
    p95_ms: e.calls ? ms(e.sketch.getValueAtQuantile(0.95)) : 0,
    p99_ms: e.calls ? ms(e.sketch.getValueAtQuantile(0.99)) : 0,
    first_seen: new Date(e.firstSeen).toISOString(),
    last_seen: new Date(e.lastSeen).toISOString(),
  };
}
