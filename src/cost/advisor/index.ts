// The optimization advisor: on demand, turns the cost engine's figures into advice that cuts
// cost: indexes validated by the planner (Dexter's rule, weighed against write cost), flags
// for scans that read more than they need, query rewrite hints, and hot/warm/cold tiering with
// the storage it would save. See index-advice.ts, scan-flags.ts and tiering.ts for the rules,
// whatif.ts for how candidates are validated without leaving anything behind.
//
// One run at a time: callers asking while one is under way share it. Each database gets a
// connection of its own for the run (never the engine's shared control connections, whose
// EXPLAINs must not see an uncommitted index or run inside the advisor's transactions),
// named heliosdb-advisor in pg_stat_activity, with a statement timeout on everything it runs.
// Progress is readable while it runs and logged at each step.
import { loadModule } from 'libpg-query';
import { connectControl, type ControlTarget } from '../../control-client.ts';
import type { QueryCostEntry, QueryCosts } from '../query-costs.ts';
import type { RateCard } from '../rate-card.ts';
import type { Advice, AdvisorProgress } from './advice.ts';
import { adviseDatabase, type DatabaseAdvice, type DatabaseAdviceOptions, type TableSnapshot } from './database-advice.ts';
import { S3_STANDARD_IA } from './tiering.ts';

export type { Advice, AdvisorProgress, IndexAdvice, TierAdvice } from './advice.ts';

export interface AdvisorOptions extends DatabaseAdviceOptions {
  /** Statement timeout of the advisor's connection (EXPLAINs, catalog reads). */
  statementTimeoutMs: number;
}

export const DEFAULT_ADVISOR_OPTIONS: AdvisorOptions = {
  topStatements: 20,
  maxCandidates: 30,
  maxValidateTableBytes: 64 * 1024 * 1024,
  lockTimeoutMs: 100,
  buildTimeoutMs: 5000,
  statementTimeoutMs: 5000,
  tieringTables: 50,
  coldStorage: S3_STANDARD_IA,
};

export interface AdvisorSources {
  queries: QueryCosts;
  card: RateCard;
  /** HeliosDB's own login to the upstream. */
  control: () => ControlTarget | undefined;
  log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

export class CostAdvisor {
  private running: Promise<Advice> | null = null;
  private latest: Advice | null = null;
  private state: AdvisorProgress | null = null;
  /** Per database: pg_stat_user_tables at the previous run, and the validation builds made since. */
  private readonly snapshots = new Map<string, TableSnapshot>();
  private readonly builds = new Map<string, ReadonlyMap<string, number>>();

  constructor(
    private readonly sources: AdvisorSources,
    readonly options: AdvisorOptions = DEFAULT_ADVISOR_OPTIONS,
  ) {}

  /** The run under way or the last one; null before the first. */
  get progress(): AdvisorProgress | null {
    return this.state && { ...this.state };
  }

  /** The last completed advice. */
  get last(): Advice | null {
    return this.latest;
  }

  /** Advice from a fresh run, or from the run already under way. */
  run(): Promise<Advice> {
    if (this.running) return this.running;
    const run = this.runOnce().finally(() => {
      if (this.running === run) this.running = null;
    });
    this.running = run;
    return run;
  }

  private async runOnce(): Promise<Advice> {
    const started = Date.now();
    const progress: AdvisorProgress = { running: true, startedAt: new Date(started).toISOString(), phase: 'reading', database: null, done: 0, total: 0 };
    this.state = progress;
    try {
      await loadModule();
      const byDatabase = new Map<string, QueryCostEntry[]>();
      for (const e of this.sources.queries.list({ limit: Number.MAX_SAFE_INTEGER })) {
        byDatabase.set(e.database, [...(byDatabase.get(e.database) ?? []), e]);
      }
      this.sources.log('info', 'advisor: started', { databases: byDatabase.size, shapes: this.sources.queries.count });
      const results: DatabaseAdvice[] = [];
      const notes: Advice['databases'] = [];
      let windowStart = started;
      for (const [database, entries] of byDatabase) {
        const start = Math.min(...entries.map((e) => e.firstSeen));
        windowStart = Math.min(windowStart, start);
        progress.database = database;
        progress.phase = 'reading';
        try {
          results.push(await this.adviseOne(database, entries, start, progress));
        } catch (err) {
          const message = (err as Error).message;
          this.sources.log('warn', 'advisor: could not advise on a database', { database, error: message });
          notes.push({ database, validation: 'none', statements: 0, candidates: 0, notes: [`no advice: ${message}`] });
        }
      }
      const byRank = { recommended: 0, rejected: 1, not_validated: 2 } as const;
      const advice: Advice = {
        generatedAt: new Date().toISOString(),
        durationMs: Date.now() - started,
        rateCard: this.sources.card.name,
        windowSeconds: Math.max(0, (started - windowStart) / 1000),
        databases: [...results.map((r) => r.note), ...notes],
        indexes: results.flatMap((r) => r.indexes).sort((a, b) => byRank[a.status] - byRank[b.status] || b.netSavingsUsd - a.netSavingsUsd),
        flags: results.flatMap((r) => r.flags),
        hints: results.flatMap((r) => r.hints),
        tiering: results.flatMap((r) => r.tiering).sort((a, b) => b.savingsUsdPerMonth - a.savingsUsdPerMonth || b.totalBytes - a.totalBytes),
      };
      this.latest = advice;
      Object.assign(progress, { running: false, phase: 'done', database: null });
      this.sources.log('info', 'advisor: done', {
        ms: advice.durationMs,
        recommended: advice.indexes.filter((i) => i.status === 'recommended').length,
        rejected: advice.indexes.filter((i) => i.status === 'rejected').length,
        notValidated: advice.indexes.filter((i) => i.status === 'not_validated').length,
        flags: advice.flags.length,
        hints: advice.hints.length,
        cold: advice.tiering.filter((t) => t.tier === 'cold').length,
      });
      return advice;
    } catch (err) {
      Object.assign(progress, { running: false, phase: 'failed', error: (err as Error).message });
      throw err;
    }
  }

  private async adviseOne(database: string, entries: QueryCostEntry[], windowStart: number, progress: AdvisorProgress): Promise<DatabaseAdvice> {
    const target = this.sources.control();
    if (!target) throw new Error('no control connection configured');
    const client = await connectControl({ ...target, database });
    const log = this.sources.log;
    try {
      await client.query(`SET application_name = 'heliosdb-advisor'; SET statement_timeout = ${Math.max(1, Math.floor(this.options.statementTimeoutMs))}; SET lock_timeout = ${Math.max(1, Math.floor(this.options.lockTimeoutMs))}`);
      const r = await adviseDatabase({
        database,
        client,
        entries,
        card: this.sources.card,
        options: this.options,
        windowStart,
        now: Date.now(),
        previous: this.snapshots.get(database),
        ownBuilds: this.builds.get(database) ?? new Map(),
        onPhase: (phase, done, total) => {
          if (progress.phase !== phase) log('info', `advisor: ${phase}`, { database, total });
          Object.assign(progress, { phase, done, total });
        },
      });
      this.snapshots.set(database, r.snapshot);
      this.builds.set(database, r.builds);
      return r;
    } finally {
      await client.end().catch(() => {});
    }
  }
}
