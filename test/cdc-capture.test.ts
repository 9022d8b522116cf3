// Change capture against the real server: committed transactions arrive whole and in commit
// order with stable ids, values as PostgreSQL prints them, unchanged TOAST marked, schema changes
// mid-stream, a transaction larger than logical_decoding_work_mem, a restart that neither loses
// nor repeats anything, and the alarm for a lost slot. And the publications: tables without a
// replica identity keep accepting UPDATE and DELETE, tables with one have them captured, also
// when the identity comes or goes while capture runs.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChangeCapture, type ChangeSink } from '../src/cdc/capture.ts';
import { UNCHANGED_TOAST, type CommittedTransaction } from '../src/cdc/event.ts';
import { parseLsn } from '../src/cdc/lsn.ts';
import { migrate } from '../src/control-schema.ts';
import { useFreshDatabase } from './harness/db.ts';
import { pgConfig, testPg } from './harness/pg.ts';

const fx = useFreshDatabase('cdc_capture');
const SLOT = `helios_test_${process.pid}_capture`;

/** Keeps what was handed off; can be told to fail, to prove nothing is confirmed past a failed hand-off. */
class RecordingSink implements ChangeSink {
  readonly name = 'recorder';
  txs: CommittedTransaction[] = [];
  failNext = 0;
  async write(client: pg.Client, txs: readonly CommittedTransaction[]): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('sink refused the batch');
    }
    // Proves the sink writes in the hand-off transaction.
    await client.query('SELECT 1');
    this.txs.push(...txs);
  }
  events() {
    return this.txs.flatMap((t) => t.events);
  }
}

let sink: RecordingSink;
let capture: ChangeCapture;
const logs: string[] = [];

