// Index candidates from how statements use a table's columns, in the way Dexter builds them:
// every column a statement filters, joins or sorts on by itself, then multicolumn B-trees with
// the equality columns first (most distinct values first, so the index also serves statements
// filtering on its leading column alone), followed by one range column, the ORDER BY columns,
// or a join column. At most three columns. A candidate that an existing valid B-tree already
// starts with is dropped: the planner can use that index today.
import type { TableInfo } from './catalog.ts';
import type { ColumnUse, StatementShape, TableRef } from './statement-shape.ts';

export interface TableUse {
  table: number;
  /** Equality, IN and IS NULL columns. */
  eq: string[];
  range: string[];
  join: string[];
  /** ORDER BY columns, when they all belong to this table and sort one way. */
  order: string[];
}

export const MAX_INDEX_COLUMNS = 3;

const uniq = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

/** The table and column a use refers to, settled with the catalog; undefined when unknown. */
export function resolveColumn(c: ColumnUse, tableOf: (ref: TableRef) => TableInfo | undefined): { table: TableInfo; column: string } | undefined {
  const has = (t: TableInfo | undefined) => t !== undefined && (t.columns.size === 0 || t.columns.has(c.column));
  if (c.table) {
    const t = tableOf(c.table);
    return t && has(t) ? { table: t, column: c.column } : undefined;
  }
  for (const ref of c.among) {
    const t = tableOf(ref);
    if (t && t.columns.has(c.column)) return { table: t, column: c.column };
  }
  return undefined;
}

/** Per table (by oid), the columns the statement filters, joins and sorts on. */
export function tableUses(shape: StatementShape, tableOf: (ref: TableRef) => TableInfo | undefined): Map<number, TableUse> {
  const uses = new Map<number, TableUse>();
  const use = (t: TableInfo): TableUse => {
    let u = uses.get(t.oid);
    if (!u) uses.set(t.oid, (u = { table: t.oid, eq: [], range: [], join: [], order: [] }));
    return u;
  };
  for (const p of shape.predicates) {
    const r = resolveColumn(p.column, tableOf);
    if (!r) continue;
    if (p.op === 'eq' || p.op === 'in' || p.op === 'null') use(r.table).eq.push(r.column);
    else if (p.op === 'range') use(r.table).range.push(r.column);
  }
  for (const [a, b] of shape.joins) {
    const ra = resolveColumn(a, tableOf);
    const rb = resolveColumn(b, tableOf);
    if (!ra || !rb || ra.table.oid === rb.table.oid) continue;
    use(ra.table).join.push(ra.column);
    use(rb.table).join.push(rb.column);
  }
  const order = shape.orderBy.map((o) => ({ r: resolveColumn(o.column, tableOf), desc: o.desc }));
  const first = order[0]?.r;
  // A B-tree returns rows in its order (or the reverse): only a one-table, one-direction ORDER BY can use it.
  if (first && order.every((o) => o.r && o.r.table.oid === first.table.oid && o.desc === order[0]!.desc)) {
    use(first.table).order.push(...order.map((o) => o.r!.column));
  }
  for (const u of uses.values()) {
    u.eq = uniq(u.eq);
    u.range = uniq(u.range).filter((c) => !u.eq.includes(c));
    u.join = uniq(u.join);
    u.order = uniq(u.order);
  }
  return uses;
}

/** Equality columns, most distinct values first; ties keep the statement's order. */
function byDistinct(cols: readonly string[], table: TableInfo): string[] {
  return cols
    .map((c, i) => ({ c, i, d: table.columns.get(c) ?? 0 }))
    .sort((a, b) => b.d - a.d || a.i - b.i)
    .map((x) => x.c);
}

/** True when an existing valid, non-partial B-tree starts with exactly these columns. */
export function coveredByExisting(columns: readonly string[], table: TableInfo): boolean {
  return table.indexes.some(
    (ix) => ix.valid && !ix.partial && ix.method === 'btree' && columns.every((c, i) => ix.columns[i] === c),
  );
}

/** Candidate column lists for one statement's use of one table, deduplicated and not yet covered. */
export function buildCandidates(u: TableUse, table: TableInfo): string[][] {
  const eq = byDistinct(u.eq, table).slice(0, MAX_INDEX_COLUMNS);
  const lead = eq.slice(0, MAX_INDEX_COLUMNS - 1);
  const order = u.order.filter((c) => !lead.includes(c));
  const out: string[][] = [];
  for (const c of uniq([...eq, ...u.range, ...u.join, ...u.order.slice(0, 1)])) out.push([c]);
  if (eq.length >= 2) out.push(eq);
  if (lead.length && u.range.length) out.push([...lead, u.range[0]!]);
  if (order.length) out.push([...lead, ...order].slice(0, MAX_INDEX_COLUMNS));
  for (const j of u.join) if (lead.length && !lead.includes(j)) out.push([...lead, j]);
  const seen = new Set<string>();
  return out.filter((cols) => {
    const key = cols.join(',');
    if (cols.length === 0 || seen.has(key) || new Set(cols).size !== cols.length) return false;
    seen.add(key);
    if (table.columns.size && !cols.every((c) => table.columns.has(c))) return false;
    return !coveredByExisting(cols, table);
  });
}
