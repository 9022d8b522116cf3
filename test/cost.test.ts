// The cost engine and budgets end to end: statements through the proxy to the real test server,
// priced before and after they run, charged to tenants, budgets set with the SQL control
// functions and the REST API, warnings and refusals seen by real drivers, the bypass attempts
// (multi-statement strings, PREPARE/EXECUTE loops, named extended-protocol statements, SQL and
// fast-path function calls), a restart, and a second tenant left alone.
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { costRoutes } from '../src/api/cost.ts';
import { migrate } from '../src/control-schema.ts';
import { CostEngine, DEFAULT_COST_OPTIONS, type CostOptions } from '../src/cost/index.ts';
import { startHttpServer, type HttpServer } from '../src/http.ts';
import { useFreshDatabase } from './harness/db.ts';
import { pgConfig, testPg } from './harness/pg.ts';
import { startTestProxy, type TestProxy } from './support/proxy.ts';
import { RawClient, fields, msg, types, type Frame } from './support/raw-client.ts';

const fx = useFreshDatabase('cost');
let engine: CostEngine;
let registry: Registry;
let proxy: TestProxy;
let http: HttpServer;
const clients: pg.Client[] = [];

function newEngine(options: Partial<CostOptions> = {}): CostEngine {
  registry = new Registry();
  return new CostEngine(
    {
      registry,
      control: () => ({ target: { host: testPg.host, port: testPg.port, sslmode: 'disable' }, user: testPg.user, password: testPg.password, database: fx.db.name }),
      log: () => {},
    },
    { ...DEFAULT_COST_OPTIONS, tenantSources: ['tag', 'application_name'], flushMs: 200, ...options },
  );
}

/** A driver connection through the proxy whose application_name is the tenant; notices collected. */
async function tenantClient(tenant: string): Promise<pg.Client & { notices: string[] }> {
  const c = new pg.Client({ ...pgConfig({ database: fx.db.name }), host: '127.0.0.1', port: proxy.port, application_name: tenant }) as pg.Client & { notices: string[] };
  c.notices = [];
  c.on('notice', (n) => c.notices.push(`${n.severity}: ${n.message}`));
  // Sessions still open when a test restarts the proxy see their connection end.
  c.on('error', () => {});
  await c.connect();
  clients.push(c);
  return c;
}

async function sqlError(p: Promise<unknown>): Promise<pg.DatabaseError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected the statement to fail').toBeInstanceOf(Error);
  return err as pg.DatabaseError;
}

/** Runs `run` until the server refuses it (at most `max` times); returns how many ran and the error. */
async function untilRefused(run: () => Promise<unknown>, max = 400): Promise<{ ran: number; error: pg.DatabaseError }> {
  for (let i = 0; i < max; i++) {
    try {
      await run();
    } catch (err) {
      return { ran: i, error: err as pg.DatabaseError };
    }
  }
  throw new Error(`not refused after ${max} executions`);
}

const SCAN = "SELECT count(*) FROM events WHERE payload LIKE 'a%'";

/** The dollars one SCAN costs: run it a few times as a throwaway tenant and read the figures. */
async function scanCost(): Promise<number> {
  const c = await tenantClient('probe');
  for (let i = 0; i < 5; i++) await c.query(SCAN);
  const e = engine.queries.list({ limit: 100 }).find((q) => q.query.includes("LIKE $1") && q.tenants.has('probe'))!;
  return e.actual.total / e.calls;
}

beforeAll(async () => {
  await migrate(fx.client);
  await fx.client.query(`CREATE TABLE events AS SELECT g AS id, g % 100 AS account, md5(g::text) AS payload FROM generate_series(1, 50000) g`);
  await fx.client.query('ALTER TABLE events ADD PRIMARY KEY (id)');
  await fx.client.query('ANALYZE events');
  // Hides its work from the planner: EXPLAIN prices the call at one cost unit.
  await fx.client.query(`CREATE FUNCTION burn() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM events a WHERE a.payload LIKE '%ab%' $$`);
  engine = newEngine();
  await engine.start();
  proxy = await startTestProxy({ plugins: 'all', cost: engine });
  http = await startHttpServer({ host: '127.0.0.1', port: 0, registry, readiness: async () => ({ ready: true, checks: {} }), api: costRoutes(() => engine) });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  await http?.close();
  await proxy?.close();
  await engine?.close();
});

