// From the costliest statements of one database to index advice: candidates from each
// statement's parse tree, each validated by the planner (whatif.ts) against every sampled
// statement that uses its table, Dexter's rule and the write weighing (dexter.ts), and the
// CREATE INDEX CONCURRENTLY statement for each recommendation.
import type pg from 'pg';
import type { PlanNode } from '../plan-usage.ts';
import type { QueryCostEntry } from '../query-costs.ts';
import type { IndexAdvice, IndexStatementEffect } from './advice.ts';
import { buildCandidates, tableUses } from './candidates.ts';
import { relationNames, type TableInfo } from './catalog.ts';
import { chooseIndexes, halvesCost, reduction, writeOverheadUsd, type StatementOutcomes, type WriteShape } from './dexter.ts';
import { createIndexSql, indexName, type IndexDefinition } from './index-ddl.ts';
import { planCost } from './plans.ts';
import type { SampledStatement } from './sample.ts';
import type { TableRef } from './statement-shape.ts';
import type { WhatIfValidator } from './whatif.ts';

const MONTH_SECONDS = 30 * 86_400;
const REJECTED_PER_TABLE = 3;
const pct = (r: number) => Math.round(r * 1000) / 10;

export interface PlannedStatement {
  entry: QueryCostEntry;
  sampled: SampledStatement;
  plan: PlanNode;
}

export interface IndexAdviceInput {
  database: string;
  client: pg.Client;
  validator: WhatIfValidator;
  statements: readonly PlannedStatement[];
  /** Per table oid, the write shapes the cost engine priced on it. */
  writes: ReadonlyMap<number, readonly WriteShape[]>;
  /** Per table oid, rows written since the advisor's previous run (pg_stat_user_tables); absent on a first run. */
  serverRowsWritten: ReadonlyMap<number, number>;
  tables: ReadonlyMap<number, TableInfo>;
  tableOf: (ref: TableRef) => TableInfo | undefined;
  maxCandidates: number;
  /** Rollback validation only builds on tables up to this many heap bytes. */
  maxValidateTableBytes: number;
  windowSeconds: number;
  onProgress: (done: number, total: number) => void;
}

interface Candidate {
  key: string;
  table: TableInfo;
  def: IndexDefinition;
  /** Dollars of the statements it came from: the order candidates are tried in. */
  weight: number;
  failure?: string;
}

export async function adviseIndexes(input: IndexAdviceInput): Promise<{ advice: IndexAdvice[]; candidates: number }> {
  const { statements, tables } = input;
  const candidates = new Map<string, Candidate>();
  /** Per table oid, the positions in `statements` of those that use it. */
  const users = new Map<number, Set<number>>();
  statements.forEach((s, i) => {
    for (const [oid, use] of tableUses(s.sampled.shape, input.tableOf)) {
      const table = tables.get(oid);
      if (!table) continue;
      let u = users.get(oid);
      if (!u) users.set(oid, (u = new Set()));
      u.add(i);
      for (const columns of buildCandidates(use, table)) {
        const key = `${oid}:${columns.join(',')}`;
        const c = candidates.get(key) ?? { key, table, def: { schema: table.schema, table: table.name, columns }, weight: 0 };
        c.weight += s.entry.actual.total;
        candidates.set(key, c);
      }
    }
  });
  const tried = [...candidates.values()].sort((a, b) => b.weight - a.weight || (a.key < b.key ? -1 : 1)).slice(0, input.maxCandidates);

  const outcomes = new Map<string, StatementOutcomes>();
  const outcome = (i: number, oid: number): StatementOutcomes => {
    const id = `${i}@${oid}`;
    let o = outcomes.get(id);
    if (!o) outcomes.set(id, (o = { id, before: planCost(statements[i]!.plan), withIndex: new Map() }));
    return o;
  };
  let done = 0;
  input.onProgress(0, tried.length);
  for (const c of tried) {
    const on = [...(users.get(c.table.oid) ?? [])];
    if (input.validator.method === 'rollback' && c.table.heapBytes > input.maxValidateTableBytes) {
      c.failure = `the table is ${mib(c.table.heapBytes)} MiB, above the ${mib(input.maxValidateTableBytes)} MiB up to which the advisor validates by building the index in a rolled-back transaction (install HypoPG to validate without building)`;
    } else {
      const r = await input.validator.evaluate(c.def, on.map((i) => statements[i]!.sampled.explain));
      if (!r.ok) c.failure = r.reason;
      else r.plans.forEach((p, j) => p && outcome(on[j]!, c.table.oid).withIndex.set(c.key, { after: p.cost, used: p.used }));
    }
    input.onProgress(++done, tried.length);
  }

  const columnsOf = (key: string) => candidates.get(key)!.def.columns;
  const chosen = chooseIndexes([...outcomes.values()], columnsOf);
  const byKey = new Map<string, string[]>();
  for (const [id, key] of chosen) byKey.set(key, [...(byKey.get(key) ?? []), id]);

  const advice: IndexAdvice[] = [];
  for (const [key, ids] of byKey) {
    const c = candidates.get(key)!;
    const effects = ids.map((id) => effect(statements[Number(id.split('@')[0])]!, outcomes.get(id)!, key));
    const readSavingsUsd = ids.reduce((sum, id) => {
      const o = outcomes.get(id)!;
      return sum + statements[Number(id.split('@')[0])]!.entry.actual.total * reduction(o.before, o.withIndex.get(key)!.after);
    }, 0);
    advice.push(await recommendation(input, c, effects, readSavingsUsd));
  }
  for (const table of new Set(tried.map((c) => c.table))) {
    const rest = tried.filter((c) => c.table === table && !byKey.has(c.key));
    const scored = rest.map((c) => ({ c, best: bestReduction(c.key, outcomes) })).sort((a, b) => (b.best ?? -1) - (a.best ?? -1));
    for (const { c, best } of scored.filter((x) => !x.c.failure).slice(0, REJECTED_PER_TABLE)) advice.push(rejected(input, c, outcomes, best));
    // One "not validated" line per table and reason is enough.
    const reasons = new Set<string>();
    for (const { c } of scored.filter((x) => x.c.failure)) {
      if (reasons.has(c.failure!)) continue;
      reasons.add(c.failure!);
      advice.push(notValidated(input, c));
    }
  }
  return { advice, candidates: tried.length };
}

