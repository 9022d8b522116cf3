// Plan capture against the real test server.
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useFreshDatabase } from '../../../test/harness/db.ts';
import { pgConfig } from '../../../test/harness/pg.ts';
import { planHash } from '../plan-shape.ts';
import { maskPlanLiterals, PlanCapture, type CapturedPlan, type PlanCaptureOptions, type PlanRequest } from './plans.ts';

const fx = useFreshDatabase('tracing_plans');

beforeAll(async () => {
  await fx.client.query(`
    CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, total numeric NOT NULL);
    CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
    INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 100) g;
    INSERT INTO orders SELECT g, 1 + g % 100, g FROM generate_series(1, 2000) g;
    ANALYZE orders; ANALYZE customers;
  `);
});

const opened: pg.Client[] = [];
const captures: PlanCapture[] = [];

async function connect(database: string): Promise<pg.Client> {
  const c = new pg.Client({ ...pgConfig({ database }), application_name: 'heliosdb-plans-test' });
  c.on('error', () => {});
  await c.connect();
  opened.push(c);
  return c;
}

function capture(opts: Partial<PlanCaptureOptions> = {}): PlanCapture {
  const p = new PlanCapture({ connect, ...opts });
  captures.push(p);
  return p;
}

afterEach(async () => {
  await Promise.allSettled(captures.splice(0).map((p) => p.close()));
});

afterAll(async () => {
  await Promise.allSettled(opened.map((c) => c.end()));
});

const byId = (id: string, over: Partial<PlanRequest> = {}): PlanRequest => ({
  fingerprint: 'f-by-id',
  database: fx.db.name,
  kind: 'SELECT',
  text: 'SELECT total FROM orders WHERE id = $1',
  protocol: 'extended',
  params: [Buffer.from(id)],
  paramFormats: [0],
  ...over,
});