describe('pricing', () => {
  it('prices each statement, charges its tenant, and shows it at once in SHOW helios.costs, /metrics and the API', async () => {
    const c = await tenantClient('pricing');
    for (let i = 0; i < 3; i++) await c.query(SCAN);
    await c.query('/* tenant=\'tagged\' */ SELECT id FROM events WHERE id = 7');

    const show = await c.query('SHOW helios.costs');
    const row = show.rows.find((r) => r.tenant === 'pricing');
    expect(row).toBeDefined();
    expect(Number(row.statements_today)).toBe(3);
    expect(Number(row.cost_today_usd)).toBeGreaterThan(0);
    // The sqlcommenter tag wins over application_name.
    expect(show.rows.find((r) => r.tenant === 'tagged')?.statements_today).toBe('1');

    const metrics = await registry.metrics();
    expect(metrics).toMatch(/helios_cost_dollars_total\{tenant="pricing",resource="compute"\} [0-9.e-]+/);
    expect(metrics).toMatch(/helios_cost_statements_total\{tenant="pricing"\} 3/);

    const res = await fetch(`${http.url}/api/v1/cost/tenants`);
    const body = (await res.json()) as { tenants: Array<{ tenant: string; day: { statements: number; total: number } }> };
    expect(body.tenants.find((t) => t.tenant === 'pricing')?.day.statements).toBe(3);
  });

  it('estimates before execution from the plan, and records how far estimates were from actual cost', async () => {
    const c = await tenantClient('estimates');
    for (let i = 0; i < 6; i++) {
      await c.query(SCAN);
      await c.query('SELECT payload FROM events WHERE id = $1', [i + 1]);
      // The first execution of a shape is priced after the fact; its EXPLAIN runs meanwhile.
      await new Promise((r) => setTimeout(r, 30));
    }
    const scan = engine.queries.list({ limit: 100 }).find((q) => q.query.includes('LIKE $1') && q.tenants.has('estimates'))!;
    const lookup = engine.queries.list({ limit: 100 }).find((q) => q.query.includes('WHERE id = $1') && q.tenants.has('estimates'))!;
    expect(scan.estimatedCalls).toBeGreaterThan(0);
    expect(lookup.estimatedCalls).toBeGreaterThan(0);
    // A sequential scan of 50,000 rows reads hundreds of pages; a primary-key lookup a handful.
    expect(scan.lastEstimateUsd!).toBeGreaterThan(10 * lookup.lastEstimateUsd!);
    expect(scan.actual.total / scan.calls).toBeGreaterThan(10 * (lookup.actual.total / lookup.calls));
    expect(Number.isFinite(scan.meanAbsLogError)).toBe(true);

    const show = await c.query('SHOW helios.query_costs');
    const shown = show.rows.find((r) => r.fingerprint === scan.fingerprint);
    expect(shown?.estimate_error_factor).toMatch(/^\d+\.\d\d$/);
  });
});

describe('forecasts', () => {
  it('forecast end-of-period spend with an 80% interval, over the API and helios.cost_forecast', async () => {
    // Three weeks of hourly spend with a daily cycle: $1/h at night, $3/h by day.
    await fx.client.query(`
      INSERT INTO helios.cost_spend (tenant, hour, cost_usd, statements)
      SELECT 'seasonal', h, CASE WHEN extract(hour FROM h AT TIME ZONE 'UTC') BETWEEN 8 AND 19 THEN 3 ELSE 1 END, 100
        FROM generate_series(date_trunc('hour', now()) - interval '21 days', date_trunc('hour', now()) - interval '1 hour', interval '1 hour') h`);
    await fx.client.query("SELECT helios.set_budget('seasonal', 100000, 'month')");
    await engine.reloadBudgets();
    await engine.syncNow();
    const res = await fetch(`${http.url}/api/v1/cost/forecast?tenant=seasonal&fresh=1`);
    expect(res.status).toBe(200);
    const { forecast } = (await res.json()) as { forecast: any };
    const spent = engine.spend.spent('seasonal', 'month');
    const hoursLeft = (Date.parse(forecast.periodEnd) - Date.now()) / 3_600_000;
    expect(forecast.lower80Usd).toBeGreaterThanOrEqual(spent - 1e-9);
    expect(forecast.lower80Usd).toBeLessThanOrEqual(forecast.forecastUsd);
    expect(forecast.upper80Usd).toBeGreaterThanOrEqual(forecast.forecastUsd);
    // About $2/h on average for the rest of the month.
    expect(forecast.forecastUsd - spent).toBeGreaterThan(1.5 * hoursLeft - 3);
    expect(forecast.forecastUsd - spent).toBeLessThan(2.5 * hoursLeft + 3);
    expect(forecast.overBudget).toBe('unlikely');

    const row = (await fx.client.query("SELECT * FROM helios.cost_forecast('seasonal')")).rows[0];
    expect(Number(row.forecast_usd)).toBeCloseTo(forecast.forecastUsd, 4);
    expect(row.period).toBe('month');
    const status = (await fx.client.query("SELECT forecast_usd FROM helios.budget_status() WHERE tenant = 'seasonal'")).rows[0];
    expect(Number(status.forecast_usd)).toBeCloseTo(forecast.forecastUsd, 4);
    await fx.client.query("SELECT helios.remove_budget('seasonal')");
  });

  it('answers 404 for a tenant with no spend', async () => {
    expect((await fetch(`${http.url}/api/v1/cost/forecast?tenant=nobody`)).status).toBe(404);
  });
});