function newCapture(slot = SLOT, publication = 'helios_test_pub', to: ChangeSink = sink): ChangeCapture {
  return new ChangeCapture({
    slot,
    publication,
    schemas: ['public'],
    control: () => ({ target: { host: testPg.host, port: testPg.port, sslmode: 'disable' }, user: testPg.user, password: testPg.password, database: fx.db.name }),
    sinks: [to],
    log: (level, msg, fields) => logs.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`),
    slotPollMs: 200,
    keyedSyncMs: 300,
  });
}

/** Tables of the keyed publication (as this session sees it, so also inside its open transaction). */
async function keyedTables(): Promise<string[]> {
  const { rows } = await fx.client.query("SELECT tablename FROM pg_publication_tables WHERE pubname = 'helios_test_pub_keyed' ORDER BY 1");
  return rows.map((r) => r.tablename);
}

function eventsOf(table: string) {
  return sink.events().filter((e) => e.table === `public.${table}`);
}

async function until<T>(what: string, f: () => T | undefined | false, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; log:\n${logs.slice(-10).join('\n')}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function slotConfirmed(slot = SLOT): Promise<bigint> {
  const { rows } = await fx.client.query('SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  return parseLsn(rows[0].l);
}

async function checkpoint(slot = SLOT): Promise<bigint> {
  const { rows } = await fx.client.query('SELECT checkpoint_lsn::text AS l FROM helios.cdc_slots WHERE slot_name = $1', [slot]);
  return parseLsn(rows[0].l);
}

/** The checkpoint once it reached `lsn` (or what it is after 15 s): the sink sees a batch before its hand-off commits. */
async function checkpointReaching(lsn: bigint): Promise<bigint> {
  const end = Date.now() + 15_000;
  let cp = await checkpoint();
  while (cp < lsn && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 25));
    cp = await checkpoint();
  }
  return cp;
}

beforeAll(async () => {
  await migrate(fx.client);
  await fx.client.query(`CREATE TABLE accounts (id bigint PRIMARY KEY, name text, balance numeric(12,2), big bigint, ratio float8, flag boolean,
    seen timestamptz, doc jsonb, tags text[], body text)`);
  await fx.client.query('CREATE TABLE full_rows (id int PRIMARY KEY, v text)');
  await fx.client.query('ALTER TABLE full_rows REPLICA IDENTITY FULL');
  await fx.client.query('CREATE TABLE no_key_before (id int, v text)');
  await fx.client.query('CREATE TABLE keyed_before (id int PRIMARY KEY, v text)');
  // Out of line and uncompressed above ~2 kB, so an UPDATE that leaves it alone sends pgoutput's 'u'.
  await fx.client.query('ALTER TABLE accounts ALTER COLUMN body SET STORAGE EXTERNAL');
  // Small, so a transaction of a few MB is larger than the walsender may keep in memory (it spills to disk).
  await fx.client.query(`ALTER DATABASE "${fx.db.name}" SET logical_decoding_work_mem = '64kB'`);
  sink = new RecordingSink();
  capture = newCapture();
  capture.start();
  await until('streaming', () => capture.state === 'streaming');
});

afterAll(async () => {
  await capture?.stop();
  await fx.client.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database()').catch(() => {});
});

describe('change capture', () => {
  it('delivers committed transactions whole, in commit order, with stable ids and exact values', async () => {
    await fx.client.query('BEGIN');
    await fx.client.query(`INSERT INTO accounts (id, name, balance, big, ratio, flag, seen, doc, tags)
      VALUES (1, 'ann', 12.50, 9007199254740993, 0.25, true, '2026-01-02 03:04:05.123456+00', '{"plan": "pro", "n": [1, 2]}', '{a,b}')`);
    await fx.client.query("UPDATE accounts SET name = 'anne' WHERE id = 1");
    await fx.client.query('COMMIT');
    await fx.client.query('DELETE FROM accounts WHERE id = 1');
    // A rolled-back transaction is never seen.
    await fx.client.query('BEGIN');
    await fx.client.query("INSERT INTO accounts (id, name) VALUES (2, 'ghost')");
    await fx.client.query('ROLLBACK');
    const txs = await until('two transactions', () => sink.txs.length >= 2 && sink.txs);
    expect(txs.map((t) => t.events.map((e) => e.op))).toEqual([['insert', 'update'], ['delete']]);
    const [ins, upd] = txs[0]!.events;
    expect(ins).toMatchObject({
      id: `${txs[0]!.commitLsn}:0`,
      table: 'public.accounts',
      index: 0,
      count: 2,
      key: { id: 1 },
      old: null,
      unchanged: [],
      new: { id: 1, name: 'ann', balance: '12.50', big: '9007199254740993', ratio: 0.25, flag: true, seen: '2026-01-02 03:04:05.123456+00', doc: { plan: 'pro', n: [1, 2] }, tags: '{a,b}', body: null },
    });
    expect(upd).toMatchObject({ id: `${txs[0]!.commitLsn}:1`, op: 'update', key: { id: 1 }, new: { name: 'anne' } });
    expect(ins!.xid).toBe(upd!.xid);
    expect(ins!.commitTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const del = txs[1]!.events[0]!;
    // Default replica identity: the old row is the key.
    expect(del).toMatchObject({ op: 'delete', new: null, key: { id: 1 }, old: { id: 1 } });
    expect(parseLsn(txs[1]!.commitLsn)).toBeGreaterThan(parseLsn(txs[0]!.commitLsn));
    // Durably handed off: the checkpoint is at least the last commit's end, and the slot never ahead of it.
    expect(await checkpointReaching(parseLsn(txs[1]!.commitEndLsn))).toBeGreaterThanOrEqual(parseLsn(txs[1]!.commitEndLsn));
    expect(await slotConfirmed()).toBeLessThanOrEqual(await checkpoint());
  });

  it('marks an unchanged TOASTed value instead of sending null, and sends full old rows with REPLICA IDENTITY FULL', async () => {
    const big = 'x'.repeat(20_000) + Math.random();
    await fx.client.query('INSERT INTO accounts (id, name, body) VALUES (10, $1, $2)', ['toast', big]);
    await fx.client.query("UPDATE accounts SET name = 'toasty' WHERE id = 10");
    await fx.client.query("INSERT INTO full_rows VALUES (1, 'one')");
    await fx.client.query("UPDATE full_rows SET v = 'uno' WHERE id = 1");
    const events = await until('toast update', () => {
      const e = sink.events();
      return e.some((x) => x.table === 'public.full_rows' && x.op === 'update') && e;
    });
    const upd = events.find((e) => e.table === 'public.accounts' && e.op === 'update' && e.key.id === 10)!;
    expect(upd.new!.body).toEqual(UNCHANGED_TOAST);
    expect(upd.unchanged).toEqual(['body']);
    expect(upd.new!.name).toBe('toasty');
    const insert = events.find((e) => e.op === 'insert' && e.key.id === 10)!;
    expect(insert.new!.body).toBe(big);
    const full = events.find((e) => e.table === 'public.full_rows' && e.op === 'update')!;
    expect(full.old).toEqual({ id: 1, v: 'one' });
    // FULL flags every column as key; the row's identity is still its primary key.
    expect(full.key).toEqual({ id: 1 });
    expect(full.new).toEqual({ id: 1, v: 'uno' });
  });

  it('follows ADD, RENAME and DROP COLUMN mid-stream, and TRUNCATE', async () => {
    await fx.client.query('CREATE TABLE evolving (id int PRIMARY KEY, a text)');
    await fx.client.query("INSERT INTO evolving VALUES (1, 'a1')");
    await fx.client.query('ALTER TABLE evolving ADD COLUMN b int DEFAULT 7');
    await fx.client.query("INSERT INTO evolving VALUES (2, 'a2', 8)");
    await fx.client.query('ALTER TABLE evolving RENAME COLUMN a TO title');
    await fx.client.query("UPDATE evolving SET title = 't1' WHERE id = 1");
    await fx.client.query('ALTER TABLE evolving DROP COLUMN b');
    await fx.client.query("INSERT INTO evolving VALUES (3, 't3')");
    await fx.client.query('TRUNCATE evolving');
    const events = await until('evolving events', () => {
      const e = sink.events().filter((x) => x.table === 'public.evolving');
      return e.some((x) => x.op === 'truncate') && e;
    });
    expect(events.map((e) => [e.op, e.new])).toEqual([
      ['insert', { id: 1, a: 'a1' }],
      ['insert', { id: 2, a: 'a2', b: 8 }],
      ['update', { id: 1, title: 't1', b: 7 }],
      ['insert', { id: 3, title: 't3' }],
      ['truncate', null],
    ]);
  });

  it('receives a transaction larger than logical_decoding_work_mem whole', async () => {
    // The database's own setting (64 kB, see beforeAll) applies to the walsender serving this database.
    const rowsNeeded = 2000;
    const before = sink.txs.length;
    await fx.client.query(`INSERT INTO accounts (id, name, body) SELECT 100000 + g, 'bulk', repeat('b', 1000) FROM generate_series(1, $1) g`, [rowsNeeded]);
    const tx = await until('bulk transaction', () => sink.txs.slice(before).find((t) => t.events.length === rowsNeeded), 60_000);
    expect(tx.events.every((e, i) => e.index === i && e.count === rowsNeeded && e.id === `${tx.commitLsn}:${i}`)).toBe(true);
  });

  it('resumes after a restart from the checkpoint: nothing lost, nothing handed off twice', async () => {
    await capture.stop();
    const seen = new Set(sink.events().map((e) => e.id));
    // Written while capture is down.
    await fx.client.query("INSERT INTO accounts (id, name) SELECT 200 + g, 'offline' FROM generate_series(1, 50) g");
    capture = newCapture();
    capture.start();
    const offline = await until('offline rows', () => {
      const e = sink.events().filter((x) => x.new?.name === 'offline');
      return e.length >= 50 && e;
    });
    expect(offline).toHaveLength(50);
    const ids = sink.events().map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...seen].every((id) => ids.includes(id))).toBe(true);
  });

  it('never confirms past a failed hand-off, and receives it again', async () => {
    sink.failNext = 1;
    const cp = await checkpoint();
    await fx.client.query("INSERT INTO accounts (id, name) VALUES (300, 'retry me')");
    const e = await until('redelivered row', () => sink.events().find((x) => x.new?.name === 'retry me'));
    expect(e.op).toBe('insert');
    expect(await checkpointReaching(cp + 1n)).toBeGreaterThan(cp);
    expect(await slotConfirmed()).toBeLessThanOrEqual(await checkpoint());
    expect(logs.some((l) => l.includes('hand-off failed'))).toBe(true);
  });

  it('moves the checkpoint on keepalives while idle, so WAL is not retained', async () => {
    const cp = await checkpoint();
    // Changes outside the publication still advance the server's position.
    await fx.client.query('CREATE TABLE helios.scratch_wal AS SELECT g FROM generate_series(1, 1000) g');
    await fx.client.query('DROP TABLE helios.scratch_wal');
    const end = Date.now() + 20_000;
    while ((await checkpoint()) <= cp && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
    expect(await checkpoint()).toBeGreaterThan(cp);
    // The checkpoint is written before the slot is confirmed, so the slot catches up a moment later;
    // it is never ahead of it.
    let confirmed = 0n;
    let durable = 0n;
    for (let i = 0; i < 100; i++) {
      confirmed = await slotConfirmed();
      durable = await checkpoint();
      expect(confirmed).toBeLessThanOrEqual(durable);
      if (confirmed === durable) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(confirmed).toBe(durable);
  });

  it('raises an alarm and stops, without recreating it, when a slot it consumed is gone', async () => {
    const slot = `${SLOT}_lost`;
    const other = newCapture(slot);
    other.start();
    await until('second capture streaming', () => other.state === 'streaming');
    await other.stop();
    await fx.client.query('SELECT pg_drop_replication_slot($1)', [slot]);
    const again = newCapture(slot);
    again.start();
    await until('alarm', () => again.state === 'alarm');
    expect(again.status().alarm).toMatch(/replication slot ".*_lost" is gone, but HeliosDB had consumed it up to/);
    const { rows } = await fx.client.query('SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = $1', [slot]);
    expect(rows[0].n).toBe(0);
    await again.stop();
    // helios.cdc_reset acknowledges the gap: the next start creates the slot again.
    await fx.client.query('SELECT helios.cdc_reset($1)', [slot]);
    const fresh = newCapture(slot);
    fresh.start();
    await until('fresh streaming', () => fresh.state === 'streaming');
    await fresh.stop();
    await fx.client.query('SELECT pg_drop_replication_slot($1)', [slot]);
  });

  it('stops at once while creating its slot waits for a transaction of another session, and leaves no slot', async () => {
    const slot = `${SLOT}_waiting`;
    const other = new pg.Client(pgConfig({ database: fx.db.name }));
    await other.connect();
    try {
      // A transaction with an xid: creating a logical slot waits for it to end.
      await other.query('BEGIN');
      await other.query('SELECT txid_current()');
      const c = newCapture(slot);
      c.start();
      const waiting = async () =>
        (await fx.client.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%pg_create_logical_replication_slot%' AND wait_event_type = 'Lock'")).rows[0].n > 0;
      for (let i = 0; i < 200 && !(await waiting()); i++) await new Promise((r) => setTimeout(r, 25));
      expect(await waiting()).toBe(true);
      const stopped = await Promise.race([c.stop().then(() => 'stopped'), new Promise((r) => setTimeout(() => r('still waiting'), 10_000))]);
      expect(stopped).toBe('stopped');
      expect(c.state).toBe('stopped');
      expect(await waiting()).toBe(false);
      expect((await fx.client.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot])).rowCount).toBe(0);
    } finally {
      await other.query('ROLLBACK').catch(() => {});
      await other.end().catch(() => {});
      await fx.client.query('SELECT pg_drop_replication_slot($1)', [slot]).catch(() => {});
    }
  });

  it('stops for good when stopped while still starting: no stream is left running on the slot', async () => {
    const slot = `${SLOT}_early`;
    try {
      // Stopped at different points of the start sequence (connect, publications, slot, stream).
      for (const ms of [0, 1, 5, 15, 40, 80]) {
        const c = newCapture(slot);
        c.start();
        await new Promise((r) => setTimeout(r, ms));
        await c.stop();
        expect(c.state).toBe('stopped');
        // A walsender lets go of the slot a moment after its client is gone; one that stays is a stream left running.
        const active = async () => (await fx.client.query('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot])).rows[0]?.active === true;
        for (let i = 0; i < 100 && (await active()); i++) await new Promise((r) => setTimeout(r, 50));
        await new Promise((r) => setTimeout(r, 300));
        expect(await active(), `a stream is still running after a stop at ${ms} ms`).toBe(false);
      }
    } finally {
      await fx.client.query('SELECT pg_drop_replication_slot($1)', [slot]).catch(() => {});
    }
  });
});

describe('publications and replica identity', () => {
  it('publishes through two publications, the keyed one holding exactly the tables with a usable replica identity', async () => {
    expect(capture.status()).toMatchObject({ publication: 'helios_test_pub', publications: ['helios_test_pub', 'helios_test_pub_keyed'], keyedSync: 'ddl' });
    const { rows } = await fx.client.query(
      "SELECT pubname, pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname LIKE 'helios_test_pub%' ORDER BY 1",
    );
    expect(rows).toEqual([
      { pubname: 'helios_test_pub', pubinsert: true, pubupdate: false, pubdelete: false, pubtruncate: true },
      { pubname: 'helios_test_pub_keyed', pubinsert: false, pubupdate: true, pubdelete: true, pubtruncate: false },
    ]);
    const keyed = await keyedTables();
    expect(keyed).toEqual(expect.arrayContaining(['accounts', 'full_rows', 'keyed_before']));
    expect(keyed).not.toContain('no_key_before');
  });

  it('leaves UPDATE and DELETE of tables without a replica identity alone, and captures their inserts and truncates', async () => {
    // no_key_before exists since before capture started; the others are made now.
    await fx.client.query('CREATE TABLE no_key_after (id int, v text)');
    await fx.client.query('CREATE TABLE nothing_ident (id int PRIMARY KEY, v text)');
    await fx.client.query('ALTER TABLE nothing_ident REPLICA IDENTITY NOTHING');
    // A deferrable primary key is no replica identity to PostgreSQL.
    await fx.client.query('CREATE TABLE deferred_key (id int PRIMARY KEY DEFERRABLE, v text)');
    // Since PostgreSQL 18 neither is an identity that contains a generated column (not published).
    await fx.client.query('CREATE TABLE generated_full (id int, v text, twice int GENERATED ALWAYS AS (id * 2) STORED)');
    await fx.client.query('ALTER TABLE generated_full REPLICA IDENTITY FULL');
    const tables = ['no_key_before', 'no_key_after', 'nothing_ident', 'deferred_key', 'generated_full'];
    for (const t of tables) {
      await fx.client.query(`INSERT INTO ${t} (id, v) VALUES (1, 'a')`);
      await fx.client.query(`UPDATE ${t} SET v = 'b'`);
      await fx.client.query(`DELETE FROM ${t}`);
      await fx.client.query(`INSERT INTO ${t} (id, v) VALUES (2, 'c')`);
    }
    await fx.client.query('TRUNCATE no_key_after');
    await until('the truncate', () => eventsOf('no_key_after').some((e) => e.op === 'truncate'));
    for (const t of tables) {
      expect(eventsOf(t).map((e) => [e.op, e.new?.id, e.new?.v]), t).toEqual([['insert', 1, 'a'], ['insert', 2, 'c'], ...(t === 'no_key_after' ? [['truncate', undefined, undefined]] : [])]);
    }
    // Ordered by table without a key; NOTHING orders by the primary key, read from the catalog.
    expect(eventsOf('no_key_after')[0]!.key).toEqual({});
    expect(eventsOf('nothing_ident')[0]!.key).toEqual({ id: 1 });
    const keyed = await keyedTables();
    for (const t of tables) expect(keyed).not.toContain(t);
  });

  it('captures INSERT, UPDATE and DELETE of a table keyed before capture started, each once', async () => {
    await fx.client.query("INSERT INTO keyed_before VALUES (1, 'a')");
    await fx.client.query("UPDATE keyed_before SET v = 'b' WHERE id = 1");
    await fx.client.query('DELETE FROM keyed_before WHERE id = 1');
    const events = await until('keyed_before changes', () => eventsOf('keyed_before').some((e) => e.op === 'delete') && eventsOf('keyed_before'));
    expect(events.map((e) => [e.op, e.key])).toEqual([['insert', { id: 1 }], ['update', { id: 1 }], ['delete', { id: 1 }]]);
  });

  it('captures the first UPDATE of a keyed table created while capture runs: the event trigger adds it in the DDL transaction', async () => {
    await fx.client.query('CREATE TABLE keyed_after (id int PRIMARY KEY, v text)');
    await fx.client.query("INSERT INTO keyed_after VALUES (1, 'a')");
    await fx.client.query("UPDATE keyed_after SET v = 'b' WHERE id = 1");
    await fx.client.query('BEGIN');
    await fx.client.query('CREATE TABLE keyed_in_tx (id int PRIMARY KEY, v text)');
    // Before anything was written to it, inside the transaction that created it.
    expect(await keyedTables()).toContain('keyed_in_tx');
    await fx.client.query("INSERT INTO keyed_in_tx VALUES (1, 'a')");
    await fx.client.query("UPDATE keyed_in_tx SET v = 'b' WHERE id = 1");
    await fx.client.query('DELETE FROM keyed_in_tx WHERE id = 1');
    await fx.client.query('COMMIT');
    await until('keyed_in_tx changes', () => eventsOf('keyed_in_tx').length >= 3);
    expect(eventsOf('keyed_after').map((e) => [e.op, e.new])).toEqual([['insert', { id: 1, v: 'a' }], ['update', { id: 1, v: 'b' }]]);
    expect(eventsOf('keyed_in_tx').map((e) => e.op)).toEqual(['insert', 'update', 'delete']);
  });

  it('captures UPDATEs of a table given REPLICA IDENTITY FULL, from the next periodic sync on when the event triggers are off', async () => {
    await fx.client.query('CREATE TABLE gains_full (id int, v text)');
    await fx.client.query("INSERT INTO gains_full VALUES (1, 'a')");
    await fx.client.query('ALTER EVENT TRIGGER helios_cdc_ddl_end DISABLE');
    await fx.client.query('ALTER EVENT TRIGGER helios_cdc_sql_drop DISABLE');
    try {
      await fx.client.query('ALTER TABLE gains_full REPLICA IDENTITY FULL');
      expect(await keyedTables()).not.toContain('gains_full');
      await expect.poll(keyedTables, { timeout: 10_000 }).toContain('gains_full');
    } finally {
      await fx.client.query('ALTER EVENT TRIGGER helios_cdc_ddl_end ENABLE');
      await fx.client.query('ALTER EVENT TRIGGER helios_cdc_sql_drop ENABLE');
    }
    await fx.client.query("UPDATE gains_full SET v = 'b' WHERE id = 1");
    const upd = await until('gains_full update', () => eventsOf('gains_full').find((e) => e.op === 'update'));
    // The whole old row; no primary key, so ordered by table.
    expect(upd).toMatchObject({ old: { id: 1, v: 'a' }, new: { id: 1, v: 'b' }, key: {} });
    expect(logs.some((l) => l.includes('table has a replica identity') && l.includes('public.gains_full'))).toBe(true);
  });

  it('says at start, in the log and the status, when no event trigger keeps the keyed publication in step', async () => {
    const slot = `${SLOT}_periodic`;
    await fx.client.query('ALTER EVENT TRIGGER helios_cdc_ddl_end DISABLE');
    const other = newCapture(slot, 'helios_test_pub', new RecordingSink());
    try {
      other.start();
      await until('periodic capture streaming', () => other.state === 'streaming');
      expect(other.status()).toMatchObject({ publications: ['helios_test_pub', 'helios_test_pub_keyed'], keyedSync: 'periodic' });
      expect(logs.filter((l) => l.startsWith('warn cdc: no DDL event triggers'))).toHaveLength(1);
    } finally {
      await fx.client.query('ALTER EVENT TRIGGER helios_cdc_ddl_end ENABLE');
      await other.stop();
      await fx.client.query('SELECT pg_drop_replication_slot($1)', [slot]).catch(() => {});
    }
  });

  it('keeps UPDATE and DELETE working on a table whose primary key or identity index is dropped', async () => {
    await fx.client.query('CREATE TABLE loses_key (id int PRIMARY KEY, v text)');
    await fx.client.query("INSERT INTO loses_key VALUES (1, 'a')");
    await fx.client.query("UPDATE loses_key SET v = 'b'");
    await fx.client.query('ALTER TABLE loses_key DROP CONSTRAINT loses_key_pkey');
    await fx.client.query("UPDATE loses_key SET v = 'c'");
    await fx.client.query('DELETE FROM loses_key');

    await fx.client.query('CREATE TABLE loses_index (id int NOT NULL, v text)');
    await fx.client.query('CREATE UNIQUE INDEX loses_index_id ON loses_index (id)');
    await fx.client.query('ALTER TABLE loses_index REPLICA IDENTITY USING INDEX loses_index_id');
    expect(await keyedTables()).toContain('loses_index');
    await fx.client.query("INSERT INTO loses_index VALUES (1, 'a')");
    await fx.client.query("UPDATE loses_index SET v = 'b'");
    // The table keeps REPLICA IDENTITY USING INDEX, now naming no index: like NOTHING.
    await fx.client.query('DROP INDEX loses_index_id');
    await fx.client.query("UPDATE loses_index SET v = 'c'");
    await fx.client.query('DELETE FROM loses_index');
    await fx.client.query("INSERT INTO loses_index VALUES (2, 'd')");

    await until('loses_index marker', () => eventsOf('loses_index').some((e) => e.new?.id === 2));
    expect(eventsOf('loses_key').map((e) => [e.op, e.new?.v])).toEqual([['insert', 'a'], ['update', 'b']]);
    expect(eventsOf('loses_index').map((e) => [e.op, e.new?.v])).toEqual([['insert', 'a'], ['update', 'b'], ['insert', 'd']]);
    const keyed = await keyedTables();
    expect(keyed).not.toContain('loses_key');
    expect(keyed).not.toContain('loses_index');
  });

  it('lets DDL succeed, with a warning, when the keyed publication stays locked, and adds the table at a later sync', async () => {
    const other = new pg.Client(pgConfig({ database: fx.db.name }));
    await other.connect();
    const notices: string[] = [];
    const onNotice = (n: { message?: string }) => notices.push(n.message ?? '');
    fx.client.on('notice', onNotice);
    try {
      // ALTER PUBLICATION ... DROP TABLE holds the publication's lock until its transaction ends.
      await other.query('BEGIN');
      await other.query('ALTER PUBLICATION helios_test_pub_keyed DROP TABLE keyed_before');
      await fx.client.query('CREATE TABLE while_locked (id int PRIMARY KEY, v text)');
      expect(notices.find((m) => m.includes('could not add table public.while_locked to publication helios_test_pub_keyed'))).toMatch(/lock timeout/);
      expect(await keyedTables()).not.toContain('while_locked');
      await other.query('ROLLBACK');
    } finally {
      fx.client.off('notice', onNotice);
      await other.end();
    }
    await expect.poll(keyedTables, { timeout: 10_000 }).toContain('while_locked');
    await fx.client.query("INSERT INTO while_locked VALUES (1, 'a')");
    await fx.client.query("UPDATE while_locked SET v = 'b'");
    await until('while_locked update', () => eventsOf('while_locked').some((e) => e.op === 'update'));
  });

  it('uses a publication it did not create as it is, naming the tables whose UPDATE and DELETE it makes fail', async () => {
    const slot = `${SLOT}_foreign`;
    const own = new RecordingSink();
    await fx.client.query('CREATE PUBLICATION foreign_pub FOR TABLES IN SCHEMA public');
    const foreign = newCapture(slot, 'foreign_pub', own);
    try {
      foreign.start();
      await until('foreign capture streaming', () => foreign.state === 'streaming');
      expect(foreign.status()).toMatchObject({ publications: ['foreign_pub'], keyedSync: 'off' });
      const warning = logs.find((l) => l.includes('publication foreign_pub, used as it is') && l.includes('publishes UPDATE and DELETE for tables without a replica identity'));
      expect(warning).toContain('public.no_key_before');
      expect(warning).toContain('REPLICA IDENTITY FULL');
      expect(warning).not.toContain('public.accounts');
      const { rows } = await fx.client.query("SELECT pubname, pubupdate FROM pg_publication WHERE pubname LIKE 'foreign_pub%'");
      expect(rows).toEqual([{ pubname: 'foreign_pub', pubupdate: true }]);
    } finally {
      await foreign.stop();
      // Until it is gone, UPDATE and DELETE on no_key_before fail.
      await fx.client.query('DROP PUBLICATION foreign_pub');
      await fx.client.query('SELECT pg_drop_replication_slot($1)', [slot]).catch(() => {});
    }
    await fx.client.query("UPDATE no_key_before SET v = 'still writable'");
  });
});