describe('PlanCapture', () => {
  it('explains an extended-protocol statement with its Bind parameters and tells the listeners', async () => {
    const plans = capture();
    const heard: CapturedPlan[] = [];
    plans.onPlan((p) => heard.push(p));
    const plan = await plans.capture(byId('42'));
    expect(plan).toBeDefined();
    expect(plan!.fingerprint).toBe('f-by-id');
    expect(plan!.database).toBe(fx.db.name);
    expect(plan!.planHash).toMatch(/^[0-9a-f]{16}$/);
    expect(plan!.totalCost).toBeGreaterThan(0);
    const top = (plan!.plan as { Plan: Record<string, unknown> }[])[0]!.Plan;
    expect(top['Node Type']).toBe('Index Scan');
    expect(top['Relation Name']).toBe('orders');
    expect(top['Index Name']).toBe('orders_pkey');
    // Costs present, but never ANALYZE's actual figures.
    expect(top['Actual Rows']).toBeUndefined();
    expect(heard).toEqual([plan]);
  });

  it('explains a simple-protocol statement\'s text, comments and all', async () => {
    const plan = await capture().capture({
      fingerprint: 'f-join',
      database: fx.db.name,
      kind: 'SELECT',
      text: "/*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/ SELECT c.name, sum(o.total) FROM orders o JOIN customers c ON c.id = o.customer GROUP BY c.name",
      protocol: 'simple',
    });
    expect(JSON.stringify(plan!.plan)).toMatch(/"Relation Name":"customers"/);
    expect(JSON.stringify(plan!.plan)).toMatch(/"Relation Name":"orders"/);
  });

  it('hashes the plan shape: equal for other parameter values, different for another access path', async () => {
    const one = await capture().capture(byId('1'));
    const two = await capture().capture(byId('1999'));
    const scan = await capture().capture({ ...byId('1'), fingerprint: 'f-scan', text: 'SELECT total FROM orders WHERE total > $1' });
    expect(two!.planHash).toBe(one!.planHash);
    expect(two!.totalCost).toBeGreaterThan(0);
    expect(scan!.planHash).not.toBe(one!.planHash);
  });

  it('hashes with plan-shape.ts, as the anomaly engine does', async () => {
    const plan = await capture().capture(byId('7', { fingerprint: 'f-shape' }));
    expect(plan!.planHash).toBe(planHash(plan!.plan));
  });

  it('masks the constants in a plan\'s expressions and nothing else', async () => {
    const plan = await capture().capture({
      ...byId('42', { fingerprint: 'f-mask' }),
      text: "SELECT o.total FROM orders o JOIN customers c ON c.id = o.customer WHERE o.id = $1 AND c.name <> 'it''s secret' AND o.total > 1.5e3",
    });
    const text = JSON.stringify(plan!.plan);
    expect(text).toMatch(/secret/);
    const masked = JSON.stringify(maskPlanLiterals(plan!.plan));
    expect(masked).not.toMatch(/secret|\b42\b|1500|1\.5e3/);
    expect(masked).toMatch(/"Relation Name":"orders"/);
    expect(masked).toMatch(/orders_pkey/);
    expect(maskPlanLiterals([{ Plan: { 'Node Type': 'Seq Scan', 'Relation Name': 't1', Filter: "((a1 = 5) AND (b = 'x'::text) AND (\"c2\" = -2.5))", 'Total Cost': 12.5 } }])).toEqual([
      { Plan: { 'Node Type': 'Seq Scan', 'Relation Name': 't1', Filter: "((a1 = ?) AND (b = ?::text) AND (\"c2\" = ?))", 'Total Cost': 12.5 } },
    ]);
  });

  it('explains INSERT, UPDATE and DELETE without running them', async () => {
    const plans = capture();
    const req = (fingerprint: string, kind: string, text: string, params: string[]): PlanRequest => ({
      fingerprint, database: fx.db.name, kind, text, protocol: 'extended', params: params.map((p) => Buffer.from(p)), paramFormats: params.map(() => 0),
    });
    const insert = await plans.capture(req('f-ins', 'INSERT', 'INSERT INTO customers (id, name) VALUES ($1, $2)', ['1000', 'new']));
    const update = await plans.capture(req('f-upd', 'UPDATE', 'UPDATE orders SET total = total + 1 WHERE id = $1', ['5']));
    const del = await plans.capture(req('f-del', 'DELETE', 'DELETE FROM orders WHERE customer = $1', ['3']));
    expect((insert!.plan as { Plan: Record<string, unknown> }[])[0]!.Plan).toMatchObject({ 'Node Type': 'ModifyTable', Operation: 'Insert' });
    expect(update).toBeDefined();
    expect(del).toBeDefined();
    const counts = await fx.client.query('SELECT (SELECT count(*) FROM customers)::int AS c, (SELECT count(*) FROM orders)::int AS o, (SELECT total FROM orders WHERE id = 5)::int AS t');
    expect(counts.rows[0]).toEqual({ c: 100, o: 2000, t: 5 });
  });

  it('explains only plannable kinds, parsed statements, and text-format parameters', () => {
    const plans = capture();
    expect(plans.capture(byId('1', { kind: 'CREATE_TABLE', text: 'CREATE TABLE x (a int)' }))).toBeUndefined();
    expect(plans.capture(byId('1', { kind: 'TRANSACTION', text: 'BEGIN' }))).toBeUndefined();
    expect(plans.capture(byId('1', { fingerprint: '' }))).toBeUndefined();
    expect(plans.capture(byId('1', { paramFormats: [1], params: [Buffer.from([0, 0, 0, 1])] }))).toBeUndefined();
    expect(plans.capture(byId('1', { params: undefined }))).toBeUndefined();
    expect(plans.running).toBe(0);
  });

  it('runs one EXPLAIN per fingerprint at a time and at most one per interval', async () => {
    let clock = 1_000_000;
    const plans = capture({ minIntervalMs: 60_000, now: () => clock });
    const first = plans.capture(byId('1'));
    expect(first).toBeDefined();
    expect(plans.capture(byId('2'))).toBeUndefined(); // in flight
    expect(plans.capture(byId('2', { fingerprint: 'other' }))).toBeDefined();
    await plans.idle();
    clock += 59_999;
    expect(plans.capture(byId('3'))).toBeUndefined(); // within the interval
    clock += 1;
    expect(await plans.capture(byId('4'))).toBeDefined();
    // The same fingerprint in another database is another statement.
    expect(plans.capture(byId('5', { database: 'postgres' }))).toBeDefined();
    await plans.idle();
  });

  it('gives up within the timeout when the EXPLAIN waits on a lock, and reports why', async () => {
    const errors: string[] = [];
    const plans = capture({ timeoutMs: 300, onError: (e) => errors.push(e.message) });
    const locker = await connect(fx.db.name);
    await locker.query('BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
    try {
      const started = Date.now();
      const plan = await plans.capture(byId('1', { fingerprint: 'f-locked' }));
      expect(plan).toBeUndefined();
      expect(Date.now() - started).toBeLessThan(2000);
      await plans.idle();
      await expect.poll(() => errors.length).toBe(1);
      expect(errors[0]).toMatch(/statement timeout/);
    } finally {
      await locker.query('ROLLBACK');
    }
  });

  it('reports an EXPLAIN the server rejects and yields no plan', async () => {
    const errors: string[] = [];
    const plans = capture({ onError: (e) => errors.push(e.message) });
    expect(await plans.capture(byId('1', { fingerprint: 'f-missing', text: 'SELECT * FROM no_such_table WHERE a = $1' }))).toBeUndefined();
    expect(errors[0]).toMatch(/no_such_table/);
  });

  it('uses a pool\'s shared connection as it is, and leaves it open', async () => {
    const shared = await connect(fx.db.name);
    const plans = capture({ ownsConnections: false, connect: async () => shared });
    const [a, b] = await Promise.all([plans.capture(byId('1', { fingerprint: 's1' })), plans.capture(byId('2', { fingerprint: 's2' }))]);
    expect(a).toBeDefined();
    expect(b).toBeDefined();
    await plans.close();
    expect((await shared.query('SHOW default_transaction_read_only')).rows).toEqual([{ default_transaction_read_only: 'off' }]);
  });

  it('keeps one connection per database and ends them on close', async () => {
    const before = opened.length;
    const plans = capture();
    await plans.capture(byId('1', { fingerprint: 'c1' }));
    await plans.capture(byId('2', { fingerprint: 'c2' }));
    expect(opened.length - before).toBe(1);
    const mine = opened[opened.length - 1]!;
    const ended = new Promise<void>((resolve) => mine.once('end', () => resolve()));
    await plans.close();
    await ended;
    expect(plans.capture(byId('3', { fingerprint: 'c3' }))).toBeUndefined();
  });
});
