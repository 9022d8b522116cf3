// Cost per statement shape (database and fingerprint; a fingerprint alone ignores schema and
// database): executions, actual dollars by resource, and how far the pre-execution estimates
// were from what the executions then cost.
import type { ExplainSource } from './explain.ts';
import type { PlanUsage } from './plan-usage.ts';
import { addCost, zeroCost, type Cost } from './usage.ts';

/** One real execution of the shape, kept for the advisor (parse tree and Bind values); never exposed by the API. */
export interface StatementSample {
  text: string;
  params?: readonly (Buffer | null)[];
  paramFormats?: readonly number[];
  /** For a SQL EXECUTE: the PREPARE that defined it. */
  prepare?: string;
  user: string;
}

export interface QueryCostEntry {
  database: string;
  fingerprint: string;
  query: string;
  calls: number;
  actual: Cost;
  seconds: number;
  /** Calls that had an estimate before they ran, and the estimates' and those calls' actual sums. */
  estimatedCalls: number;
  estimatedUsd: number;
  actualOfEstimatedUsd: number;
  /** Mean of |log(estimate / actual)| over estimated calls: 0 is exact, ln 2 ≈ 0.69 is off by 2×. */
  meanAbsLogError: number;
  lastEstimateUsd: number | null;
  /** The plan behind the last estimate (for the plan-only estimate: no calibration, no measured pages). */
  lastPlan?: PlanUsage;
  /** Result rows and bytes of the executions (the advisor's evidence for unbounded scans). */
  rows: number;
  bytes: number;
  /** Tenants seen running it (at most 20 kept). */
  tenants: Set<string>;
  firstSeen: number;
  lastSeen: number;
  sample?: StatementSample;
}

const MAX_SAMPLE_TEXT = 64 * 1024;

/** The key of a statement shape: its database and fingerprint (a fingerprint alone ignores schema and database). */
export function shapeKey(database: string, fingerprint: string): string {
  return `${database}\0${fingerprint}`;
}

/** What record() reads from a priced statement (the engine's CostState). */
export interface CostedStatement extends ExplainSource {
  readonly shapeKey: string;
  readonly database: string;
  readonly fingerprint: string;
  readonly query: string;
  readonly tenant: string;
  readonly user: string;
  readonly explainable: boolean;
  readonly estimateUsd: number | undefined;
  readonly estimate: PlanUsage | undefined;
}

export const COST_SORT_KEYS = ['actual', 'calls', 'mean', 'error'] as const;
export type CostSortKey = (typeof COST_SORT_KEYS)[number];

export class QueryCosts {
  private readonly entries = new Map<string, QueryCostEntry>();

  constructor(private readonly maxEntries = 5000) {}

  record(s: CostedStatement, actual: Cost, seconds: number, result: { rows: number; bytes: number }, at = Date.now()): void {
    const { database, fingerprint, query, tenant, estimateUsd } = s;
    const key = s.shapeKey;
    let e = this.entries.get(key);
    if (!e) {
      if (this.entries.size >= this.maxEntries) this.evict();
      e = {
        database,
        fingerprint,
        query,
        calls: 0,
        actual: zeroCost(),
        seconds: 0,
        estimatedCalls: 0,
        estimatedUsd: 0,
        actualOfEstimatedUsd: 0,
        meanAbsLogError: 0,
        lastEstimateUsd: null,
        rows: 0,
        bytes: 0,
        tenants: new Set(),
        firstSeen: at,
        lastSeen: at,
      };
      this.entries.set(key, e);
    }
    e.calls++;
    e.rows += result.rows;
    e.bytes += result.bytes;
    // Refreshed now and then, so the advisor sees current values, at no cost per statement.
    if (s.explainable && (e.sample === undefined || (e.calls & 1023) === 0)) {
      const smp = { ...s.explainRequest(), user: s.user };
      if (smp.text.length <= MAX_SAMPLE_TEXT) e.sample = smp;
    }
    addCost(e.actual, actual);
    e.seconds += seconds;
    e.lastSeen = at;
    if (e.tenants.size < 20) e.tenants.add(tenant);
    if (estimateUsd !== undefined) {
      e.estimatedCalls++;
      e.estimatedUsd += estimateUsd;
      e.actualOfEstimatedUsd += actual.total;
      e.lastEstimateUsd = estimateUsd;
      if (s.estimate) e.lastPlan = s.estimate;
      if (estimateUsd > 0 && actual.total > 0) {
        const err = Math.abs(Math.log(estimateUsd / actual.total));
        e.meanAbsLogError += (err - e.meanAbsLogError) / e.estimatedCalls;
      }
    }
  }

  /** Drops the tenth of entries with the least spend, as pg_stat_statements drops its least-used. */
  private evict(): void {
    const sorted = [...this.entries.entries()].sort((a, b) => a[1].actual.total - b[1].actual.total);
    for (const [k] of sorted.slice(0, Math.max(1, Math.floor(sorted.length / 10)))) this.entries.delete(k);
  }

  get(database: string, fingerprint: string): QueryCostEntry | undefined {
    return this.entries.get(shapeKey(database, fingerprint));
  }

  list(opts: { sort?: CostSortKey; limit?: number; database?: string } = {}): QueryCostEntry[] {
    const sort = opts.sort ?? 'actual';
    const by: Record<CostSortKey, (e: QueryCostEntry) => number> = {
      actual: (e) => e.actual.total,
      calls: (e) => e.calls,
      mean: (e) => e.actual.total / e.calls,
      error: (e) => e.meanAbsLogError,
    };
    const f = by[sort];
    return [...this.entries.values()]
      .filter((e) => opts.database === undefined || e.database === opts.database)
      .sort((a, b) => f(b) - f(a))
      .slice(0, opts.limit ?? 50);
  }

  get count(): number {
    return this.entries.size;
  }
}
