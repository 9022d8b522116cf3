// Flags for scans that cost more than their results need, and query rewrite hints, each raised
// only on evidence: the parse tree says what the statement asks for, the plan (EXPLAIN with the
// sampled execution's parameters) how PostgreSQL runs it, and the cost engine what its calls
// really returned and cost. Messages never quote a statement's values.
//
// Flags:
// - no_where_scan: a table of at least LARGE_TABLE_PAGES (10 MiB) that the statement reads with
//   no condition on it, as a sequential scan in the plan, and not stopped early by a LIMIT
//   without ORDER BY: every call reads the whole table.
// - unbounded_result: a SELECT without LIMIT that is not an aggregate, whose plan expects and
//   whose calls returned at least UNBOUNDED_ROWS rows per call on average.
// Hints:
// - deep_offset: OFFSET of at least DEEP_OFFSET in the sampled execution. PostgreSQL produces
//   and discards every skipped row, so each page costs more than the one before; keyset
//   pagination (WHERE (sort key) > (last seen) ORDER BY sort key LIMIT n) reads only the page.
// - not_in_subquery: NOT IN (SELECT ...). Because of its NULL semantics the planner cannot turn
//   it into an anti-join; it runs a hashed SubPlan, or re-runs the subquery per row when its
//   result outgrows work_mem. NOT EXISTS plans as a Hash Anti Join; the two agree when the
//   subquery's column has no NULLs.
// - select_star_wide: SELECT * from a table of WIDE_TABLE_COLUMNS or more columns, returning at
//   least WIDE_BYTES_PER_CALL bytes per call: naming the columns the caller needs cuts egress
//   and can allow index-only scans.
// - leading_wildcard_like: LIKE / ILIKE whose sampled pattern starts with a wildcard on a large
//   table. No B-tree can serve it; a trigram GIN index (pg_trgm, gin_trgm_ops) can.
import type { PlanNode } from '../plan-usage.ts';
import { resolveColumn } from './candidates.ts';
import type { TableInfo } from './catalog.ts';
import { quoteIdent } from './index-ddl.ts';
import { hasSubPlan, seqScans } from './plans.ts';
import { valueOf } from './sample.ts';
import type { StatementShape, TableRef } from './statement-shape.ts';

export const LARGE_TABLE_PAGES = 1280;
export const UNBOUNDED_ROWS = 1000;
export const DEEP_OFFSET = 1000;
export const WIDE_TABLE_COLUMNS = 12;
export const WIDE_BYTES_PER_CALL = 64 * 1024;

export type FlagKind = 'no_where_scan' | 'unbounded_result';
export type HintKind = 'deep_offset' | 'not_in_subquery' | 'select_star_wide' | 'leading_wildcard_like';

export interface Finding<K extends string> {
  kind: K;
  database: string;
  fingerprint: string;
  /** Normalized text ($n for values). */
  query: string;
  /** "schema.table" the finding is about, when one. */
  table: string | null;
  message: string;
  evidence: Record<string, number | string | boolean>;
}

export type ScanFlag = Finding<FlagKind>;
export type RewriteHint = Finding<HintKind>;

export interface ShapeEvidence {
  database: string;
  fingerprint: string;
  query: string;
  calls: number;
  usd: number;
  rowsPerCall: number;
  bytesPerCall: number;
  shape: StatementShape;
  params: readonly (string | null)[] | null;
  /** The plan with the sample's parameters; null when it could not be made. */
  plan: PlanNode | null;
  tableOf: (ref: TableRef) => TableInfo | undefined;
}

const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
const qualified = (t: TableInfo) => `${t.schema}.${t.name}`;

/** Top-level tables with no condition and no join condition on them. */
function unfilteredTables(e: ShapeEvidence): TableInfo[] {
  const filtered = new Set<number>();
  for (const p of e.shape.predicates) {
    const r = resolveColumn(p.column, e.tableOf);
    if (r) filtered.add(r.table.oid);
  }
  for (const pair of e.shape.joins) for (const c of pair) {
    const r = resolveColumn(c, e.tableOf);
    if (r) filtered.add(r.table.oid);
  }
  const out: TableInfo[] = [];
  for (const ref of e.shape.topTables) {
    const t = e.tableOf(ref);
    if (t && !filtered.has(t.oid) && !out.includes(t)) out.push(t);
  }
  return out;
}

function scansWhole(plan: PlanNode, t: TableInfo): boolean {
  return seqScans(plan).some((n) => n['Relation Name'] === t.name && (n.Schema === undefined || n.Schema === t.schema));
}

