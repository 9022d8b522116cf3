// The publication and the logical replication slot change capture reads, and the durable
// checkpoint kept beside them in helios.cdc_slots.
//
// A slot is created only the first time. A slot that HeliosDB consumed before and that is now
// gone, or whose WAL the server removed (wal_status 'lost'), means changes were lost: that is an
// alarm and capture stops; recreating the slot silently would skip them.
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

/** Creates the publication when absent (an existing one is used as it is). */
export async function ensurePublication(client: pg.Client, s: SlotSettings): Promise<'created' | 'exists'> {
  const { rows } = await client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [s.publication]);
  if (rows.length) return 'exists';
  const schemas = [];
  for (const name of s.schemas) {
    const found = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [name]);
    if (found.rows.length) schemas.push(quoteIdent(name));
  }
  if (!schemas.length) throw new Error(`none of the schemas to publish exist: ${s.schemas.join(', ')}`);
  try {
    await client.query(`CREATE PUBLICATION ${quoteIdent(s.publication)} FOR TABLES IN SCHEMA ${schemas.join(', ')}`);
  } catch (err) {
    // Another sidecar created it first.
    if ((err as { code?: string }).code !== '42710') throw err;
    return 'exists';
  }
  return 'created';
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
