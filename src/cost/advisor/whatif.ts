// Asking the planner what a statement would cost with an index that does not exist.
//
// HypoPG, when the database has the extension installed: hypopg_create_index() makes a
// hypothetical index visible to this session's planner only; plain EXPLAIN then prices the
// statement with it, and hypopg_drop_index() forgets it. Nothing is built, nothing is locked
// beyond what planning takes. (This path is not exercised by the test suite here: the embedded
// PostgreSQL 18 builds do not ship HypoPG.)
//
// Without HypoPG, the rollback validation: on the advisor's own connection,
//   BEGIN; SET LOCAL lock_timeout = 100ms; SET LOCAL statement_timeout = <build cap>;
//   CREATE INDEX (not CONCURRENTLY) ...; EXPLAIN (FORMAT JSON) each statement with its real
//   parameters; ROLLBACK.
// The index is real but uncommitted: no other session can see or use it, and the rollback
// removes it and its files; a connection lost midway aborts the transaction just the same.
// The trade-off: CREATE INDEX takes a SHARE lock, which lets reads through but blocks INSERT,
// UPDATE and DELETE on that one table until the rollback, so the advisor only does this on
// tables below a size cap (AdvisorOptions.maxValidateTableBytes, 64 MiB by default: a build of
// well under a second on ordinary hardware), gives up on the lock after 100 ms rather than
// queue behind (and in front of) writers, and cancels a build that outlasts the cap. Larger
// tables are reported "not validated" and never recommended. The build also reads the table
// once (counted as a sequential scan in pg_stat_user_tables) and writes the index's pages to
// WAL before the rollback discards them, and PostgreSQL updates the table's pg_class row in
// place, outside the transaction, on purpose (index_update_stats): relpages and reltuples take
// their true current values, as after a VACUUM, and relhasindex may become true.
//
// One more catch: when the build meets rows recently updated in place (broken HOT chains),
// PostgreSQL marks the index usable only by transactions that start after it (indcheckxmin),
// which excludes the one that built it. That candidate is then "not validated" too.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { explainPlan, type ExplainRequest } from '../explain.ts';
import { createIndexSql, quoteIdent, type IndexDefinition } from './index-ddl.ts';
import { planCost, usesIndex } from './plans.ts';

export type ValidationMethod = 'hypopg' | 'rollback';

export interface PlanWith {
  cost: number;
  used: boolean;
}

export type WhatIfResult =
  /** Per statement, the plan with the index; null when that statement could not be planned. */
  | { ok: true; plans: (PlanWith | null)[] }
  | { ok: false; reason: string };

export interface WhatIfValidator {
  readonly method: ValidationMethod;
  evaluate(def: IndexDefinition, statements: readonly ExplainRequest[]): Promise<WhatIfResult>;
}

/** Whether HypoPG is installed in the connection's database, or only available to install. */
export async function hypopgStatus(client: pg.Client): Promise<'installed' | 'available' | 'absent'> {
  const { rows } = await client.query<{ installed: boolean; available: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'hypopg') AS installed,
            EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg') AS available`,
  );
  return rows[0]?.installed ? 'installed' : rows[0]?.available ? 'available' : 'absent';
}

/** The plan's total cost today, with the statement's real parameters. */
export async function currentPlan(client: pg.Client, r: ExplainRequest) {
  return explainPlan(client, r, 'FORMAT JSON');
}

/** EXPLAINs each statement inside a savepoint, so one that fails leaves the transaction usable. */
async function planEach(client: pg.Client, statements: readonly ExplainRequest[], indexName: string): Promise<(PlanWith | null)[]> {
  const out: (PlanWith | null)[] = [];
  for (const s of statements) {
    await client.query('SAVEPOINT helios_whatif_explain');
    try {
      const plan = await explainPlan(client, s, 'FORMAT JSON');
      out.push({ cost: planCost(plan), used: usesIndex(plan, indexName) });
      await client.query('RELEASE SAVEPOINT helios_whatif_explain');
    } catch {
      out.push(null);
      await client.query('ROLLBACK TO SAVEPOINT helios_whatif_explain');
    }
  }
  return out;
}

