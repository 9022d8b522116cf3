// Evidence for an anomaly's likely cause. Each check looks at one kind of evidence and says how
// strongly it supports its cause (0 = none); the engine ranks them. Checks that need the
// server (locks, saturation, plans) run on HeliosDB's own diagnostic connection.
import type { ConnectDatabase } from '../control-pool.ts';
import { planShape } from '../plan-shape.ts';

export type CauseKind = 'new_slow_fingerprint' | 'plan_change' | 'lock_waits' | 'volume_spike' | 'error_burst' | 'upstream_saturation' | 'unknown';

export const CAUSE_KINDS: readonly CauseKind[] = ['new_slow_fingerprint', 'plan_change', 'lock_waits', 'volume_spike', 'error_burst', 'upstream_saturation', 'unknown'];

export interface Evidence {
  cause: CauseKind;
  /** How strongly this evidence supports the cause, 0..1. */
  weight: number;
  summary: string;
  details: Record<string, unknown>;
}

const EXPLAINABLE = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE']);

export function explainable(kind: string): boolean {
  return EXPLAINABLE.has(kind);
}

/**
 * The plan shape of a normalized statement ($n placeholders), from EXPLAIN (GENERIC_PLAN)
 * (PostgreSQL 16 and later): the statement is planned, never run.
 */
export async function genericPlanShape(connect: ConnectDatabase, database: string, normalized: string): Promise<string> {
  const client = await connect(database);
  const res = await client.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (GENERIC_PLAN, FORMAT JSON) ${normalized}`);
  return planShape(res.rows[0]?.['QUERY PLAN']);
}

interface LockRow {
  waiting: string;
  blockers: number[] | null;
  relations: string[] | null;
  modes: string[] | null;
  longest_wait_s: number | null;
}

/** Sessions waiting on heavyweight locks in `database`, and who blocks them. */
export async function lockWaitEvidence(connect: ConnectDatabase, database: string): Promise<Evidence | null> {
  const client = await connect(database);
  const { rows } = await client.query<LockRow>(`
    SELECT count(*)::text AS waiting,
           array_agg(DISTINCT b.pid) FILTER (WHERE b.pid IS NOT NULL) AS blockers,
           array_agg(DISTINCT l.relation::regclass::text) FILTER (WHERE l.relation IS NOT NULL) AS relations,
           array_agg(DISTINCT l.mode) AS modes,
           max(extract(epoch FROM now() - a.state_change))::float8 AS longest_wait_s
      FROM pg_locks l
      JOIN pg_stat_activity a ON a.pid = l.pid
      LEFT JOIN LATERAL unnest(pg_blocking_pids(l.pid)) AS b(pid) ON true
     WHERE NOT l.granted AND a.datname = current_database()`);
  const r = rows[0];
  const waiting = Number(r?.waiting ?? 0);
  if (!r || waiting === 0) return null;
  const blockers = r.blockers ?? [];
  return {
    cause: 'lock_waits',
    weight: Math.min(1, 0.6 + waiting / 10),
    summary: `${waiting} lock wait(s)${r.relations?.length ? ` on ${r.relations.join(', ')}` : ''}${blockers.length ? `, blocked by pid ${blockers.join(', ')}` : ''}`,
    details: { waiting, blockerPids: blockers, relations: r.relations ?? [], modes: r.modes ?? [], longestWaitSeconds: r.longest_wait_s },
  };
}

/** Upstream connection use against max_connections. */
export async function saturationEvidence(connect: ConnectDatabase, database: string, connectErrorsLastMinute: number): Promise<Evidence | null> {
  const client = await connect(database);
  const { rows } = await client.query<{ used: number; max: number; active: number }>(`
    SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int AS used,
           current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int AS max,
           (SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND backend_type = 'client backend')::int AS active`);
  const r = rows[0];
  if (!r) return null;
  const share = r.max > 0 ? r.used / r.max : 0;
  if (share < 0.85 && connectErrorsLastMinute === 0) return null;
  return {
    cause: 'upstream_saturation',
    weight: connectErrorsLastMinute > 0 ? 0.9 : Math.min(1, share),
    summary: `upstream connections ${r.used}/${r.max} (${Math.round(share * 100)}%), ${r.active} active${connectErrorsLastMinute ? `, ${connectErrorsLastMinute} failed connects in the last minute` : ''}`,
    details: { used: r.used, max: r.max, active: r.active, connectErrorsLastMinute },
  };
}
