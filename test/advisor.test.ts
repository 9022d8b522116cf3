// The optimization advisor end to end: statements through a real proxy to the real test server,
// priced by the cost engine, then advice from their parse trees, sampled values and plans.
// A missing index on a filtered column is recommended as CREATE INDEX CONCURRENTLY after the
// planner validated it (here by building it in a rolled-back transaction: the test server has
// no HypoPG) and nothing is left behind; an index that would not halve the cost is not
// recommended; a no-WHERE scan of a large table is flagged; an untouched table is cold; the
// sampled values never leave through the API or SHOW helios.advice.
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { costRoutes } from '../src/api/cost.ts';
import { costCommand } from '../src/cost-cli.ts';
import { migrate } from '../src/control-schema.ts';
import { CostAdvisor, DEFAULT_ADVISOR_OPTIONS, type Advice } from '../src/cost/advisor/index.ts';
import { CostEngine, DEFAULT_COST_OPTIONS } from '../src/cost/index.ts';
import { startHttpServer, type HttpServer } from '../src/http.ts';
import { useFreshDatabase } from './harness/db.ts';
import { pgConfig, testPg } from './harness/pg.ts';
import { startTestProxy, type TestProxy } from './support/proxy.ts';

const fx = useFreshDatabase('advisor');
const control = () => ({ target: { host: testPg.host, port: testPg.port, sslmode: 'disable' as const }, user: testPg.user, password: testPg.password, database: fx.db.name });
let engine: CostEngine;
let proxy: TestProxy;
let http: HttpServer;
let client: pg.Client;
let advice: Advice;
/** A value only the sampled executions hold; it must never appear in the advice. */
const SECRET = 'zq9x';

async function indexes(): Promise<string[]> {
  const { rows } = await fx.client.query<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1");
  return rows.map((r) => r.indexname);
}

beforeAll(async () => {
  await migrate(fx.client);
  // About 20 MiB: above the advisor's 10 MiB "large table" line, below its 64 MiB validation cap.
  await fx.client.query(`CREATE TABLE big AS
    SELECT g AS id, g % 1500 AS account, g % 2 = 0 AS flag, md5(g::text) || md5((g + 1)::text) AS payload
      FROM generate_series(1, 150000) g`);
  await fx.client.query('ALTER TABLE big ADD PRIMARY KEY (id)');
  await fx.client.query('CREATE TABLE untouched AS SELECT g AS id, md5(g::text) AS body FROM generate_series(1, 20000) g');
  await fx.client.query('ANALYZE big; ANALYZE untouched');

  engine = new CostEngine(
    { registry: new Registry(), control, log: () => {} },
    { ...DEFAULT_COST_OPTIONS, tenantSources: ['tag', 'application_name'], flushMs: 500 },
  );
  await engine.start();
  proxy = await startTestProxy({ plugins: 'all', cost: engine });
  http = await startHttpServer({ host: '127.0.0.1', port: 0, registry: new Registry(), readiness: async () => ({ ready: true, checks: {} }), api: costRoutes(() => engine) });
  client = new pg.Client({ ...pgConfig({ database: fx.db.name }), host: '127.0.0.1', port: proxy.port, application_name: 'acme' });
  await client.connect();

  for (let i = 0; i < 8; i++) {
    await client.query('SELECT id, payload FROM big WHERE account = $1', [(i * 37) % 1500]);
    await client.query('SELECT count(*) FROM big WHERE flag = $1', [i % 2 === 0]);
  }
  for (let i = 0; i < 3; i++) await client.query('SELECT count(*) FROM big');
  await client.query(`SELECT id FROM big WHERE payload LIKE '%${SECRET}%'`);

  advice = await engine.advisor.run();
});

afterAll(async () => {
  await client?.end().catch(() => {});
  await http?.close();
  await proxy?.close();
  await engine?.close();
});

