// Runs EXPLAIN for a statement on HeliosDB's own connection, with the parameters of the
// execution that asked for it, and reads the sizes of the relations the plan touches.
//
// Text-format Bind values are passed as they came (the server infers their types as it did for
// the client). Binary values cannot be re-sent as text, so such statements are planned with
// EXPLAIN (GENERIC_PLAN) (PostgreSQL 16+). A SQL EXECUTE is planned by preparing the session's
// PREPARE text on our connection first, inside one simple Query so nothing interleaves.
import type pg from 'pg';
import { planRelations, planUsage, relationKey, type PlanNode, type PlanUsage, type RelationSize } from './plan-usage.ts';

/** Something that can say what to EXPLAIN, asked only when a plan or a sample is needed. */
export interface ExplainSource {
  explainRequest(): ExplainRequest;
}

export interface ExplainRequest {
  database: string;
  /** One statement, as the client sent it (literals in place for the simple protocol). */
  text: string;
  /** Bind values (extended protocol); null is SQL NULL. */
  params?: readonly (Buffer | null)[];
  paramFormats?: readonly number[];
  /** For a SQL EXECUTE: the session's PREPARE statement that defined the name. */
  prepare?: string;
}

export function textParams(r: ExplainRequest): (string | null)[] | null {
  const params = r.params ?? [];
  const formats = r.paramFormats ?? [];
  const out: (string | null)[] = [];
  for (let i = 0; i < params.length; i++) {
    const v = params[i]!;
    // One format code applies to all parameters; none means text.
    const format = formats.length === 1 ? formats[0] : (formats[i] ?? 0);
    if (v !== null && format === 1) return null;
    out.push(v === null ? null : v.toString('utf8'));
  }
  return out;
}

function firstPlan(result: pg.QueryResult | pg.QueryResult[]): PlanNode {
  const results = Array.isArray(result) ? result : [result];
  for (const r of results) {
    const cell = r.rows?.[0]?.['QUERY PLAN'];
    if (cell !== undefined) {
      const doc = (typeof cell === 'string' ? JSON.parse(cell) : cell) as Array<{ Plan: PlanNode }>;
      return doc[0]!.Plan;
    }
  }
  throw new Error('EXPLAIN returned no plan');
}

export async function explainPlan(client: pg.Client, r: ExplainRequest, options = 'FORMAT JSON, VERBOSE'): Promise<PlanNode> {
  if (r.prepare !== undefined) {
    const res = await client.query(`DEALLOCATE ALL; ${r.prepare}; EXPLAIN (${options}) ${r.text}; DEALLOCATE ALL`);
    return firstPlan(res as unknown as pg.QueryResult[]);
  }
  const values = textParams(r);
  if (values === null) return firstPlan(await client.query(`EXPLAIN (GENERIC_PLAN, ${options}) ${r.text}`));
  return firstPlan(await client.query({ text: `EXPLAIN (${options}) ${r.text}`, values }));
}

export async function relationSizes(client: pg.Client, rels: Array<[string, string]>): Promise<Map<string, RelationSize>> {
  const sizes = new Map<string, RelationSize>();
  if (rels.length === 0) return sizes;
  const { rows } = await client.query<{ nspname: string; relname: string; relpages: number; reltuples: number }>(
    `SELECT n.nspname, c.relname, c.relpages, c.reltuples
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
    [rels.map((r) => r[0]), rels.map((r) => r[1])],
  );
  for (const row of rows) sizes.set(relationKey(row.nspname, row.relname), { pages: Number(row.relpages), tuples: Number(row.reltuples) });
  return sizes;
}

/** EXPLAIN plus relation sizes: the statement's estimated usage. */
export async function explainUsage(client: pg.Client, r: ExplainRequest): Promise<PlanUsage> {
  const plan = await explainPlan(client, r);
  return planUsage(plan, await relationSizes(client, planRelations(plan)));
}

/** Pages the statement really touched, from EXPLAIN (ANALYZE, BUFFERS) run read-only and rolled back. */
export async function measuredPages(client: pg.Client, r: ExplainRequest): Promise<number> {
  await client.query('BEGIN READ ONLY');
  try {
    const plan = (await explainPlan(client, r, 'ANALYZE, BUFFERS, FORMAT JSON')) as PlanNode & Record<string, number>;
    return (plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0);
  } finally {
    await client.query('ROLLBACK').catch(() => {});
  }
}
