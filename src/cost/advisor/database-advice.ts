// The advisor's work on one database, over a connection of its own: read the shapes the cost
// engine priced (parse trees of their normalized text; the sampled executions of the costliest),
// the catalog of the tables they touch, today's plans with the sampled parameters; then index
// advice, scan flags and rewrite hints, and tiering.
import type pg from 'pg';
import type { PlanNode } from '../plan-usage.ts';
import type { QueryCostEntry } from '../query-costs.ts';
import type { RateCard } from '../rate-card.ts';
import type { DatabaseNote, IndexAdvice, TierAdvice } from './advice.ts';
import { listTables, loadTables, resolveTables, tableKey, type TableCounters, type TableInfo } from './catalog.ts';
import type { WriteShape } from './dexter.ts';
import { adviseIndexes, type PlannedStatement } from './index-advice.ts';
import { readSample } from './sample.ts';
import { rewriteHints, scanFlags, type RewriteHint, type ScanFlag } from './scan-flags.ts';
import { statementShape, type StatementShape, type TableRef } from './statement-shape.ts';
import { classifyTier, storageCosts, type ColdStoragePrice } from './tiering.ts';
import { currentPlan, HypoPgValidator, hypopgStatus, RollbackValidator, type WhatIfValidator } from './whatif.ts';

export interface DatabaseAdviceOptions {
  topStatements: number;
  maxCandidates: number;
  maxValidateTableBytes: number;
  lockTimeoutMs: number;
  buildTimeoutMs: number;
  tieringTables: number;
  coldStorage: ColdStoragePrice;
}

/** pg_stat_user_tables counters at one advisor run, per table oid. */
export interface TableSnapshot {
  at: number;
  counters: Map<number, TableCounters>;
}

export interface DatabaseAdviceInput {
  database: string;
  client: pg.Client;
  /** Every shape the cost engine priced in this database. */
  entries: readonly QueryCostEntry[];
  card: RateCard;
  options: DatabaseAdviceOptions;
  /** When the cost engine's figures for this database begin. */
  windowStart: number;
  now: number;
  previous: TableSnapshot | undefined;
  /** Validation builds per "schema.table" since `previous` was taken (each counted as a sequential scan). */
  ownBuilds: ReadonlyMap<string, number>;
  onPhase: (phase: 'planning' | 'validating' | 'tiering', done: number, total: number) => void;
}

export interface DatabaseAdvice {
  note: DatabaseNote;
  indexes: IndexAdvice[];
  flags: ScanFlag[];
  hints: RewriteHint[];
  tiering: TierAdvice[];
  snapshot: TableSnapshot;
  builds: ReadonlyMap<string, number>;
}

const WRITE_KINDS = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);
const PLANNED_KINDS = new Set(['SELECT', 'UPDATE', 'DELETE']);

export async function adviseDatabase(input: DatabaseAdviceInput): Promise<DatabaseAdvice> {
  const { database, client, options } = input;
  const notes: string[] = [];
  const shapes = input.entries.map((entry) => ({ entry, shape: statementShape(entry.query) }));
  // The costliest shapes with a sampled execution (statements the engine can EXPLAIN; DDL has none).
  const top = input.entries.filter((e) => e.sample).sort((a, b) => b.actual.total - a.actual.total).slice(0, options.topStatements);
  const sampled = top.flatMap((entry) => {
    const s = readSample(database, entry.sample!);
    return s ? [{ entry, sampled: s }] : [];
  });

  const refs: TableRef[] = [];
  const addRefs = (s: StatementShape | undefined) => {
    if (s) refs.push(...s.tables, ...(s.target ? [s.target] : []));
  };
  for (const s of shapes) addRefs(s.shape);
  for (const s of sampled) addRefs(s.sampled.shape);
  const oidOf = await resolveTables(client, refs);
  const tables = await loadTables(client, [...new Set(oidOf.values())]);
  const tableOf = (ref: TableRef): TableInfo | undefined => {
    const oid = oidOf.get(tableKey(ref));
    return oid === undefined ? undefined : tables.get(oid);
  };
  // Read before any validation build, which counts as a scan of its table.
  const listed = await listTables(client, options.tieringTables);

  input.onPhase('planning', 0, sampled.length);
  const planned: PlannedStatement[] = [];
  const plans = new Map<QueryCostEntry, PlanNode | null>();
  for (const s of sampled) {
    let plan: PlanNode | null = null;
    if (PLANNED_KINDS.has(s.sampled.shape.kind)) plan = await currentPlan(client, s.sampled.explain).catch(() => null);
    plans.set(s.entry, plan);
    if (plan) planned.push({ ...s, plan });
  }

  const writes = new Map<number, WriteShape[]>();
  for (const { entry, shape } of shapes) {
    if (!shape?.target || !WRITE_KINDS.has(shape.kind)) continue;
    const t = tableOf(shape.target);
    if (!t) continue;
    writes.set(t.oid, [...(writes.get(t.oid) ?? []), { kind: shape.kind as WriteShape['kind'], usd: entry.actual.total, setColumns: shape.setColumns }]);
  }
  const serverRowsWritten = new Map<number, number>();
  if (input.previous) {
    for (const t of listed) {
      const before = input.previous.counters.get(t.oid);
      if (before && t.counters) serverRowsWritten.set(t.oid, rowsWritten(t.counters) - rowsWritten(before));
    }
  }

  const hypopg = await hypopgStatus(client).catch(() => 'absent' as const);
  let validator: WhatIfValidator;
  let rollback: RollbackValidator | undefined;
  if (hypopg === 'installed') validator = new HypoPgValidator(client);
  else {
    validator = rollback = new RollbackValidator(client, { lockTimeoutMs: options.lockTimeoutMs, buildTimeoutMs: options.buildTimeoutMs });
    if (hypopg === 'available') notes.push('HypoPG is available on this server but not installed in this database; with CREATE EXTENSION hypopg the advisor validates without building indexes');
    notes.push(`validation builds each candidate in a rolled-back transaction, on tables up to ${Math.round(options.maxValidateTableBytes / 1024 / 1024)} MiB (lock timeout ${options.lockTimeoutMs} ms, build timeout ${options.buildTimeoutMs} ms)`);
  }
  const windowSeconds = Math.max(0, (input.now - input.windowStart) / 1000);
  const { advice: indexes, candidates } = await adviseIndexes({
    database,
    client,
    validator,
    statements: planned,
    writes,
    serverRowsWritten,
    tables,
    tableOf,
    maxCandidates: options.maxCandidates,
    maxValidateTableBytes: options.maxValidateTableBytes,
    windowSeconds,
    onProgress: (done, total) => input.onPhase('validating', done, total),
  });

  const flags: ScanFlag[] = [];
  const hints: RewriteHint[] = [];
  for (const { entry, sampled: s } of sampled) {
    const evidence = {
      database,
      fingerprint: entry.fingerprint,
      query: entry.query,
      calls: entry.calls,
      usd: entry.actual.total,
      rowsPerCall: entry.rows / entry.calls,
      bytesPerCall: entry.bytes / entry.calls,
      shape: s.shape,
      params: s.params,
      plan: plans.get(entry) ?? null,
      tableOf,
    };
    flags.push(...scanFlags(evidence));
    hints.push(...rewriteHints(evidence));
  }

  input.onPhase('tiering', 0, listed.length);
  const tiering = tierTables(input, listed, shapes, tableOf, windowSeconds);
  return {
    note: { database, validation: validator.method, statements: planned.length, candidates, notes },
    indexes,
    flags,
    hints,
    tiering,
    snapshot: { at: input.now, counters: new Map(listed.flatMap((t) => (t.counters ? [[t.oid, t.counters] as const] : []))) },
    builds: rollback?.builds ?? new Map(),
  };
}

