// The audit ledger running in a sidecar: statements through the proxy and committed row changes
// (through change capture, in the capture's hand-off transaction) become entries; checkpoints are
// signed as the log grows, each consistent with the last, and the stored log verifies against them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedgerPlugin } from '../plugins/ledger.ts';
import { ChangeCapture } from '../src/cdc/capture.ts';
import { migrate } from '../src/control-schema.ts';
import { CheckpointSigner, openCheckpoint } from '../src/ledger/checkpoint/index.ts';
import { decodeLeaf } from '../src/ledger/leaf.ts';
import { LedgerService, rowDigest } from '../src/ledger/service.ts';
import { expandStatements } from '../src/ledger/statement-batch.ts';
import { verifyAgainstCheckpoint, verifyLocal } from '../src/ledger/store.ts';
import { useFreshDatabase } from './harness/db.ts';
import { pgConfig, testPg } from './harness/pg.ts';
import { startTestProxy, type TestProxy } from './support/proxy.ts';

const fx = useFreshDatabase('ledger_service');
const dir = mkdtempSync(join(tmpdir(), 'helios-ledger-svc-'));
const ORIGIN = 'heliosdb.test/ledger-service';
const control = () => ({ target: { host: testPg.host, port: testPg.port, sslmode: 'disable' as const }, user: testPg.user, password: testPg.password, database: fx.db.name });
let ledger: LedgerService;
let proxy: TestProxy;

async function entries(kind: string): Promise<Record<string, unknown>[]> {
  const { rows } = await fx.client.query<{ leaf: Buffer }>('SELECT leaf FROM helios.ledger_entries WHERE kind = $1 ORDER BY id', [kind]);
  return rows.map((r) => decodeLeaf(r.leaf).entry);
}

beforeAll(async () => {
  await migrate(fx.client);
  await fx.client.query('CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric)');
  ledger = new LedgerService({ control, registry: new Registry(), log: () => {}, keyDir: join(dir, 'keys'), origin: ORIGIN, checkpointMs: 3_600_000 });
  ledger.start();
  proxy = await startTestProxy({ plugins: 'none', extraPlugins: [createLedgerPlugin(ledger)] });
});

afterAll(async () => {
  await proxy?.close();
  await ledger?.close();
  await fx.client.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database()').catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

describe('audit ledger in the sidecar', () => {
  it('logs statements through the proxy with who, what (literals masked) and the outcome', async () => {
    const c = new pg.Client({ ...pgConfig({ database: fx.db.name }), host: '127.0.0.1', port: proxy.port, application_name: 'billing' });
    await c.connect();
    await c.query("INSERT INTO accounts VALUES (1, 'ann', 10)");
    await c.query('SELECT balance FROM accounts WHERE id = $1', [1]);
    await c.query('SELECT * FROM no_such_table').catch(() => {});
    await c.end();
    await ledger.flush();
    const leaves = await entries('statements');
    const logged = leaves.flatMap(expandStatements);
    expect(logged.map((e) => [e.statement, e.text, e.sqlstate])).toEqual([
      ['INSERT', 'INSERT INTO accounts VALUES ($1, $2, $3)', null],
      ['SELECT', 'SELECT balance FROM accounts WHERE id = $1', null],
      ['SELECT', 'SELECT * FROM no_such_table', '42P01'],
    ]);
    expect(logged[0]).toMatchObject({ statement: 'INSERT', user: testPg.user, database: fx.db.name, application: 'billing', tables: ['accounts'], rows: 1 });
    expect(JSON.stringify(logged)).not.toContain('ann');
  });

  it('logs committed row changes with hashes of the rows, in the change-capture hand-off', async () => {
    const capture = new ChangeCapture({ slot: `helios_test_${process.pid}_ledger`, publication: 'helios_test_ledger', schemas: ['public'], control, sinks: [ledger.sink], log: () => {} });
    capture.start();
    try {
      for (let i = 0; i < 100 && capture.state !== 'streaming'; i++) await new Promise((r) => setTimeout(r, 50));
      await fx.client.query("UPDATE accounts SET balance = 20 WHERE id = 1");
      await fx.client.query('DELETE FROM accounts WHERE id = 1');
      let rows: Record<string, unknown>[] = [];
      for (let i = 0; i < 200 && rows.length < 2; i++) {
        await new Promise((r) => setTimeout(r, 50));
        rows = await entries('row');
      }
      expect(rows.map((e) => [e.table, e.op, e.key])).toEqual([['public.accounts', 'update', { id: 1 }], ['public.accounts', 'delete', { id: 1 }]]);
      expect(rows[0]!.new).toBe(rowDigest({ id: 1, owner: 'ann', balance: '20' }));
      expect(rows[1]!.new).toBeNull();
      expect(rows[0]!.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    } finally {
      await capture.stop();
    }
  });

  it('signs checkpoints as the log grows, each consistent with the last; the log verifies against them', async () => {
    const first = await ledger.checkpoint();
    expect(first).not.toBeNull();
    ledger.record('action', { action: 'test', detail: 'more entries' });
    ledger.record('action', { action: 'test', detail: 'and another' });
    const second = await ledger.checkpoint();
    // The first signing was recorded as an action too.
    expect(second!.size).toBe(first!.size + 3);
    // Nothing new: no new checkpoint.
    expect(await ledger.checkpoint()).toBeNull();
    const verifiers = CheckpointSigner.open(join(dir, 'keys'), ORIGIN).verifiers();
    expect(openCheckpoint(second!.note, verifiers, { origin: ORIGIN }).checkpoint.size).toBe(second!.size);
    for (const cp of [first!, second!]) expect((await verifyAgainstCheckpoint(fx.client, cp.note, verifiers, ORIGIN)).ok).toBe(true);
    expect((await verifyLocal(fx.client)).ok).toBe(true);
    const stored = await fx.client.query('SELECT size FROM helios.ledger_checkpoints ORDER BY size');
    expect(stored.rows.map((r) => Number(r.size))).toEqual([first!.size, second!.size]);
    const signings = (await entries('action')).filter((e) => e.action === 'checkpoint_signed');
    expect(signings.map((e) => e.size)).toEqual([first!.size, second!.size]);
  });

  it('records HeliosDB\'s own actions: budget and webhook changes, from any SQL client', async () => {
    const acme = async (n: number) => {
      let found: Record<string, unknown>[] = [];
      for (let i = 0; i < 100 && found.length < n; i++) {
        await new Promise((r) => setTimeout(r, 50));
        await ledger.flush();
        found = (await entries('action')).filter((e) => e.tenant === 'acme');
      }
      return found;
    };
    // Each change is recorded with the definition as read when its NOTIFY arrives.
    await fx.client.query("SELECT helios.set_budget('acme', 100, 'month')");
    await acme(1);
    await fx.client.query("SELECT helios.remove_budget('acme')");
    const actions = await acme(2);
    expect(actions.map((e) => e.action)).toEqual(['budget_set', 'budget_removed']);
    expect(actions[0]!.budget).toMatchObject({ tenant: 'acme', limit_usd: '100.000000', period: 'month', action: 'reject' });
  });
});
