// What the advisor reads from the server's catalog about the tables it looks at: size, columns
// with their distinct-value estimates (pg_stats), existing indexes, and the access counters of
// pg_stat_user_tables. Read on the advisor's own connection; nothing here changes the server.
import type pg from 'pg';
import type { TableRef } from './statement-shape.ts';

export interface ExistingIndex {
  name: string;
  method: string;
  /** Key columns in order; null for an expression. */
  columns: (string | null)[];
  partial: boolean;
  valid: boolean;
}

export interface TableCounters {
  seqScan: number;
  idxScan: number;
  lastSeqScan: number | null;
  lastIdxScan: number | null;
  inserted: number;
  updated: number;
  hotUpdated: number;
  deleted: number;
}

export interface TableInfo {
  oid: number;
  schema: string;
  name: string;
  /** pg_class estimates: 8 KiB pages and rows (-1 when never analyzed or vacuumed). */
  pages: number;
  tuples: number;
  heapBytes: number;
  /** Heap, TOAST and indexes. */
  totalBytes: number;
  /** Column name → estimated distinct values (null when pg_stats has none). */
  columns: Map<string, number | null>;
  indexes: ExistingIndex[];
  counters: TableCounters | null;
}

export const tableKey = (t: Pick<TableRef, 'schema' | 'name'>): string => `${t.schema ?? ''}.${t.name}`;

/** The tables `refs` name, resolved through the connection's search_path; unknown names are left out. */
export async function resolveTables(client: pg.Client, refs: readonly TableRef[]): Promise<Map<string, number>> {
  const keys = [...new Map(refs.map((r) => [tableKey(r), r])).values()];
  const out = new Map<string, number>();
  if (keys.length === 0) return out;
  const { rows } = await client.query<{ i: number; oid: number | null }>(
    `SELECT i, to_regclass(CASE WHEN s = '' THEN quote_ident(n) ELSE quote_ident(s) || '.' || quote_ident(n) END)::oid AS oid
       FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(s, n, i)`,
    [keys.map((k) => k.schema ?? ''), keys.map((k) => k.name)],
  );
  for (const r of rows) if (r.oid !== null) out.set(tableKey(keys[Number(r.i) - 1]!), Number(r.oid));
  return out;
}

const TABLES = `
  SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relpages AS pages, c.reltuples AS tuples,
         pg_relation_size(c.oid) AS heap_bytes, pg_total_relation_size(c.oid) AS total_bytes,
         s.seq_scan, s.idx_scan, s.last_seq_scan, s.last_idx_scan, s.n_tup_ins, s.n_tup_upd, s.n_tup_hot_upd, s.n_tup_del
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
   WHERE c.relkind IN ('r', 'p', 'm')`;

interface TableRow {
  oid: number;
  schema: string;
  name: string;
  pages: number;
  tuples: number;
  heap_bytes: string;
  total_bytes: string;
  seq_scan: string | null;
  idx_scan: string | null;
  last_seq_scan: Date | null;
  last_idx_scan: Date | null;
  n_tup_ins: string | null;
  n_tup_upd: string | null;
  n_tup_hot_upd: string | null;
  n_tup_del: string | null;
}

function tableFrom(r: TableRow): TableInfo {
  return {
    oid: Number(r.oid),
    schema: r.schema,
    name: r.name,
    pages: Number(r.pages),
    tuples: Number(r.tuples),
    heapBytes: Number(r.heap_bytes),
    totalBytes: Number(r.total_bytes),
    columns: new Map(),
    indexes: [],
    counters:
      r.seq_scan === null && r.n_tup_ins === null
        ? null
        : {
            seqScan: Number(r.seq_scan ?? 0),
            idxScan: Number(r.idx_scan ?? 0),
            lastSeqScan: r.last_seq_scan ? r.last_seq_scan.getTime() : null,
            lastIdxScan: r.last_idx_scan ? r.last_idx_scan.getTime() : null,
            inserted: Number(r.n_tup_ins ?? 0),
            updated: Number(r.n_tup_upd ?? 0),
            hotUpdated: Number(r.n_tup_hot_upd ?? 0),
            deleted: Number(r.n_tup_del ?? 0),
          },
  };
}

/** Size, columns, indexes and counters of the given tables. */
export async function loadTables(client: pg.Client, oids: readonly number[]): Promise<Map<number, TableInfo>> {
  const out = new Map<number, TableInfo>();
  if (oids.length === 0) return out;
  const { rows } = await client.query<TableRow>(`${TABLES} AND c.oid = ANY($1::oid[])`, [oids]);
  for (const r of rows) out.set(Number(r.oid), tableFrom(r));
  const cols = await client.query<{ oid: number; name: string; n_distinct: number | null }>(
    `SELECT a.attrelid::int AS oid, a.attname AS name, s.n_distinct
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = a.attname
      WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [oids],
  );
  for (const r of cols.rows) {
    const t = out.get(Number(r.oid));
    if (!t) continue;
    // pg_stats: a positive n_distinct is a count, a negative one minus a fraction of the rows.
    const nd = r.n_distinct === null ? null : Number(r.n_distinct);
    t.columns.set(r.name, nd === null ? null : nd >= 0 ? nd : -nd * Math.max(t.tuples, 0));
  }
  const idx = await client.query<{ oid: number; name: string; method: string; columns: (string | null)[]; partial: boolean; valid: boolean }>(
    `SELECT i.indrelid::int AS oid, ic.relname AS name, am.amname AS method, i.indisvalid AS valid, i.indpred IS NOT NULL AS partial,
            array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                    LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0
                   WHERE k.ord <= i.indnkeyatts ORDER BY k.ord) AS columns
       FROM pg_index i
       JOIN pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_am am ON am.oid = ic.relam
      WHERE i.indrelid = ANY($1::oid[])`,
    [oids],
  );
  for (const r of idx.rows) out.get(Number(r.oid))?.indexes.push({ name: r.name, method: r.method, columns: r.columns, partial: r.partial, valid: r.valid });
  return out;
}

/** Every user table of the database, largest first (for tiering): size and counters only. */
export async function listTables(client: pg.Client, limit: number): Promise<TableInfo[]> {
  const { rows } = await client.query<TableRow>(
    `${TABLES} AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'helios') AND n.nspname NOT LIKE 'pg\\_%'
      ORDER BY pg_total_relation_size(c.oid) DESC LIMIT $1`,
    [limit],
  );
  return rows.map(tableFrom);
}

/** Relation names taken in a schema, so a new index name does not clash. */
export async function relationNames(client: pg.Client, schema: string, names: readonly string[]): Promise<Set<string>> {
  if (names.length === 0) return new Set();
  const { rows } = await client.query<{ relname: string }>(
    `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = ANY($2::text[])`,
    [schema, names],
  );
  return new Set(rows.map((r) => r.relname));
}