const rowsWritten = (c: TableCounters) => c.inserted + c.updated + c.deleted;

function tierTables(
  input: DatabaseAdviceInput,
  listed: readonly TableInfo[],
  shapes: ReadonlyArray<{ entry: QueryCostEntry; shape: StatementShape | undefined }>,
  tableOf: (ref: TableRef) => TableInfo | undefined,
  windowSeconds: number,
): TierAdvice[] {
  const reads = new Map<number, number>();
  const writes = new Map<number, number>();
  const add = (m: Map<number, number>, t: TableInfo | undefined, n: number) => t && m.set(t.oid, (m.get(t.oid) ?? 0) + n);
  for (const { entry, shape } of shapes) {
    if (!shape) continue;
    const target = shape.target && tableOf(shape.target);
    if (target && WRITE_KINDS.has(shape.kind)) add(writes, target, entry.calls);
    for (const t of new Set(shape.tables.map(tableOf))) if (t !== target) add(reads, t, entry.calls);
  }
  const prev = input.previous;
  const serverWindow = prev ? (input.now - prev.at) / 1000 : null;
  const { card } = input;
  const cold = input.options.coldStorage;
  return listed.map((t): TierAdvice => {
    const before = prev?.counters.get(t.oid);
    const c = t.counters;
    const builds = input.ownBuilds.get(`${t.schema}.${t.name}`) ?? 0;
    const scans = c ? c.seqScan + c.idxScan : 0;
    const verdict = classifyTier({
      proxyReads: reads.get(t.oid) ?? 0,
      proxyWrites: writes.get(t.oid) ?? 0,
      proxyWindowSeconds: windowSeconds,
      serverScans: prev ? (before && c ? scans - before.seqScan - before.idxScan - builds : 0) : null,
      serverRowsWritten: prev ? (before && c ? rowsWritten(c) - rowsWritten(before) : 0) : null,
      serverWindowSeconds: serverWindow,
      scannedInWindow: !prev && c !== null && Math.max(c.lastSeqScan ?? 0, c.lastIdxScan ?? 0) >= input.windowStart,
    });
    const costs = storageCosts(t.totalBytes, card, cold);
    const savings = verdict.tier === 'cold' ? costs.savingsUsdPerMonth : 0;
    const hours = Math.round((Math.max(windowSeconds, serverWindow ?? 0) / 3600) * 10) / 10;
    const name = `${t.schema}.${t.name}`;
    const message =
      verdict.tier === 'cold'
        ? `no reads or writes in ${hours} h of observation: moving its ${mib(t.totalBytes)} MiB to ${cold.name} (e.g. exported as Parquet, read back through a foreign table) would save $${savings.toFixed(4)} per month${hours < 24 * 7 ? '; a window under a week makes this tentative' : ''}`
        : verdict.tier === 'hot'
          ? `${Math.round(verdict.readsPerHour + verdict.writesPerHour)} accesses per hour: keep it in ${card.name} storage`
          : `accessed ${(verdict.readsPerHour + verdict.writesPerHour).toFixed(1)} times per hour: keep it; a candidate for cold storage if that drops to none`;
    return {
      database: input.database,
      schema: t.schema,
      table: t.name,
      tier: verdict.tier,
      totalBytes: t.totalBytes,
      readsPerHour: verdict.readsPerHour,
      writesPerHour: verdict.writesPerHour,
      windowSeconds: Math.max(windowSeconds, serverWindow ?? 0),
      storageUsdPerMonth: costs.storageUsdPerMonth,
      coldStorage: cold.name,
      coldUsdPerMonth: costs.coldUsdPerMonth,
      savingsUsdPerMonth: savings,
      message: `${name}: ${message}`,
    };
  });
}

const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
