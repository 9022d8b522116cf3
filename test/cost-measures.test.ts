// The cost engine's measurements against the real server: pages per execution from
// pg_stat_statements or from sampled EXPLAIN (ANALYZE, BUFFERS), and spend shared by two
// sidecars through helios.cost_spend.
import { fingerprintSync } from 'libpg-query';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/control-schema.ts';
import { IoMeter } from '../src/cost/io-meter.ts';
import { shapeKey } from '../src/cost/query-costs.ts';
import { SpendBook } from '../src/cost/spend-book.ts';
import { useFreshDatabase } from './harness/db.ts';
import { pgConfig } from './harness/pg.ts';

const fx = useFreshDatabase('cost_measures');
const opened: pg.Client[] = [];
const connect = async (database: string) => {
  const c = new pg.Client(pgConfig({ database }));
  await c.connect();
  opened.push(c);
  return c;
};
const SCAN = 'SELECT count(*) FROM pages_t WHERE v LIKE $1';
let relpages: number;

beforeAll(async () => {
  await fx.client.query(`CREATE TABLE pages_t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g`);
  await fx.client.query('VACUUM ANALYZE pages_t');
  relpages = (await fx.client.query("SELECT relpages FROM pg_class WHERE relname = 'pages_t'")).rows[0].relpages;
  expect(relpages).toBeGreaterThan(50);
});

afterAll(async () => {
  await Promise.all(opened.map((c) => c.end().catch(() => {})));
});

describe('IoMeter', () => {
  it('reads pages per execution from pg_stat_statements deltas when the extension is there', async () => {
    await fx.client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    const meter = new IoMeter(connect, () => fx.db.name, connect, { pollMs: 100, sampleEveryMs: 60_000 });
    expect(await meter.start()).toBe('pg_stat_statements');
    try {
      const fp = fingerprintSync(SCAN);
      for (let round = 0; round < 50 && meter.pagesPerCall(fx.db.name, fp) === undefined; round++) {
        await fx.client.query(SCAN, ['a%']);
        await new Promise((r) => setTimeout(r, 60));
      }
      const pages = meter.pagesPerCall(fx.db.name, fp)!;
      // A sequential scan reads every page of the table, in the buffer cache or not.
      expect(pages).toBeGreaterThanOrEqual(relpages * 0.9);
      expect(pages).toBeLessThanOrEqual(relpages * 1.5);
    } finally {
      meter.stop();
      await fx.client.query('DROP EXTENSION pg_stat_statements');
    }
  });

  it('without it, samples EXPLAIN (ANALYZE, BUFFERS) of read-only statements in a rolled-back READ ONLY transaction', async () => {
    const meter = new IoMeter(connect, () => fx.db.name, connect, { pollMs: 100, sampleEveryMs: 60_000 });
    expect(await meter.start()).toBe('explain_analyze');
    const fp = fingerprintSync(SCAN);
    meter.maybeSample(shapeKey(fx.db.name, fp), true, { explainRequest: () => ({ database: fx.db.name, text: SCAN, params: [Buffer.from('b%')], paramFormats: [0] }) });
    for (let i = 0; i < 100 && meter.pagesPerCall(fx.db.name, fp) === undefined; i++) await new Promise((r) => setTimeout(r, 20));
    expect(meter.pagesPerCall(fx.db.name, fp)!).toBeGreaterThanOrEqual(relpages * 0.9);
    // Writes are never run again to measure them.
    const insert = 'INSERT INTO pages_t VALUES ($1, $2)';
    meter.maybeSample(shapeKey(fx.db.name, fingerprintSync(insert)), false, { explainRequest: () => ({ database: fx.db.name, text: insert, params: [Buffer.from('0'), Buffer.from('x')] }) });
    await new Promise((r) => setTimeout(r, 200));
    expect((await fx.client.query('SELECT count(*)::int AS n FROM pages_t WHERE id = 0')).rows[0].n).toBe(0);
    expect(meter.pagesPerCall(fx.db.name, fingerprintSync(insert))).toBeUndefined();
  });

  it('samples on a connection of its own, and never again a SELECT that turns out to write', async () => {
    await fx.client.query('CREATE TABLE IF NOT EXISTS sample_log (at timestamptz)');
    await fx.client.query(`CREATE OR REPLACE FUNCTION slow_write() RETURNS int LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(0.3); INSERT INTO sample_log VALUES (now()); RETURN 1; END $$`);
    const shared = await connect(fx.db.name);
    const sampler = new Map<string, Promise<pg.Client>>();
    const meter = new IoMeter(
      async () => shared,
      () => fx.db.name,
      (db) => sampler.get(db) ?? (sampler.set(db, connect(db)), sampler.get(db)!),
      { pollMs: 100, sampleEveryMs: 0 },
    );
    expect(await meter.start()).toBe('explain_analyze');
    const text = 'SELECT slow_write()';
    const key = shapeKey(fx.db.name, fingerprintSync(text));
    const source = { explainRequest: () => ({ database: fx.db.name, text, params: [] }) };
    expect(meter.maybeSample(key, true, source)).toBe(true);
    // Work on the shared control connection while the sample's transaction is open and after its
    // statement failed in it: none of it lands in that transaction.
    const during: Array<Promise<unknown>> = [];
    for (let i = 0; i < 8; i++) {
      during.push(shared.query('SELECT 1'));
      await new Promise((r) => setTimeout(r, 60));
    }
    await expect(Promise.all(during)).resolves.toHaveLength(8);
    await expect(shared.query('INSERT INTO sample_log VALUES (now())')).resolves.toBeDefined();
    const sampling = "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'EXPLAIN%slow_write%' AND state <> 'idle'";
    for (let i = 0; i < 200 && (await fx.client.query(sampling)).rows[0].n > 0; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 50));
    expect(meter.maybeSample(key, true, source)).toBe(false);
    expect(meter.pagesPerCall(fx.db.name, fingerprintSync(text))).toBeUndefined();
    expect((await fx.client.query('SELECT count(*)::int AS n FROM sample_log')).rows[0].n).toBe(1);
  });
});

describe('SpendBook', () => {
  it('lets two sidecars add to one tenant and each read the total back, and keeps a failed flush for the next', async () => {
    await migrate(fx.client);
    const a = new SpendBook();
    const b = new SpendBook();
    const cost = (usd: number) => ({ compute: usd, io: 0, scanned: 0, egress: 0, total: usd });
    a.add('shared', cost(0.25));
    b.add('shared', cost(0.5));
    b.add('shared', cost(0.125));
    const ca = await connect(fx.db.name);
    const cb = await connect(fx.db.name);
    await a.sync(ca);
    await b.sync(cb);
    await a.sync(ca);
    expect(a.spent('shared', 'day')).toBeCloseTo(0.875, 12);
    expect(b.spent('shared', 'month')).toBeCloseTo(0.875, 12);
    expect(a.period('shared', 'day').statements).toBe(3);

    // The database goes away mid-flush: the delta is kept, counted, and written by the next flush.
    a.add('shared', cost(1));
    const broken = await connect(fx.db.name);
    await broken.end();
    await expect(a.sync(broken)).rejects.toThrow();
    expect(a.spent('shared', 'day')).toBeCloseTo(1.875, 12);
    await a.sync(ca);
    await b.sync(cb);
    expect(b.spent('shared', 'day')).toBeCloseTo(1.875, 12);
  });
});