describe('index advice', () => {
  it('recommends a missing index on a filtered column of a big table, as CREATE INDEX CONCURRENTLY, validated by the planner', () => {
    const rec = advice.indexes.find((i) => i.status === 'recommended' && i.table === 'big' && i.columns.join() === 'account');
    expect(rec, JSON.stringify(advice.indexes, null, 1)).toBeDefined();
    expect(rec!.statement).toBe('CREATE INDEX CONCURRENTLY big_account_idx ON public.big (account)');
    expect(rec!.validation).toBe('rollback');
    expect(rec!.bestReductionPct!).toBeGreaterThanOrEqual(50);
    const effect = rec!.statements.find((s) => s.query.includes('account = $1'))!;
    expect(effect.planCostAfter!).toBeLessThanOrEqual(effect.planCostBefore / 2);
    expect(rec!.netSavingsUsd).toBeGreaterThan(0);
    expect(advice.databases.find((d) => d.database === fx.db.name)?.validation).toBe('rollback');
  });

  it('leaves nothing behind: the only index is still the primary key, and no advisor session stays open', async () => {
    expect(await indexes()).toEqual(['big_pkey']);
    // Its connection was closed when the run ended; the backend leaves pg_stat_activity as it exits.
    const sessions = async () => (await fx.client.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'heliosdb-advisor' AND datname = $1", [fx.db.name])).rows[0].n as number;
    for (let i = 0; i < 100 && (await sessions()) > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await sessions()).toBe(0);
  });

  it('does not recommend an index that would not halve the statement cost', () => {
    expect(advice.indexes.filter((i) => i.status === 'recommended' && i.columns.includes('flag'))).toEqual([]);
    const flag = advice.indexes.find((i) => i.table === 'big' && i.columns.join() === 'flag');
    expect(flag?.status).toBe('rejected');
    expect(flag?.reason).toMatch(/below Dexter's 50% rule|would not use it/);
  });

  it('does not recommend what it could not validate: tables above the size cap are "not validated"', async () => {
    const capped = new CostAdvisor({ queries: engine.queries, card: engine.card, control, log: () => {} }, { ...DEFAULT_ADVISOR_OPTIONS, maxValidateTableBytes: 1024 * 1024 });
    const a = await capped.run();
    expect(a.indexes.filter((i) => i.status === 'recommended')).toEqual([]);
    const nv = a.indexes.find((i) => i.table === 'big' && i.status === 'not_validated');
    expect(nv?.reason).toMatch(/above the 1 MiB/);
    expect(await indexes()).toEqual(['big_pkey']);
  });

  it('the recommended statement runs through the proxy, creates the index, and the shape then costs less', async () => {
    const rec = advice.indexes.find((i) => i.status === 'recommended' && i.columns.join() === 'account')!;
    const fp = rec.statements.find((x) => x.query.includes('account = $1'))!.fingerprint;
    const pagesBefore = engine.io.pagesPerCall(fx.db.name, fp)!;
    expect(pagesBefore).toBeGreaterThan(0);
    await client.query(rec.statement);
    try {
      expect(await indexes()).toEqual(['big_account_idx', 'big_pkey']);
      // The shape is replanned (DDL through the proxy) and, its plan changed, its pages measured again.
      for (let i = 0; i < 200 && !(engine.io.pagesPerCall(fx.db.name, fp)! < pagesBefore / 2); i++) {
        await client.query('SELECT id, payload FROM big WHERE account = $1', [(i * 11) % 1500]);
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(engine.io.pagesPerCall(fx.db.name, fp)!).toBeLessThan(pagesBefore / 2);
      const again = await engine.advisor.run();
      expect(again.indexes.filter((i) => i.status === 'recommended' && i.columns.join() === 'account')).toEqual([]);
    } finally {
      await fx.client.query('DROP INDEX big_account_idx');
    }
  });
});

describe('scan flags, hints and tiering', () => {
  it('flags a scan with no WHERE of a large table', () => {
    const f = advice.flags.find((x) => x.kind === 'no_where_scan');
    expect(f?.table).toBe('public.big');
    expect(f?.query).toBe('SELECT count(*) FROM big');
    expect(f?.evidence.calls).toBe(3);
  });

  it('hints a trigram index for a LIKE whose sampled pattern starts with a wildcard', () => {
    expect(advice.hints.find((h) => h.kind === 'leading_wildcard_like')?.table).toBe('public.big');
  });

  it('classifies an untouched table as cold, with what cold storage would save, and the queried one as not cold', () => {
    const cold = advice.tiering.find((t) => t.table === 'untouched');
    expect(cold?.tier).toBe('cold');
    expect(cold!.savingsUsdPerMonth).toBeGreaterThan(0);
    expect(cold!.savingsUsdPerMonth).toBeCloseTo(cold!.storageUsdPerMonth - cold!.coldUsdPerMonth, 12);
    expect(advice.tiering.find((t) => t.table === 'big')?.tier).not.toBe('cold');
  });
});

describe('where it shows', () => {
  it('GET /api/v1/cost/advice answers with the advice and never the sampled values; progress is readable', async () => {
    const res = await fetch(`${http.url}/api/v1/cost/advice`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain(SECRET);
    const body = JSON.parse(text) as Advice;
    expect(body.indexes.some((i) => i.status === 'recommended' && i.columns.join() === 'account')).toBe(true);
    // A recent answer is reused on request.
    const cached = (await (await fetch(`${http.url}/api/v1/cost/advice?maxAgeSeconds=3600`)).json()) as Advice;
    expect(cached.generatedAt).toBe(body.generatedAt);
    const progress = (await (await fetch(`${http.url}/api/v1/cost/advice/progress`)).json()) as { progress: { phase: string; running: boolean } };
    expect(progress.progress).toMatchObject({ phase: 'done', running: false });
    expect((await fetch(`${http.url}/api/v1/cost/advice?maxAgeSeconds=-1`)).status).toBe(400);
  });

  it('helios cost advice prints the recommendation and the tiers', async () => {
    const out: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
    try {
      await costCommand('cost', ['advice', '--http', `${http.host}:${http.port}`]);
    } finally {
      write.mockRestore();
    }
    const text = out.join('');
    expect(text).toMatch(/indexes recommended \(1\):[\s\S]*CREATE INDEX CONCURRENTLY big_account_idx ON public\.big \(account\)/);
    expect(text).toMatch(/public\.untouched\s+cold/);
    expect(text).not.toContain(SECRET);
  });

  it('SHOW helios.advice through the proxy lists the same advice, without the sampled values', async () => {
    const show = await client.query('SHOW helios.advice');
    expect(show.fields.map((f) => f.name)).toContain('statement');
    expect(show.rows.some((r) => r.kind === 'index' && r.status === 'recommended' && /^CREATE INDEX CONCURRENTLY/.test(r.statement))).toBe(true);
    expect(show.rows.some((r) => r.kind === 'tier' && r.status === 'cold' && r.relation === 'public.untouched')).toBe(true);
    expect(JSON.stringify(show.rows)).not.toContain(SECRET);
  });
});