describe('budgets', () => {
  it('set with the SQL control functions: warns at thresholds through NoticeResponse, then refuses with YB001 naming tenant, budget and estimate', async () => {
    const unit = await scanCost();
    const admin = await tenantClient('admin');
    await admin.query('SELECT helios.set_budget($1, $2, $3)', ['acme', (unit * 6).toFixed(6), 'day']);
    const acme = await tenantClient('acme');
    const { ran, error } = await untilRefused(() => acme.query(SCAN));
    expect(ran).toBeGreaterThanOrEqual(3);
    expect(ran).toBeLessThanOrEqual(8);
    expect(error.code).toBe('YB001');
    expect(error.message).toMatch(/tenant "acme"/);
    expect(error.message).toMatch(/daily budget/);
    expect(error.message).toMatch(/estimated cost is \$[0-9.]+/);
    // One warning per threshold crossed in this session, not one per statement.
    const warnings = acme.notices.filter((n) => /has used \d+% of its/.test(n));
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings.length).toBeLessThanOrEqual(3);
    expect(warnings[0]).toMatch(/^WARNING: tenant "acme" has used/);

    // Another tenant is not affected.
    const globex = await tenantClient('globex');
    expect((await globex.query(SCAN)).rowCount).toBe(1);

    // The overrun is bounded by what was in flight: here one statement at a time.
    await engine.syncNow();
    const status = (await admin.query("SELECT * FROM helios.budget_status() WHERE tenant = 'acme'")).rows[0];
    expect(engine.spend.spent('acme', 'day')).toBeLessThanOrEqual(Number(status.limit_usd) + 2 * unit);
    expect(status.status).toMatch(/warning|exhausted/);

    // A refused statement in a transaction aborts it like any server error; ROLLBACK gets through.
    await acme.query('BEGIN');
    expect((await sqlError(acme.query(SCAN))).code).toBe('YB001');
    expect((await sqlError(acme.query('SELECT 1'))).code).toBe('25P02');
    await acme.query('ROLLBACK');
    // The exhausted tenant can still read its status and raise its own budget (read your writes).
    expect((await acme.query('SELECT * FROM helios.budget_status()')).rowCount).toBeGreaterThan(0);
    await acme.query("SELECT helios.set_budget('acme', 100, 'day')");
    expect((await acme.query(SCAN)).rowCount).toBe(1);
    await admin.query("SELECT helios.remove_budget('acme')");
  });

  it('in warn mode lets statements run past the limit with a WARNING each', async () => {
    const unit = await scanCost();
    const admin = await tenantClient('admin2');
    await admin.query("SELECT helios.set_budget('softco', $1, 'month', 'warn')", [(unit * 2).toFixed(6)]);
    const soft = await tenantClient('softco');
    for (let i = 0; i < 6; i++) await soft.query(SCAN);
    expect(soft.notices.filter((n) => /statement would exceed the budget|budget exhausted/.test(n)).length).toBeGreaterThanOrEqual(3);
    expect(engine.spend.spent('softco', 'month')).toBeGreaterThan(unit * 2);
  });

  describe('cannot be bypassed', () => {
    let unit: number;
    let admin: pg.Client;
    beforeAll(async () => {
      unit = await scanCost();
      admin = await tenantClient('admin3');
    });

    it('multi-statement strings: every statement in the string is judged', async () => {
      await admin.query("SELECT helios.set_budget('multi', $1, 'day')", [(unit * 3).toFixed(6)]);
      const c = await tenantClient('multi');
      const { error } = await untilRefused(() => c.query(`SELECT 1; ${SCAN}; ${SCAN}`));
      expect(error.code).toBe('YB001');
      // Exhausted: the first statement of a new string is refused too.
      expect((await sqlError(c.query(`SELECT 1; ${SCAN}`))).code).toBe('YB001');
    });

    it('PREPARE once, EXECUTE in a loop: each EXECUTE is priced as the prepared statement and refused', async () => {
      await admin.query("SELECT helios.set_budget('loop', $1, 'day')", [(unit * 4).toFixed(6)]);
      const c = await tenantClient('loop');
      await c.query(`PREPARE scan(text) AS SELECT count(*) FROM events WHERE payload LIKE $1`);
      const { ran, error } = await untilRefused(() => c.query("EXECUTE scan('a%')"));
      expect(error.code).toBe('YB001');
      expect(ran).toBeLessThanOrEqual(10);
      const shape = engine.queries.list({ limit: 200 }).find((q) => q.tenants.has('loop'))!;
      // Charged under the prepared statement's own shape, not a generic EXECUTE.
      expect(shape.query).toMatch(/LIKE \$1/);
      expect(shape.estimatedCalls).toBeGreaterThan(0);
    });

    it('extended protocol: re-executions of a named statement are each judged', async () => {
      await admin.query("SELECT helios.set_budget('named', $1, 'day')", [(unit * 4).toFixed(6)]);
      const c = await tenantClient('named');
      const { error } = await untilRefused(() => c.query({ name: 'scan_named', text: 'SELECT count(*) FROM events WHERE payload LIKE $1', values: ['b%'] }));
      expect(error.code).toBe('YB001');
      expect(error.message).toMatch(/tenant "named"/);
    });

    it('function calls: work hidden from the planner is charged as measured, and the estimate learns it', async () => {
      const probe = await tenantClient('burnprobe');
      for (let i = 0; i < 5; i++) {
        await probe.query('SELECT burn()');
        await new Promise((r) => setTimeout(r, 30));
      }
      const shape = engine.queries.list({ limit: 200 }).find((q) => q.tenants.has('burnprobe'))!;
      const mean = shape.actual.total / shape.calls;
      // The planner prices burn() at one cost unit; the estimate has learned what a call really costs.
      expect(shape.lastEstimateUsd!).toBeGreaterThan(mean / 10);
      await admin.query("SELECT helios.set_budget('burner', $1, 'day')", [(mean * 4).toFixed(6)]);
      const c = await tenantClient('burner');
      const { ran, error } = await untilRefused(() => c.query('SELECT burn()'));
      expect(error.code).toBe('YB001');
      expect(ran).toBeLessThanOrEqual(8);
    });

    it('fast-path FunctionCalls (libpq PQfn, large objects): each call is charged as measured and refused once the budget is spent', async () => {
      const [[oid]] = (await admin.query({ text: "SELECT 'burn'::regproc::oid", rowMode: 'array' })).rows as [[number]];
      const { client } = await RawClient.connect({
        host: '127.0.0.1', port: proxy.port, user: testPg.user, password: testPg.password, database: fx.db.name, params: { application_name: 'fastpath' },
      });
      try {
        const call = async () => {
          client.send(msg.functionCall(Number(oid), [], [], 0));
          return client.readyForQuery();
        };
        const first = await call();
        expect(types(first)).toBe('VZ');
        // Spent as measured: a budget of a few calls runs out.
        const spentOne = engine.tenants().find((t) => t.tenant === 'fastpath')!.day.total;
        expect(spentOne).toBeGreaterThan(0);
        await admin.query("SELECT helios.set_budget('fastpath', $1, 'day')", [(spentOne * 4).toFixed(6)]);
        let refused: Frame[] | undefined;
        const warnings: string[] = [];
        for (let i = 0; i < 30 && !refused; i++) {
          const frames = await call();
          for (const n of frames.filter((f) => f.type === 'N')) warnings.push(fields(n.body).get('M')!);
          const rest = frames.filter((f) => f.type !== 'N');
          if (rest[0]!.type === 'E') refused = rest;
          else expect(types(rest)).toBe('VZ');
        }
        expect(refused, 'a FunctionCall was refused').toBeDefined();
        // Threshold warnings reach a fast-path caller too, as NoticeResponse before the call's result.
        expect(warnings.some((m) => /tenant "fastpath" has used \d+% of its/.test(m)), warnings.join('\n')).toBe(true);
        const e = fields(refused![0]!.body);
        expect([e.get('C'), types(refused!)]).toEqual(['YB001', 'EZ']);
        expect(e.get('M')).toMatch(/tenant "fastpath"/);
        // The session is still usable: SQL statements get the same answer.
        client.send(msg.query("SELECT 'still here'"));
        expect(fields((await client.readyForQuery())[0]!.body).get('C')).toBe('YB001');
      } finally {
        client.destroy();
      }
    });

    it('a statement cost limit refuses an expensive statement on its first execution, by its estimate (YB002)', async () => {
      await admin.query("SELECT helios.set_budget('capped', 100, 'day', 'reject', '{50,80,95}', $1)", [(unit / 20).toFixed(6)]);
      const c = await tenantClient('capped');
      const err = await sqlError(c.query("SELECT count(*) FROM events WHERE payload LIKE 'ff%'"));
      expect(err.code).toBe('YB002');
      expect(err.message).toMatch(/statement cost limit exceeded for tenant "capped": estimated cost \$[0-9.]+ is above the limit/);
      // A cheap lookup stays under the limit.
      expect((await c.query('SELECT payload FROM events WHERE id = 42')).rowCount).toBe(1);
    });
  });

  it('releases what a session had reserved when it ends mid-statement', async () => {
    const admin = await tenantClient('admin5');
    await admin.query("SELECT helios.set_budget('quitter', 100, 'day')");
    const c = await tenantClient('quitter');
    for (let i = 0; i < 3; i++) {
      await c.query('SELECT pg_sleep(0.01)');
      await new Promise((r) => setTimeout(r, 30));
    }
    const reserved = () => engine.tenants().find((t) => t.tenant === 'quitter')?.reservedUsd ?? 0;
    void c.query('SELECT pg_sleep(30)').catch(() => {});
    await expect.poll(reserved, { timeout: 10_000 }).toBeGreaterThan(0);
    (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    await expect.poll(reserved, { timeout: 10_000 }).toBe(0);
  });

  it('is set, read and removed through the REST API, with 4xx JSON errors for bad input', async () => {
    const put = await fetch(`${http.url}/api/v1/cost/budgets/api-co`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ limitUsd: 12.5, period: 'day', thresholds: [90, 10] }) });
    expect(put.status).toBe(200);
    expect(((await put.json()) as any).budget).toMatchObject({ tenant: 'api-co', limitUsd: 12.5, period: 'day', action: 'reject', thresholds: [10, 90] });
    // Applied before the response: the proxy enforces it already.
    expect(engine.budgets.get('api-co')?.limitUsd).toBe(12.5);
    const list = (await (await fetch(`${http.url}/api/v1/cost/budgets`)).json()) as any;
    expect(list.budgets.map((b: any) => b.tenant)).toContain('api-co');

    const bad = await fetch(`${http.url}/api/v1/cost/budgets/api-co`, { method: 'PUT', body: JSON.stringify({ limitUsd: -1 }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error).toMatch(/limitUsd/);
    const notJson = await fetch(`${http.url}/api/v1/cost/budgets/api-co`, { method: 'PUT', body: '{nope' });
    expect(notJson.status).toBe(400);

    expect((await fetch(`${http.url}/api/v1/cost/budgets/api-co`, { method: 'DELETE' })).status).toBe(200);
    expect((await fetch(`${http.url}/api/v1/cost/budgets/api-co`, { method: 'DELETE' })).status).toBe(404);
    expect(engine.budgets.get('api-co')).toBeUndefined();
  });

  it('survives a restart: spend is read back from the helios schema and enforcement resumes', async () => {
    const unit = await scanCost();
    const admin = await tenantClient('admin4');
    await admin.query("SELECT helios.set_budget('durable', $1, 'month')", [(unit * 3).toFixed(6)]);
    const c = await tenantClient('durable');
    await untilRefused(() => c.query(SCAN));
    const before = engine.spend.spent('durable', 'month');
    expect(before).toBeGreaterThan(0);
    // Spent for certain (not just "the next statement would not fit"), so a fresh engine with no plans cached refuses too.
    await admin.query("SELECT helios.set_budget('durable', $1, 'month')", [(before / 2).toFixed(6)]);

    // A new engine and proxy, as after a restart of the sidecar.
    await proxy.close();
    await engine.close();
    engine = newEngine();
    await engine.start();
    proxy = await startTestProxy({ plugins: 'all', cost: engine });
    expect(engine.spend.spent('durable', 'month')).toBeCloseTo(before, 9);
    const again = await tenantClient('durable');
    const err = await sqlError(again.query(SCAN));
    expect(err.code).toBe('YB001');
    expect(err.message).toMatch(/budget exhausted for tenant "durable"/);
  });
});
