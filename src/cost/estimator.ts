// The plan cache behind pre-execution prices: one EXPLAIN per statement shape (database, role
// and fingerprint), made with the real parameters of the execution that first needed it, off
// the client's path. An entry is made again when the statistics of a table it scans change
// (ANALYZE, autovacuum's analyze, or a large change in size), when DDL on such a table passes
// through the proxy, when its executions stop matching the plan (calibration drift), and after
// a maximum age.
import type pg from 'pg';
import { explainUsage, type ExplainSource } from './explain.ts';
import type { PlanUsage } from './plan-usage.ts';

export interface PlanEstimate extends PlanUsage {
  explainedAt: number;
  /** The engine's last price of this estimate (it re-prices at most once a second). */
  priced?: { at: number; usd: number; samples: number };
}

export interface EstimatorOptions {
  /** Re-EXPLAIN an entry this old on its next use. */
  maxAgeMs: number;
  /** After EXPLAIN fails for a shape, wait this long before trying it again. */
  retryAfterMs: number;
  /** EXPLAINs queued at once; beyond, new shapes wait for a later execution. */
  maxPending: number;
  maxEntries: number;
  /** How often the statistics of cached tables are checked. */
  statsPollMs: number;
}

export const DEFAULT_ESTIMATOR_OPTIONS: EstimatorOptions = {
  maxAgeMs: 10 * 60_000,
  retryAfterMs: 60_000,
  maxPending: 64,
  maxEntries: 10_000,
  statsPollMs: 10_000,
};

interface Entry {
  estimate?: PlanEstimate;
  pending?: Promise<PlanEstimate | undefined>;
  failedAt?: number;
  error?: string;
  database: string;
  stale: boolean;
}

interface TableStats {
  analyzes: number;
  pages: number;
}

export class PlanEstimator {
  private readonly entries = new Map<string, Entry>();
  private pendingCount = 0;
  private readonly tableStats = new Map<string, Map<string, TableStats>>();
  private timer: NodeJS.Timeout | undefined;
  explains = 0;
  explainErrors = 0;

  constructor(
    private readonly connect: (database: string) => Promise<pg.Client>,
    readonly options: EstimatorOptions = DEFAULT_ESTIMATOR_OPTIONS,
    private readonly onError: (key: string, message: string) => void = () => {},
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.pollStats(), this.options.statsPollMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The cached estimate, if any; schedules a (re-)EXPLAIN when there is none or it is stale. */
  lookup(key: string, request: ExplainSource): PlanEstimate | undefined {
    const e = this.entries.get(key);
    const est = e?.estimate;
    if (!e || e.stale || (est && Date.now() - est.explainedAt > this.options.maxAgeMs) || (!est && !e.pending)) {
      void this.request(key, request);
    }
    return est;
  }

  peek(key: string): PlanEstimate | undefined {
    return this.entries.get(key)?.estimate;
  }

  /** EXPLAINs now unless one is in flight (then shares it); resolves undefined when it cannot. */
  request(key: string, source: ExplainSource): Promise<PlanEstimate | undefined> {
    let e = this.entries.get(key);
    if (e?.pending) return e.pending;
    if (e?.failedAt !== undefined && Date.now() - e.failedAt < this.options.retryAfterMs) return Promise.resolve(e.estimate);
    if (this.pendingCount >= this.options.maxPending) return Promise.resolve(e?.estimate);
    const r = source.explainRequest();
    if (!e) {
      if (this.entries.size >= this.options.maxEntries) this.entries.delete(this.entries.keys().next().value!);
      e = { database: r.database, stale: false };
      this.entries.set(key, e);
    }
    const entry = e;
    this.pendingCount++;
    entry.pending = this.connect(r.database)
      .then((client) => explainUsage(client, r))
      .then(
        (usage) => {
          this.explains++;
          entry.estimate = { ...usage, explainedAt: Date.now() };
          entry.stale = false;
          entry.failedAt = undefined;
          entry.error = undefined;
          return entry.estimate;
        },
        (err: Error) => {
          this.explainErrors++;
          entry.failedAt = Date.now();
          entry.error = err.message;
          this.onError(key, err.message);
          return entry.estimate;
        },
      )
      .finally(() => {
        this.pendingCount--;
        entry.pending = undefined;
      });
    return entry.pending;
  }

  /** Marks stale every entry of `database` that scans one of `tables` ("schema.table" or bare names). */
  invalidateTables(database: string, tables: readonly string[]): number {
    if (tables.length === 0) return 0;
    const bare = new Set(tables.map((t) => t.slice(t.lastIndexOf('.') + 1)));
    let n = 0;
    for (const e of this.entries.values()) {
      if (e.database !== database || !e.estimate || e.stale) continue;
      if (e.estimate.tables.some((t) => bare.has(t.slice(t.lastIndexOf('.') + 1)))) {
        e.stale = true;
        n++;
      }
    }
    return n;
  }

  invalidate(key: string): void {
    const e = this.entries.get(key);
    if (e) e.stale = true;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Re-reads table statistics of every database with cached plans; changed tables invalidate their plans. */
  async pollStats(): Promise<void> {
    const databases = new Set<string>();
    for (const e of this.entries.values()) if (e.estimate) databases.add(e.database);
    for (const db of databases) {
      try {
        const client = await this.connect(db);
        const { rows } = await client.query<{ name: string; analyzes: string; pages: number }>(
          `SELECT s.schemaname || '.' || s.relname AS name, s.analyze_count + s.autoanalyze_count AS analyzes, c.relpages AS pages
             FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid`,
        );
        const before = this.tableStats.get(db);
        const now = new Map<string, TableStats>();
        const changed: string[] = [];
        for (const r of rows) {
          const cur = { analyzes: Number(r.analyzes), pages: Number(r.pages) };
          now.set(r.name, cur);
          const old = before?.get(r.name);
          if (old && (old.analyzes !== cur.analyzes || Math.abs(cur.pages - old.pages) > Math.max(8, old.pages * 0.2))) changed.push(r.name);
        }
        this.tableStats.set(db, now);
        this.invalidateTables(db, changed);
      } catch {
        // The next poll tries again; plans keep their maximum age meanwhile.
      }
    }
  }
}