const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

function effect(s: PlannedStatement, o: StatementOutcomes, key: string): IndexStatementEffect {
  const after = o.withIndex.get(key)?.after ?? null;
  return {
    fingerprint: s.entry.fingerprint,
    query: s.entry.query,
    calls: s.entry.calls,
    usd: s.entry.actual.total,
    planCostBefore: o.before,
    planCostAfter: after,
    reductionPct: after === null ? null : pct(reduction(o.before, after)),
  };
}

function bestReduction(key: string, outcomes: ReadonlyMap<string, StatementOutcomes>): number | null {
  let best: number | null = null;
  for (const o of outcomes.values()) {
    const w = o.withIndex.get(key);
    if (w?.used) best = Math.max(best ?? 0, reduction(o.before, w.after));
  }
  return best;
}

function base(input: IndexAdviceInput, c: Candidate, name: string): Omit<IndexAdvice, 'status' | 'reason' | 'statements' | 'bestReductionPct' | 'readSavingsUsd' | 'writeOverheadUsd' | 'netSavingsUsd' | 'netSavingsUsdPerMonth'> {
  const writes = input.writes.get(c.table.oid) ?? [];
  return {
    database: input.database,
    schema: c.table.schema,
    table: c.table.name,
    columns: [...c.def.columns],
    name,
    statement: createIndexSql(c.def, name),
    validation: c.failure ? 'none' : input.validator.method,
    writes: {
      statements: writes.length,
      usd: writes.reduce((s, w) => s + w.usd, 0),
      existingIndexes: c.table.indexes.length,
      hotUpdateRatio: hotRatio(c.table),
      unpricedServerWrites: writes.length === 0 && (input.serverRowsWritten.get(c.table.oid) ?? 0) > 0,
    },
  };
}

function hotRatio(t: TableInfo): number {
  const c = t.counters;
  return c && c.updated > 0 ? c.hotUpdated / c.updated : 0;
}

async function recommendation(input: IndexAdviceInput, c: Candidate, effects: IndexStatementEffect[], readSavingsUsd: number): Promise<IndexAdvice> {
  const plain = indexName(c.def);
  const taken = await relationNames(input.client, c.table.schema, [plain]);
  const b = base(input, c, indexName(c.def, taken));
  const writeOverhead = writeOverheadUsd(input.writes.get(c.table.oid) ?? [], c.def.columns, c.table.indexes.length, b.writes.hotUpdateRatio);
  const net = readSavingsUsd - writeOverhead;
  const best = Math.max(...effects.map((e) => e.reductionPct ?? 0));
  const recommended = net > 0;
  return {
    ...b,
    status: recommended ? 'recommended' : 'rejected',
    reason: recommended
      ? `cuts the estimated plan cost of ${effects.length} statement(s) by up to ${best}% (Dexter's rule: at least 50%), saving more on reads than it adds to writes`
      : `cuts plan cost by up to ${best}%, but the extra write cost on this table (${fmt(writeOverhead)}) exceeds what reads would save (${fmt(readSavingsUsd)})`,
    bestReductionPct: best,
    statements: effects,
    readSavingsUsd,
    writeOverheadUsd: writeOverhead,
    netSavingsUsd: net,
    netSavingsUsdPerMonth: input.windowSeconds > 0 ? (net * MONTH_SECONDS) / input.windowSeconds : 0,
  };
}

function rejected(input: IndexAdviceInput, c: Candidate, outcomes: ReadonlyMap<string, StatementOutcomes>, best: number | null): IndexAdvice {
  const effects: IndexStatementEffect[] = [];
  let halvesSome = false;
  for (const [id, o] of outcomes) {
    const w = o.withIndex.get(c.key);
    if (!w?.used) continue;
    const s = input.statements[Number(id.split('@')[0])]!;
    if (halvesCost(o.before, w)) halvesSome = true;
    effects.push(effect(s, o, c.key));
  }
  const reason =
    best === null
      ? 'the planner would not use it for any of the statements'
      : halvesSome
        ? 'another candidate serves the same statements as well or better'
        : `the best plan cost reduction is ${pct(best)}%, below Dexter's 50% rule`;
  return {
    ...base(input, c, indexName(c.def)),
    status: 'rejected',
    reason,
    bestReductionPct: best === null ? null : pct(best),
    statements: effects,
    readSavingsUsd: 0,
    writeOverheadUsd: 0,
    netSavingsUsd: 0,
    netSavingsUsdPerMonth: 0,
  };
}

function notValidated(input: IndexAdviceInput, c: Candidate): IndexAdvice {
  return {
    ...base(input, c, indexName(c.def)),
    status: 'not_validated',
    reason: `not validated, so not recommended: ${c.failure}`,
    bestReductionPct: null,
    statements: [],
    readSavingsUsd: 0,
    writeOverheadUsd: 0,
    netSavingsUsd: 0,
    netSavingsUsdPerMonth: 0,
  };
}

function fmt(usd: number): string {
  return `$${usd.toPrecision(3)}`;
}
