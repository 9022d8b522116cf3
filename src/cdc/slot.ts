// The publications and the logical replication slot change capture reads, and the durable
// checkpoint kept beside them in helios.cdc_slots.
//
// Two publications, so that capture never makes a user's write fail: PostgreSQL refuses UPDATE
// and DELETE (SQLSTATE 55000) on a table in a publication that publishes them unless the table
// has a replica identity. The configured publication covers the schemas for INSERT and TRUNCATE;
// its keyed publication lists the tables with a usable identity for UPDATE and DELETE, kept in
// step by helios.cdc_sync_keyed_publication (sql/migrations/0006_cdc_publications.sql).
//
// A slot is created only the first time. A slot that HeliosDB consumed before and that is now
// gone, or whose WAL the server removed (wal_status 'lost'), means changes were lost: that is an
// alarm and capture stops; recreating the slot silently would skip them.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { formatLsn, parseLsn, type Lsn } from './lsn.ts';

export class SlotLostError extends Error {}

export interface SlotSettings {
  slot: string;
  publication: string;
  /** Schemas a publication HeliosDB creates covers (FOR TABLES IN SCHEMA); the helios schema never is. */
  schemas: readonly string[];
}

export interface SlotState {
  exists: boolean;
  active: boolean;
  confirmedFlushLsn: string | null;
  restartLsn: string | null;
  /** reserved, extended, unreserved or lost (pg_replication_slots.wal_status). */
  walStatus: string | null;
  /** WAL between the server's current position and the slot's confirmed position. */
  lagBytes: number | null;
  /** WAL the slot keeps the server from removing. */
  retainedBytes: number | null;
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

export function checkSlotSettings(s: SlotSettings): void {
  if (!IDENT.test(s.slot)) throw new Error(`invalid slot name ${JSON.stringify(s.slot)}: lower-case letters, digits and "_", at most 63`);
  if (!IDENT.test(s.publication)) throw new Error(`invalid publication name ${JSON.stringify(s.publication)}: lower-case letters, digits and "_", at most 63`);
  if (s.schemas.length === 0) throw new Error('at least one schema must be published');
  if (s.schemas.includes('helios')) throw new Error('the helios schema cannot be published: its outbox writes would feed back into the change stream');
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The publication that carries UPDATE and DELETE beside `publication`: "<publication>_keyed", or,
 * when that would pass PostgreSQL's 63-byte limit (longer names are truncated, so two could
 * collide), a prefix of it with a hash of the whole name.
 */
export function keyedPublicationName(publication: string): string {
  const plain = `${publication}_keyed`;
  if (plain.length <= 63) return plain;
  return `${publication.slice(0, 48)}_${createHash('sha256').update(publication).digest('hex').slice(0, 8)}_keyed`;
}

export interface Publications {
  /** What pgoutput is given: the publication and, when HeliosDB keeps one, its keyed publication. */
  names: string[];
  /** The keyed publication (UPDATE and DELETE of tables with a usable replica identity), or null when the configured publication is used as it is. */
  keyed: string | null;
  /** This call created the publication pair. */
  created: boolean;
  /** The keyed publication was missing and was created again. */
  recreatedKeyed: boolean;
  /** Event triggers keep the keyed publication in step inside each DDL's transaction (installing them needs a superuser). */
  ddlTriggers: boolean;
  /**
   * Only for a publication used as it is: it publishes UPDATE or DELETE for these tables, which
   * have no usable replica identity, so PostgreSQL refuses UPDATE and DELETE on them.
   */
  blocking: string[];
}

export interface KeyedSyncChange {
  action: 'add' | 'drop';
  table: string;
  /** Why the table could not be added or dropped this time (it is tried again at the next sync). */
  error: string | null;
}

interface PublicationRow {
  pubupdate: boolean;
  pubdelete: boolean;
  puballtables: boolean;
  schemas: number;
}

async function readPublication(client: pg.Client, name: string): Promise<PublicationRow | undefined> {
  const { rows } = await client.query<PublicationRow>(
    `SELECT p.pubupdate, p.pubdelete, p.puballtables,
            (SELECT count(*)::int FROM pg_publication_namespace pn WHERE pn.pnpubid = p.oid) AS schemas
     FROM pg_publication p WHERE p.pubname = $1`,
    [name],
  );
  return rows[0];
}

/**
 * The keyed publication must list its tables: one that covers whole schemas or all tables would
 * publish UPDATE and DELETE for tables without identity, the very thing it exists to avoid.
 */
async function createKeyed(client: pg.Client, keyed: string): Promise<void> {
  const existing = await readPublication(client, keyed);
  if (existing && (existing.puballtables || existing.schemas > 0)) {
    throw new Error(`publication "${keyed}" exists and covers ${existing.puballtables ? 'all tables' : 'whole schemas'}; HeliosDB needs it to list tables only. Drop it and restart`);
  }
  if (existing) await client.query(`ALTER PUBLICATION ${quoteIdent(keyed)} SET (publish = 'update, delete')`);
  else await client.query(`CREATE PUBLICATION ${quoteIdent(keyed)} WITH (publish = 'update, delete')`);
}

/** Adds and drops tables of the keyed publication so that it holds exactly those with a usable replica identity. */
export async function syncKeyedPublication(client: pg.Client, publication: string): Promise<KeyedSyncChange[]> {
  const { rows } = await client.query<{ action: 'add' | 'drop'; table_name: string; error: string | null }>(
    'SELECT action, table_name, error FROM helios.cdc_sync_keyed_publication($1)',
    [publication],
  );
  return rows.map((r) => ({ action: r.action, table: r.table_name, error: r.error }));
}

async function ddlTriggersInstalled(client: pg.Client): Promise<boolean> {
  const { rows } = await client.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_event_trigger WHERE evtname IN ('helios_cdc_ddl_end', 'helios_cdc_sql_drop') AND evtenabled <> 'D'",
  );
  return rows[0]!.n === 2;
}

