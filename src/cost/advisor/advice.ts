// The advisor's answer, as the API, SHOW helios.advice and `helios cost advice` give it. Queries
// appear as normalized text ($n for values) and fingerprints; sampled values never do.
import type { RewriteHint, ScanFlag } from './scan-flags.ts';
import type { Tier } from './tiering.ts';
import type { ValidationMethod } from './whatif.ts';

export interface IndexStatementEffect {
  fingerprint: string;
  query: string;
  calls: number;
  /** Dollars the cost engine charged for the shape's calls in its window. */
  usd: number;
  planCostBefore: number;
  planCostAfter: number | null;
  reductionPct: number | null;
}

export interface IndexAdvice {
  status: 'recommended' | 'rejected' | 'not_validated';
  database: string;
  schema: string;
  table: string;
  columns: string[];
  name: string;
  /** CREATE INDEX CONCURRENTLY ...; run it outside a transaction block. */
  statement: string;
  validation: ValidationMethod | 'none';
  reason: string;
  /** Largest plan cost reduction among the statements, in percent. */
  bestReductionPct: number | null;
  statements: IndexStatementEffect[];
  /** Over the cost engine's window: what the statements would have saved, what writes would have cost more, the balance. */
  readSavingsUsd: number;
  writeOverheadUsd: number;
  netSavingsUsd: number;
  /** The balance extrapolated to 30 days at the window's rate. */
  netSavingsUsdPerMonth: number;
  writes: {
    statements: number;
    usd: number;
    existingIndexes: number;
    hotUpdateRatio: number;
    /** pg_stat_user_tables shows writes to the table but the proxy priced none: their overhead is not counted. */
    unpricedServerWrites: boolean;
  };
}

export interface TierAdvice {
  database: string;
  schema: string;
  table: string;
  tier: Tier;
  totalBytes: number;
  readsPerHour: number;
  writesPerHour: number;
  /** Seconds of observation behind the verdict. */
  windowSeconds: number;
  storageUsdPerMonth: number;
  coldStorage: string;
  coldUsdPerMonth: number;
  /** For cold tables: storage minus cold storage; 0 otherwise. */
  savingsUsdPerMonth: number;
  message: string;
}

export interface DatabaseNote {
  database: string;
  validation: ValidationMethod | 'none';
  /** Statements with a sampled execution among the costliest, and index candidates tried. */
  statements: number;
  candidates: number;
  notes: string[];
}

export interface Advice {
  generatedAt: string;
  durationMs: number;
  rateCard: string;
  /** Seconds of cost engine figures the advice rests on (since the first statement it priced). */
  windowSeconds: number;
  databases: DatabaseNote[];
  indexes: IndexAdvice[];
  flags: ScanFlag[];
  hints: RewriteHint[];
  tiering: TierAdvice[];
}

export interface AdvisorProgress {
  running: boolean;
  startedAt: string;
  phase: 'reading' | 'planning' | 'validating' | 'tiering' | 'done' | 'failed';
  database: string | null;
  /** Index candidates validated so far, of all found. */
  done: number;
  total: number;
  error?: string;
}
