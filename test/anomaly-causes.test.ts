// The evidence checks behind an anomaly's cause, against the real test server: who waits on
// which lock and who holds it, a statement's plan before and after its index goes, and the
// upstream's connection headroom.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { genericPlanShape, lockWaitEvidence, saturationEvidence } from '../src/observability/anomaly/causes.ts';
import { createControlPool, type ControlPool } from '../src/observability/control-pool.ts';
import { useFreshDatabase } from './harness/db.ts';
import { pgConfig, testPg } from './harness/pg.ts';

const fx = useFreshDatabase('anomaly_causes');
let pool: ControlPool;

beforeAll(async () => {
  pool = createControlPool(() => ({ target: { host: testPg.host, port: testPg.port, sslmode: 'disable' }, user: testPg.user, password: testPg.password }));
  await fx.client.query('CREATE TABLE accounts (aid int PRIMARY KEY, abalance int)');
  await fx.client.query('INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 20000) g');
  await fx.client.query('ANALYZE accounts');
});

afterAll(async () => {
  await pool?.close();
});

describe('anomaly evidence', () => {
  it('names the waiting sessions, the locked table and the blocking pid', async () => {
    expect(await lockWaitEvidence(pool.connect, fx.db.name)).toBeNull();
    const holder = new pg.Client(pgConfig({ database: fx.db.name }));
    const waiter = new pg.Client(pgConfig({ database: fx.db.name }));
    await holder.connect();
    await waiter.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE');
      const holderPid = (await holder.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      const blocked = waiter.query('SELECT abalance FROM accounts WHERE aid = 1');
      let ev = null;
      for (let i = 0; i < 100 && !ev; i++) {
        ev = await lockWaitEvidence(pool.connect, fx.db.name);
        if (!ev) await new Promise((r) => setTimeout(r, 50));
      }
      expect(ev).toMatchObject({ cause: 'lock_waits', details: { waiting: 1, blockerPids: [holderPid], relations: ['accounts'] } });
      expect(ev!.summary).toContain(`blocked by pid ${holderPid}`);
      await holder.query('ROLLBACK');
      await blocked;
    } finally {
      await holder.end();
      await waiter.end();
    }
  });

  it('sees the plan of a normalized statement change when its index is dropped', async () => {
    const sql = 'SELECT abalance FROM accounts WHERE aid = $1';
    const before = await genericPlanShape(pool.connect, fx.db.name, sql);
    expect(before).toMatch(/Index (Only )?Scan\[accounts_pkey on accounts\]/);
    await fx.client.query('ALTER TABLE accounts DROP CONSTRAINT accounts_pkey');
    const after = await genericPlanShape(pool.connect, fx.db.name, sql);
    expect(after).toMatch(/Seq Scan\[accounts\]/);
    expect(after).not.toBe(before);
    await fx.client.query('ALTER TABLE accounts ADD PRIMARY KEY (aid)');
    expect(await genericPlanShape(pool.connect, fx.db.name, sql)).toBe(before);
  });

  it('reports upstream saturation only with little headroom or failed connects', async () => {
    expect(await saturationEvidence(pool.connect, fx.db.name, 0)).toBeNull();
    const ev = await saturationEvidence(pool.connect, fx.db.name, 3);
    expect(ev).toMatchObject({ cause: 'upstream_saturation', details: { connectErrorsLastMinute: 3 } });
    expect(ev!.details.max).toBeGreaterThan(0);
  });

  it('keeps one diagnostic connection per database, with a statement timeout', async () => {
    const a = await pool.connect(fx.db.name);
    expect(await pool.connect(fx.db.name)).toBe(a);
    expect((await a.query('SHOW statement_timeout')).rows[0].statement_timeout).toBe('5s');
    const short = createControlPool(() => ({ target: { host: testPg.host, port: testPg.port, sslmode: 'disable' }, user: testPg.user, password: testPg.password }), 200);
    try {
      const c = await short.connect(fx.db.name);
      await expect(c.query('SELECT pg_sleep(2)')).rejects.toMatchObject({ code: '57014' });
    } finally {
      await short.close();
    }
  });
});
