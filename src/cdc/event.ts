// One committed row change, as every consumer of the change stream sees it (webhooks, and later
// the ledger, CRDT merges and the analytics mirror).

/** Column values: JSON-safe (text as PostgreSQL prints it, numbers, booleans, parsed json/jsonb). */
export type RowValue = string | number | boolean | null | RowValue[] | { [k: string]: RowValue };
export type Row = Record<string, RowValue>;

/**
 * Stands in for an unchanged TOASTed value: pgoutput does not resend a large value an UPDATE
 * left alone, so the new value is not known here. Never null, which would be a real value. The
 * column is also listed in the event's `unchanged`, which is unambiguous even for jsonb columns.
 */
export const UNCHANGED_TOAST: { readonly $unchanged: true } = Object.freeze({ $unchanged: true });

export type ChangeOp = 'insert' | 'update' | 'delete' | 'truncate' | 'read';

export interface ChangeEvent {
  /**
   * Stable across restarts and redeliveries: the transaction's commit LSN and the change's index
   * within it, e.g. "0/16B3748:3". Backfill rows ("read") use "backfill:<job>:<n>".
   */
  id: string;
  /** Commit LSN of the transaction (hex "X/Y"); for backfill rows, the LSN the snapshot was taken at. */
  lsn: string;
  /** schema.table, unquoted. */
  table: string;
  op: ChangeOp;
  /** insert/update/read: the new row. Null for delete and truncate. */
  new: Row | null;
  /** update/delete: the old row with REPLICA IDENTITY FULL, else the key columns (null when nothing was sent). */
  old: Row | null;
  /**
   * The replica identity columns and their values (from new, else old); with REPLICA IDENTITY FULL
   * or NOTHING the primary key. {} when the table has none: its changes are ordered by table.
   */
  key: Row;
  /** Columns whose new value is an unchanged TOASTed value (see UNCHANGED_TOAST). */
  unchanged: string[];
  /** ISO-8601 commit time. */
  commitTime: string;
  xid: number;
  /** Position of the change within its transaction (0-based), and the transaction's change count. */
  index: number;
  count: number;
}

/** A committed transaction's changes, in commit order. */
export interface CommittedTransaction {
  xid: number;
  /** LSN of the commit record, and the end of it: the slot may be confirmed up to commitEndLsn once handed off. */
  commitLsn: string;
  commitEndLsn: string;
  commitTime: string;
  events: ChangeEvent[];
}

/** The key a per-row ordering guarantee is about: table plus the key columns' values. */
export function rowKey(e: Pick<ChangeEvent, 'table' | 'key'>): string {
  return `${e.table}:${JSON.stringify(e.key)}`;
}