function reasonOf(err: unknown): string {
  const e = err as { code?: string; message?: string };
  switch (e.code) {
    case '55P03':
      return 'the table was busy (its lock was not granted within the lock timeout)';
    case '57014':
      return 'building the index took longer than the validation allows';
    case '42501':
      return `HeliosDB's login may not create indexes on this table (${e.message ?? 'permission denied'})`;
    default:
      return e.message ?? String(err);
  }
}

export interface RollbackOptions {
  lockTimeoutMs: number;
  buildTimeoutMs: number;
}

export class RollbackValidator implements WhatIfValidator {
  readonly method = 'rollback';
  /** Builds per "schema.table": each counts as a sequential scan in pg_stat_user_tables. */
  readonly builds = new Map<string, number>();

  constructor(
    private readonly client: pg.Client,
    private readonly options: RollbackOptions,
  ) {}

  async evaluate(def: IndexDefinition, statements: readonly ExplainRequest[]): Promise<WhatIfResult> {
    const c = this.client;
    const name = `helios_whatif_${createHash('sha1').update(`${def.schema}.${def.table}(${def.columns.join(',')})`).digest('hex').slice(0, 12)}`;
    await c.query('BEGIN');
    try {
      await c.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(this.options.lockTimeoutMs))}; SET LOCAL statement_timeout = ${Math.max(1, Math.floor(this.options.buildTimeoutMs))}`);
      await c.query(createIndexSql(def, name, false));
      const key = `${def.schema}.${def.table}`;
      this.builds.set(key, (this.builds.get(key) ?? 0) + 1);
      const { rows } = await c.query<{ indcheckxmin: boolean }>(`SELECT indcheckxmin FROM pg_index WHERE indexrelid = to_regclass($1)`, [`${quoteIdent(def.schema)}.${quoteIdent(name)}`]);
      if (rows[0]?.indcheckxmin) {
        return { ok: false, reason: 'rows of the table were updated too recently for a new index to be usable in the transaction that builds it (broken HOT chains); try again later, or install HypoPG' };
      }
      return { ok: true, plans: await planEach(c, statements, name) };
    } catch (err) {
      return { ok: false, reason: reasonOf(err) };
    } finally {
      await c.query('ROLLBACK').catch(() => {});
    }
  }
}

export class HypoPgValidator implements WhatIfValidator {
  readonly method = 'hypopg';

  constructor(private readonly client: pg.Client) {}

  async evaluate(def: IndexDefinition, statements: readonly ExplainRequest[]): Promise<WhatIfResult> {
    const c = this.client;
    const ddl = `CREATE INDEX ON ${quoteIdent(def.schema)}.${quoteIdent(def.table)} (${def.columns.map(quoteIdent).join(', ')})`;
    let hypo: { indexrelid: number; indexname: string } | undefined;
    try {
      hypo = (await c.query<{ indexrelid: number; indexname: string }>('SELECT indexrelid, indexname FROM hypopg_create_index($1)', [ddl])).rows[0];
      if (!hypo) return { ok: false, reason: 'hypopg_create_index returned no index' };
      const plans: (PlanWith | null)[] = [];
      for (const s of statements) {
        try {
          const plan = await explainPlan(c, s, 'FORMAT JSON');
          plans.push({ cost: planCost(plan), used: usesIndex(plan, hypo.indexname) });
        } catch {
          plans.push(null);
        }
      }
      return { ok: true, plans };
    } catch (err) {
      return { ok: false, reason: reasonOf(err) };
    } finally {
      if (hypo) await c.query('SELECT hypopg_drop_index($1)', [hypo.indexrelid]).catch(() => {});
    }
  }
}
