// Per-query statistics, the slow log, the per-second series and the observability API, end to
// end: real statements through the proxy to the real test server, read back through psql-style
// SHOW helios.* commands and the HTTP API served by the real HTTP server.
import pg from 'pg';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { observabilityRoutes } from '../src/api/observability.ts';
import { startHttpServer, type HttpServer } from '../src/http.ts';
import { useFreshDatabase } from './harness/db.ts';
import { pgConfig } from './harness/pg.ts';
import { startTestProxy, type TestProxy } from './support/proxy.ts';

const fx = useFreshDatabase('observability');
let proxy: TestProxy;
let http: HttpServer;
let client: pg.Client;

async function getJson(path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${http.url}${path}`);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  proxy = await startTestProxy({ plugins: 'all', observability: { slowQueryMs: 50 } });
  const registry = proxy.observability.sources.registry;
  http = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    registry,
    readiness: async () => ({ ready: true, checks: {} }),
    api: observabilityRoutes(() => proxy.observability),
  });
  await fx.client.query('CREATE TABLE items (id int PRIMARY KEY, name text)');
  await fx.client.query("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 100) g");
  client = new pg.Client({ ...pgConfig({ database: fx.db.name }), host: '127.0.0.1', port: proxy.port, application_name: 'obs-test' });
  await client.connect();
});

afterAll(async () => {
  await client?.end();
  await http?.close();
  await proxy?.close();
});

describe('per-query statistics', () => {
  it('groups statements by fingerprint across literals and protocols, with percentiles, and shows them through SHOW helios.top_queries', async () => {
    for (let i = 1; i <= 20; i++) await client.query(`SELECT name FROM items WHERE id = ${i}`);
    for (let i = 1; i <= 10; i++) await client.query('SELECT name FROM items WHERE id = $1', [i]);
    const sql = postgres({ ...pgConfig({ database: fx.db.name }), host: '127.0.0.1', port: proxy.port, max: 1, onnotice: () => {} } as postgres.Options<{}>);
    try {
      for (let i = 1; i <= 5; i++) await sql`SELECT name FROM items WHERE id = ${i}`;
    } finally {
      await sql.end();
    }
    await expect(client.query('SELECT name FROM itemz WHERE id = 7')).rejects.toMatchObject({ code: '42P01' });

    const top = await client.query('SHOW helios.top_queries');
    expect(top.fields.map((f) => f.name)).toEqual([
      'fingerprint', 'database', 'calls', 'errors', 'rows', 'total_ms', 'mean_ms', 'p50_ms', 'p95_ms', 'p99_ms', 'first_seen', 'last_seen', 'query',
    ]);
    const lookups = top.rows.filter((r) => r.database === fx.db.name && /FROM items WHERE id = \$1/.test(r.query));
    expect(lookups).toHaveLength(1);
    const row = lookups[0]!;
    expect(Number(row.calls)).toBe(35);
    expect(Number(row.errors)).toBe(0);
    expect(Number(row.rows)).toBe(35);
    expect(Number(row.p50_ms)).toBeGreaterThan(0);
    expect(Number(row.p99_ms)).toBeGreaterThanOrEqual(Number(row.p50_ms));
    expect(row.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    // Literals never reach the statistics: the sample query is the normalized text.
    expect(top.rows.map((r) => r.query).join('\n')).not.toMatch(/id = 7|id = 1\b/);
    const failed = top.rows.find((r) => /itemz/.test(r.query));
    expect(failed && Number(failed.errors)).toBe(1);
  });

  it('serves the same figures from /api/v1/observability/queries, sorted as asked, and rejects bad parameters with 400', async () => {
    const { status, body } = await getJson(`/api/v1/observability/queries?sort=calls&limit=5&database=${fx.db.name}`);
    expect(status).toBe(200);
    expect(body.sort).toBe('calls');
    expect(body.queries.length).toBeLessThanOrEqual(5);
    expect(body.queries[0]).toMatchObject({ database: fx.db.name, calls: 35, errors: 0 });
    expect(body.queries[0].query).toMatch(/WHERE id = \$1/);
    for (let i = 1; i < body.queries.length; i++) expect(body.queries[i - 1].calls).toBeGreaterThanOrEqual(body.queries[i].calls);

    const bad = await getJson('/api/v1/observability/queries?sort=nonsense');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/sort/);
    const badLimit = await getJson('/api/v1/observability/queries?limit=-3');
    expect(badLimit.status).toBe(400);
    expect(badLimit.body.error).toMatch(/limit/);
    expect((await getJson('/api/v1/observability/nope')).status).toBe(404);
  });
});

describe('traces', () => {
  it('lists the last traces and serves one with its spans from /api/v1/observability/traces', async () => {
    await client.query("SELECT name FROM items WHERE id = 42 /*tenant='acme'*/");
    const { status, body } = await getJson('/api/v1/observability/traces?limit=5');
    expect(status).toBe(200);
    expect(body.exporting).toBe(false);
    expect(body.traces.length).toBeGreaterThan(0);
    const t = body.traces.find((x: { statement?: string }) => /FROM items WHERE id = \$1/.test(x.statement ?? ''));
    expect(t).toMatchObject({ database: fx.db.name, spanCount: 1, error: false });
    expect(t.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    const one = await getJson(`/api/v1/observability/traces/${t.traceId}`);
    expect(one.status).toBe(200);
    expect(one.body.spans[0].attributes).toMatchObject({ 'db.system.name': 'postgresql', 'db.namespace': fx.db.name, 'db.operation.name': 'SELECT' });
    expect(JSON.stringify(one.body)).not.toContain('id = 42');
    const byFingerprint = await getJson(`/api/v1/observability/traces?fingerprint=${t.fingerprint}`);
    expect(byFingerprint.body.traces.every((x: { fingerprint: string }) => x.fingerprint === t.fingerprint)).toBe(true);
    expect((await getJson('/api/v1/observability/traces/xyz')).status).toBe(400);
    expect((await getJson(`/api/v1/observability/traces/${'0'.repeat(31)}1`)).status).toBe(404);
    expect((await getJson('/api/v1/observability/traces?minDurationMs=abc')).status).toBe(400);
  });
});

describe('slow log', () => {
  it('records statements at or above the threshold, normalized, in the API and SHOW helios.slow_queries', async () => {
    await client.query("SELECT pg_sleep(0.08), 'secret-literal'");
    const { body } = await getJson('/api/v1/observability/slow-queries');
    expect(body.thresholdMs).toBe(50);
    const s = body.statements.find((x: { query: string }) => /pg_sleep/.test(x.query));
    expect(s).toMatchObject({ database: fx.db.name, applicationName: 'obs-test', sqlstate: null, rows: 1 });
    expect(s.durationMs).toBeGreaterThanOrEqual(80);
    expect(s.query).not.toContain('secret-literal');
    const shown = await client.query('SHOW helios.slow_queries');
    expect(shown.rows.some((r) => /pg_sleep/.test(r.query))).toBe(true);
    // Fast statements stay out.
    expect(body.statements.some((x: { query: string }) => /FROM items WHERE id/.test(x.query))).toBe(false);
  });
});

describe('per-second series', () => {
  it('closes each second with its throughput, latency quantiles and errors, served by /api/v1/observability/summary', async () => {
    const engine = proxy.observability.anomalies;
    const t0 = Math.floor(Date.now() / 1000) * 1000;
    engine.tick(t0 - 1000); // close whatever earlier tests left in the current second
    for (let i = 0; i < 30; i++) await client.query('SELECT name FROM items WHERE id = $1', [i + 1]);
    await expect(client.query('SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
    const point = engine.tick(t0);
    expect(point).toMatchObject({ t: t0, qps: 31, errors: 1 });
    expect(point.errorRate).toBeCloseTo(1 / 31, 5);
    expect(point.p50).toBeGreaterThan(0);
    expect(point.p95!).toBeGreaterThanOrEqual(point.p50!);
    expect(point.clients).toBeGreaterThanOrEqual(1);

    const { status, body } = await getJson('/api/v1/observability/summary?seconds=60');
    expect(status).toBe(200);
    expect(body.series.at(-1)).toEqual(point);
    expect(body.latest).toEqual(point);
    expect((await getJson('/api/v1/observability/summary?seconds=0')).status).toBe(400);
  });

  it('exports the statement metrics on /metrics with no fingerprint labels', async () => {
    const text = await (await fetch(`${http.url}/metrics`)).text();
    const count = /helios_query_duration_seconds_count\{operation="SELECT",status="ok"\} (\d+)/.exec(text);
    expect(Number(count?.[1])).toBeGreaterThanOrEqual(66);
    expect(text).toMatch(/helios_query_errors_total\{sqlstate_class="42"\} [1-9]/);
    expect(text).toMatch(/helios_query_errors_total\{sqlstate_class="22"\} [1-9]/);
    expect(text).toMatch(/helios_slow_queries_total [1-9]/);
    expect(text).not.toMatch(/fingerprint=/);
  });
});
