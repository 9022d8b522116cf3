// A superuser acting behind the sidecar's back on the audit ledger: statements run with the
// append-only triggers out of the way (session_replication_role = replica), and a snapshot of the
// ledger tables (interior nodes included) so each tamper case starts from the same untouched log.
import type pg from 'pg';
import type { LeafEntry } from '../../src/ledger/leaf.ts';

/** Statement entries numbered from `from`. */
export const statementLeaves = (from: number, n: number): LeafEntry[] =>
  Array.from({ length: n }, (_, i) => ({ kind: 'action' as const, fields: { n: from + i, user: 'app', text: `SELECT $1 /* ${from + i} */` } }));

export async function tamper(client: pg.Client, sql: string, params: unknown[] = []): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SET LOCAL session_replication_role = replica');
    await client.query(sql, params);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }
}

/** Copies the ledger tables aside; the returned function puts them back. */
export async function snapshotLedger(client: pg.Client): Promise<() => Promise<void>> {
  await client.query('CREATE TABLE IF NOT EXISTS ledger_backup AS SELECT * FROM helios.ledger_entries WITH NO DATA');
  await client.query('CREATE TABLE IF NOT EXISTS ledger_state_backup AS SELECT * FROM helios.ledger_state WITH NO DATA');
  await client.query('CREATE TABLE IF NOT EXISTS ledger_nodes_backup AS SELECT * FROM helios.ledger_nodes WITH NO DATA');
  await client.query('TRUNCATE ledger_backup, ledger_state_backup, ledger_nodes_backup');
  await client.query('INSERT INTO ledger_backup SELECT * FROM helios.ledger_entries');
  await client.query('INSERT INTO ledger_state_backup SELECT * FROM helios.ledger_state');
  await client.query('INSERT INTO ledger_nodes_backup SELECT * FROM helios.ledger_nodes');
  return async () => {
    await client.query('BEGIN');
    await client.query('SET LOCAL session_replication_role = replica');
    await client.query('DELETE FROM helios.ledger_entries');
    await client.query('INSERT INTO helios.ledger_entries SELECT * FROM ledger_backup');
    await client.query('DELETE FROM helios.ledger_state');
    await client.query('INSERT INTO helios.ledger_state SELECT * FROM ledger_state_backup');
    await client.query('DELETE FROM helios.ledger_nodes');
    await client.query('INSERT INTO helios.ledger_nodes SELECT * FROM ledger_nodes_backup');
    await client.query('COMMIT');
  };
}