export function scanFlags(e: ShapeEvidence): ScanFlag[] {
  const out: ScanFlag[] = [];
  const s = e.shape;
  if (s.kind !== 'SELECT' || !e.plan) return out;
  const base = { database: e.database, fingerprint: e.fingerprint, query: e.query };
  const stopsEarly = s.limit !== undefined && s.orderBy.length === 0 && !s.aggregate;
  if (!stopsEarly) {
    for (const t of unfilteredTables(e)) {
      if (t.pages < LARGE_TABLE_PAGES || !scansWhole(e.plan, t)) continue;
      out.push({
        ...base,
        kind: 'no_where_scan',
        table: qualified(t),
        message: s.aggregate
          ? `reads all of ${qualified(t)} (${mib(t.heapBytes)} MiB) on every call to aggregate it: keep the result in a summary table or materialized view, or restrict it with a WHERE on an indexed column`
          : `reads all of ${qualified(t)} (${mib(t.heapBytes)} MiB) on every call with no WHERE: add a condition on an indexed column, or fetch only what the caller shows`,
        evidence: { tablePages: t.pages, tableRows: Math.max(0, Math.round(t.tuples)), calls: e.calls, usd: e.usd, usdPerCall: e.usd / e.calls, rowsPerCall: e.rowsPerCall, plan: 'Seq Scan' },
      });
    }
  }
  const planRows = e.plan['Plan Rows'] ?? 0;
  if (s.limit === undefined && !s.aggregate && e.rowsPerCall >= UNBOUNDED_ROWS && planRows >= UNBOUNDED_ROWS) {
    out.push({
      ...base,
      kind: 'unbounded_result',
      table: null,
      message: `returns ${Math.round(e.rowsPerCall)} rows (${Math.round(e.bytesPerCall / 1024)} KiB) per call with no LIMIT: page through it (LIMIT with keyset pagination) or aggregate in SQL`,
      evidence: { rowsPerCall: e.rowsPerCall, bytesPerCall: e.bytesPerCall, planRows, calls: e.calls, usd: e.usd },
    });
  }
  return out;
}

export function rewriteHints(e: ShapeEvidence): RewriteHint[] {
  const out: RewriteHint[] = [];
  const s = e.shape;
  const base = { database: e.database, fingerprint: e.fingerprint, query: e.query };
  const offset = Number(valueOf(s.offset, e.params));
  if (Number.isFinite(offset) && offset >= DEEP_OFFSET) {
    out.push({
      ...base,
      kind: 'deep_offset',
      table: null,
      message: `pages with a deep OFFSET (at least ${DEEP_OFFSET} rows skipped in the sampled call): every skipped row is read and thrown away; use keyset pagination (WHERE sort_key > last_seen ORDER BY sort_key LIMIT n) over an index on the sort key`,
      evidence: { offsetAtLeast: DEEP_OFFSET, calls: e.calls, usd: e.usd },
    });
  }
  if (s.notInSubquery.length) {
    out.push({
      ...base,
      kind: 'not_in_subquery',
      table: null,
      message: 'NOT IN (SELECT ...) cannot become an anti-join because of its NULL semantics; NOT EXISTS (SELECT 1 ... WHERE inner = outer) plans as a Hash Anti Join and returns the same rows when the subquery column has no NULLs',
      evidence: { subPlan: e.plan ? hasSubPlan(e.plan) : false, calls: e.calls, usd: e.usd },
    });
  }
  for (const ref of s.selectStar) {
    const t = e.tableOf(ref);
    if (!t || t.columns.size < WIDE_TABLE_COLUMNS || e.bytesPerCall < WIDE_BYTES_PER_CALL) continue;
    out.push({
      ...base,
      kind: 'select_star_wide',
      table: qualified(t),
      message: `SELECT * returns all ${t.columns.size} columns of ${qualified(t)} (${Math.round(e.bytesPerCall / 1024)} KiB per call): name only the columns the caller uses`,
      evidence: { columns: t.columns.size, bytesPerCall: e.bytesPerCall, calls: e.calls, usd: e.usd },
    });
  }
  for (const p of s.predicates) {
    if (p.op !== 'like' && p.op !== 'ilike') continue;
    const pattern = valueOf(p.value, e.params);
    const r = resolveColumn(p.column, e.tableOf);
    if (!r || typeof pattern !== 'string' || !/^[%_]/.test(pattern) || r.table.pages < LARGE_TABLE_PAGES) continue;
    const t = r.table;
    out.push({
      ...base,
      kind: 'leading_wildcard_like',
      table: qualified(t),
      message: `${p.op.toUpperCase()} on ${t.name}.${r.column} with a pattern that starts with a wildcard (in the sampled call) cannot use a B-tree; a trigram index can: CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX CONCURRENTLY ON ${quoteIdent(t.schema)}.${quoteIdent(t.name)} USING gin (${quoteIdent(r.column)} gin_trgm_ops)`,
      evidence: { tablePages: t.pages, calls: e.calls, usd: e.usd },
    });
  }
  return out;
}