/** Tables a publication publishes UPDATE or DELETE for although they have no usable replica identity. */
async function blockingTables(client: pg.Client, publication: string): Promise<string[]> {
  const { rows } = await client.query<{ t: string }>(
    `SELECT t.schemaname || '.' || t.tablename AS t
     FROM pg_publication p JOIN pg_publication_tables t ON t.pubname = p.pubname
     JOIN pg_namespace n ON n.nspname = t.schemaname JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.tablename
     WHERE p.pubname = $1 AND (p.pubupdate OR p.pubdelete) AND c.relkind = 'r' AND NOT helios.cdc_replica_identity_usable(c.oid)
     ORDER BY 1`,
    [publication],
  );
  return rows.map((r) => r.t);
}

/**
 * Makes sure the publications change capture decodes exist. When the configured publication is
 * absent, creates it for the schemas, publishing INSERT and TRUNCATE only, and its keyed
 * publication, publishing UPDATE and DELETE of the tables that have a usable replica identity
 * (PostgreSQL refuses UPDATE and DELETE on a table in a publication that publishes them and that
 * has none). A publication of that name HeliosDB did not create this way is used as it is.
 */
export async function ensurePublication(client: pg.Client, s: SlotSettings): Promise<Publications> {
  const keyedName = keyedPublicationName(s.publication);
  for (let attempt = 0; ; attempt++) {
    const base = await readPublication(client, s.publication);
    const registered = await client.query<{ keyed_publication: string }>('SELECT keyed_publication FROM helios.cdc_publications WHERE publication = $1', [s.publication]);
    const keyed = registered.rows[0]?.keyed_publication;
    const ddlTriggers = await ddlTriggersInstalled(client);
    if (base) {
      // Ours only while it still publishes no UPDATE or DELETE: one altered since is treated as foreign.
      if (keyed !== undefined && !base.pubupdate && !base.pubdelete && !base.puballtables) {
        let recreatedKeyed = false;
        if (!(await readPublication(client, keyed))) {
          try {
            await createKeyed(client, keyed);
            recreatedKeyed = true;
          } catch (err) {
            // Another sidecar recreated it first.
            const code = (err as { code?: string }).code;
            if (code !== '42710' && code !== '23505') throw err;
          }
        }
        return { names: [s.publication, keyed], keyed, created: false, recreatedKeyed, ddlTriggers, blocking: [] };
      }
      return { names: [s.publication], keyed: null, created: false, recreatedKeyed: false, ddlTriggers, blocking: await blockingTables(client, s.publication) };
    }
    const schemas = [];
    for (const name of s.schemas) {
      const found = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [name]);
      if (found.rows.length) schemas.push(quoteIdent(name));
    }
    if (!schemas.length) throw new Error(`none of the schemas to publish exist: ${s.schemas.join(', ')}`);
    // One transaction: another sidecar sees both publications and the registry row, or none.
    await client.query('BEGIN');
    try {
      await client.query(`CREATE PUBLICATION ${quoteIdent(s.publication)} FOR TABLES IN SCHEMA ${schemas.join(', ')} WITH (publish = 'insert, truncate')`);
      await createKeyed(client, keyedName);
      await client.query(
        `INSERT INTO helios.cdc_publications (publication, keyed_publication) VALUES ($1, $2)
         ON CONFLICT (publication) DO UPDATE SET keyed_publication = EXCLUDED.keyed_publication, created_at = now()`,
        [s.publication, keyedName],
      );
      await syncKeyedPublication(client, s.publication);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      // Another sidecar created it first (42710 once committed, 23505 while it was still in flight): read what it created.
      const code = (err as { code?: string }).code;
      if ((code === '42710' || code === '23505') && attempt < 3) continue;
      throw err;
    }
    return { names: [s.publication, keyedName], keyed: keyedName, created: true, recreatedKeyed: false, ddlTriggers, blocking: [] };
  }
}

export async function readSlot(client: pg.Client, slot: string): Promise<SlotState> {
  const { rows } = await client.query<{
    active: boolean;
    confirmed_flush_lsn: string | null;
    restart_lsn: string | null;
    wal_status: string | null;
    lag: string | null;
    retained: string | null;
  }>(
    `SELECT active, confirmed_flush_lsn::text, restart_lsn::text, wal_status,
            pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag,
            pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text AS retained
     FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  const r = rows[0];
  if (!r) return { exists: false, active: false, confirmedFlushLsn: null, restartLsn: null, walStatus: null, lagBytes: null, retainedBytes: null };
  return {
    exists: true,
    active: r.active,
    confirmedFlushLsn: r.confirmed_flush_lsn,
    restartLsn: r.restart_lsn,
    walStatus: r.wal_status,
    lagBytes: r.lag === null ? null : Number(r.lag),
    retainedBytes: r.retained === null ? null : Number(r.retained),
  };
}

/**
 * Makes sure the slot exists and returns the durable checkpoint to resume from. Throws
 * SlotLostError when a slot HeliosDB consumed is gone or its WAL was removed.
 */
export async function prepareSlot(client: pg.Client, s: SlotSettings): Promise<{ checkpoint: Lsn; created: boolean }> {
  checkSlotSettings(s);
  const known = await client.query<{ checkpoint_lsn: string }>('SELECT checkpoint_lsn::text FROM helios.cdc_slots WHERE slot_name = $1', [s.slot]);
  const checkpoint = known.rows[0]?.checkpoint_lsn;
  const state = await readSlot(client, s.slot);
  if (!state.exists && checkpoint !== undefined) {
    throw new SlotLostError(
      `replication slot "${s.slot}" is gone, but HeliosDB had consumed it up to ${checkpoint}: changes after that were not captured. ` +
        `HeliosDB will not recreate it silently. To start over from now, run SELECT helios.cdc_reset('${s.slot}') and restart.`,
    );
  }
  if (state.walStatus === 'lost') {
    throw new SlotLostError(
      `replication slot "${s.slot}" lost WAL it still needed (wal_status lost, max_slot_wal_keep_size exceeded): changes after ${state.confirmedFlushLsn} cannot be read. ` +
        `To start over from now, drop the slot, run SELECT helios.cdc_reset('${s.slot}') and restart.`,
    );
  }
  if (state.exists) {
    const { rows } = await client.query<{ plugin: string; database: string; current: string; slot_type: string }>(
      'SELECT plugin, database, current_database() AS current, slot_type FROM pg_replication_slots WHERE slot_name = $1',
      [s.slot],
    );
    const r = rows[0]!;
    if (r.slot_type !== 'logical' || r.plugin !== 'pgoutput' || r.database !== r.current) {
      throw new Error(`replication slot "${s.slot}" exists but is a ${r.slot_type} slot for plugin ${r.plugin} on database ${r.database}; HeliosDB needs a pgoutput slot on ${r.current}`);
    }
    if (checkpoint !== undefined) {
      // The slot is confirmed only up to the checkpoint; a position past it was moved by someone else.
      if (state.confirmedFlushLsn !== null && parseLsn(state.confirmedFlushLsn) > parseLsn(checkpoint)) {
        throw new SlotLostError(
          `replication slot "${s.slot}" was confirmed up to ${state.confirmedFlushLsn}, past HeliosDB's checkpoint ${checkpoint}: another consumer is using it, and changes in between were not captured. ` +
            `Give HeliosDB a slot of its own (cdc.slot), or run SELECT helios.cdc_reset('${s.slot}') to accept the gap.`,
        );
      }
      return { checkpoint: parseLsn(checkpoint), created: false };
    }
    // An existing slot HeliosDB has not used yet: adopt it where it stands.
    const at = parseLsn(state.confirmedFlushLsn!);
    await client.query('INSERT INTO helios.cdc_slots (slot_name, publication, checkpoint_lsn) VALUES ($1, $2, $3) ON CONFLICT (slot_name) DO NOTHING', [s.slot, s.publication, formatLsn(at)]);
    return { checkpoint: at, created: false };
  }
  const created = await client.query<{ lsn: string }>("SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')", [s.slot]);
  const at = parseLsn(created.rows[0]!.lsn);
  await client.query(
    `INSERT INTO helios.cdc_slots (slot_name, publication, checkpoint_lsn) VALUES ($1, $2, $3)
     ON CONFLICT (slot_name) DO UPDATE SET checkpoint_lsn = EXCLUDED.checkpoint_lsn, publication = EXCLUDED.publication, updated_at = now()`,
    [s.slot, s.publication, formatLsn(at)],
  );
  return { checkpoint: at, created: true };
}
