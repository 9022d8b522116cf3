// The built-in web dashboard in a real browser: headless Debian Chromium, driven by
// playwright-core, opens the dashboard served by the real HTTP server in front of an in-process
// proxy carrying live traffic, and reads the panels as a person would. A screenshot is saved to
// test-results/dashboard.png.
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { costRoutes } from '../src/api/cost.ts';
import { observabilityRoutes } from '../src/api/observability.ts';
import { migrate } from '../src/control-schema.ts';
import { CostEngine, DEFAULT_COST_OPTIONS } from '../src/cost/index.ts';
import { DASHBOARD_CSP } from '../src/dashboard/assets.ts';
import { startHttpServer, type HttpServer } from '../src/http.ts';
import { useFreshDatabase } from './harness/db.ts';
import { pgConfig, testPg } from './harness/pg.ts';
import { startTestProxy, type TestProxy } from './support/proxy.ts';

const CHROMIUM = '/usr/bin/chromium';
const RESULTS = fileURLToPath(new URL('../test-results/', import.meta.url));
/** Generous: the machine is small and shared; nothing here asserts on timing. */
const WAIT = { timeout: 45_000 };

const fx = useFreshDatabase('dashboard');
let proxy: TestProxy;
let cost: CostEngine;
let http: HttpServer;
let client: pg.Client;
/** For one-off statements while `client` carries the steady traffic. */
let side: pg.Client;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const pageProblems: string[] = [];

// Steady background traffic while the browser looks, so "now" figures are live. Bounded in
// count and time, and stopped in afterAll.
let trafficStop = false;
let traffic: Promise<void> = Promise.resolve();
async function driveTraffic(c: pg.Client): Promise<void> {
  const deadline = Date.now() + 240_000;
  for (let i = 0; !trafficStop && i < 20_000 && Date.now() < deadline; i++) {
    await c.query('SELECT name FROM items WHERE id = $1', [(i % 100) + 1]);
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: the dashboard test drives Debian's Chromium; install the Debian package "chromium" (apt-get install chromium)`);
  }
  // anomalies: true → the engine closes each second by itself, as in the real helios process.
  // Statements of 100 ms or more go to the slow log and get their plan on their span; no OTLP.
  await migrate(fx.client);
  cost = new CostEngine(
    {
      registry: new Registry(),
      control: () => ({ target: { host: testPg.host, port: testPg.port, sslmode: 'disable' }, user: testPg.user, password: testPg.password, database: fx.db.name }),
      log: () => {},
    },
    { ...DEFAULT_COST_OPTIONS, tenantSources: ['application_name'] },
  );
  await cost.start();
  proxy = await startTestProxy({ plugins: 'all', cost, observability: { slowQueryMs: 100, planThresholdMs: 100, anomalies: true, env: {} } });
  http = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    registry: proxy.observability.sources.registry,
    readiness: async () => ({ ready: true, checks: {} }),
    api: { ...observabilityRoutes(() => proxy.observability), ...costRoutes(() => cost) },
  });
  await fx.client.query('CREATE TABLE items (id int PRIMARY KEY, name text)');
  await fx.client.query("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 100) g");
  const through = { ...pgConfig({ database: fx.db.name }), host: '127.0.0.1', port: proxy.port, application_name: 'dashboard-test' };
  client = new pg.Client(through);
  side = new pg.Client(through);
  await Promise.all([client.connect(), side.connect()]);

  // Things the panels must show: errors and markup in statement text (the slow one comes later).
  await expect(side.query('SELECT name FROM itemz WHERE id = 7')).rejects.toMatchObject({ code: '42P01' });
  await expect(side.query('SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
  await side.query(`SELECT 1 AS "<img src=x onerror=alert(1)>"`);
  traffic = driveTraffic(client);

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
  page = await context.newPage();
  page.on('pageerror', (e) => pageProblems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') pageProblems.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.on('dialog', (d) => {
    pageProblems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
});

afterAll(async () => {
  trafficStop = true;
  await traffic.catch(() => {});
  await browser?.close();
  await client?.end();
  await side?.end();
  await http?.close();
  await proxy?.close();
  await cost?.close();
});

/** The text of the element with data-value="name" (inside `scope` if given). */
const valueOf = (name: string, scope = 'body') => page.locator(`${scope} [data-value="${name}"]`).first().textContent();

/** Waits until data-value="name" reads as a number ≥ min (or matches `re`), and returns its text. */
async function waitForValue(name: string, want: { min: number } | { re: RegExp }): Promise<string> {
  const arg = { name, min: 'min' in want ? want.min : null, re: 're' in want ? want.re.source : null };
  const handle = await page.waitForFunction(
    ({ name, min, re }) => {
      const t = document.querySelector(`[data-value="${name}"]`)?.textContent ?? '';
      const ok = re !== null ? new RegExp(re).test(t) : parseFloat(t) >= (min as number);
      return ok ? t : false;
    },
    arg,
    WAIT,
  );
  return (await handle.jsonValue()) as string;
}

describe('dashboard assets', () => {
  it('serves the page, script and style at / with their types, no-cache and a self-only CSP', async () => {
    const root = await fetch(`${http.url}/`);
    expect(root.status).toBe(200);
    expect(root.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(root.headers.get('cache-control')).toBe('no-cache');
    expect(root.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
    expect(DASHBOARD_CSP).toMatch(/^default-src 'self';/);
    expect(root.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await root.text();
    expect(html).toContain('data-panel="throughput"');
    expect(html).not.toMatch(/https?:\/\//); // nothing from elsewhere

    for (const [path, type] of [
      ['/dashboard/app.js', 'text/javascript; charset=utf-8'],
      ['/dashboard/charts.js', 'text/javascript; charset=utf-8'],
      ['/dashboard/dom.js', 'text/javascript; charset=utf-8'],
      ['/dashboard/style.css', 'text/css; charset=utf-8'],
      ['/dashboard/favicon.svg', 'image/svg+xml'],
    ]) {
      const res = await fetch(`${http.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe(type);
      expect((await res.arrayBuffer()).byteLength, path).toBeGreaterThan(0);
    }

    // Revalidation, HEAD, other methods and unknown files.
    const etag = root.headers.get('etag')!;
    expect(etag).toMatch(/^".+"$/);
    expect((await fetch(`${http.url}/`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    const head = await fetch(`${http.url}/dashboard/app.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await fetch(`${http.url}/`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    const missing = await fetch(`${http.url}/dashboard/nope.js`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/application\/json/);
    // The JSON endpoints are untouched.
    expect((await fetch(`${http.url}/healthz`)).status).toBe(200);
  });
});

describe('dashboard in Chromium', () => {
  it('shows live throughput, latency, errors, connections, top and slow queries, and saves a screenshot', { timeout: 180_000 }, async () => {
    await page.goto(`${http.url}/`);
    await page.waitForFunction(() => document.querySelector('#status')?.getAttribute('data-status') === 'ok', null, WAIT);

    // Throughput: the latest closed second had statements; the chart has a line.
    const qps = await waitForValue('qps', { min: 1 });
    expect(Number(qps)).toBeGreaterThan(0);
    await page.locator('[data-chart="throughput"] path.line').first().waitFor(WAIT);

    // Latency percentiles, in ms (or s), ordered.
    const p50 = await waitForValue('p50', { re: /^[0-9.]+ (ms|s)$/ });
    const p95 = await valueOf('p95');
    const p99 = await valueOf('p99');
    expect(p95).toMatch(/^[0-9.]+ (ms|s)$/);
    expect(p99).toMatch(/^[0-9.]+ (ms|s)$/);
    const ms = (t: string | null) => parseFloat(t!) * (/ s$/.test(t!) ? 1000 : 1);
    expect(ms(p95)).toBeGreaterThanOrEqual(ms(p50));
    expect(ms(p99)).toBeGreaterThanOrEqual(ms(p95));
    await page.locator('[data-chart="latency"] path.line.s3').waitFor(WAIT);

    // Errors: the two failed statements are in the 5-minute count.
    const errors = await waitForValue('errors', { min: 2 });
    expect(Number(errors)).toBeGreaterThanOrEqual(2);
    expect(await page.locator('[data-panel="errors"]').getAttribute('class')).toContain('has-errors');

    // Connections: our client is open.
    expect(Number(await waitForValue('clients', { min: 1 }))).toBeGreaterThanOrEqual(1);
    expect(Number(await valueOf('upstreams'))).toBeGreaterThanOrEqual(1);
    expect(Number(await waitForValue('fingerprints', { min: 4 }))).toBeGreaterThanOrEqual(4);

    // Top queries: the normalized statement, with its calls; the failed one with its error.
    const top = page.locator('[data-panel="top-queries"]');
    const lookup = top.locator('tbody tr', { hasText: 'SELECT name FROM items WHERE id = $1' });
    await lookup.waitFor(WAIT);
    expect(Number(await lookup.locator('[data-col="calls"]').textContent())).toBeGreaterThan(0);
    const failed = top.locator('tbody tr', { hasText: 'FROM itemz' });
    await failed.waitFor(WAIT);
    expect(await failed.locator('[data-col="errors"]').textContent()).toBe('1');
    // Literals never reach the page.
    expect(await top.locator('tbody').textContent()).not.toMatch(/id = 7/);

    // Statement text is text, never markup: the identifier shows literally and made no element.
    const markup = top.locator('tbody tr', { hasText: '<img src=x onerror=alert(1)>' });
    await markup.waitFor(WAIT);
    expect(await page.locator('[data-panel] img').count()).toBe(0);

    // Slow queries: a statement over the threshold, run now so that it is the newest in the slow
    // log however many others a loaded machine makes slow.
    await side.query('SELECT pg_sleep(0.2)');
    const slow = page.locator('[data-panel="slow-queries"] table.slowlog tbody tr', { hasText: 'pg_sleep' });
    await slow.waitFor(WAIT);
    expect(ms(await slow.locator('[data-col="duration"]').textContent())).toBeGreaterThanOrEqual(200);
    expect(await slow.textContent()).toContain('dashboard-test');
    expect(await valueOf('slow-threshold')).toMatch(/100 ms/);
    // By p95 it stays on top however many statements the loaded machine makes slow.
    const slowest = page.locator('[data-panel="slow-queries"] table.slowest tbody tr', { hasText: 'pg_sleep' });
    await slowest.waitFor(WAIT);

    // Cost: the tenant (application_name here) with its statements and dollars, and the costliest shapes.
    const tenantRow = page.locator('[data-panel="costs"] table.tenants tbody tr[data-tenant="dashboard-test"]');
    await tenantRow.waitFor(WAIT);
    expect(parseFloat((await tenantRow.locator('[data-col="statements"]').textContent())!)).toBeGreaterThan(0);
    expect(await tenantRow.locator('[data-col="month"]').textContent()).toMatch(/^\$[0-9.]+$/);
    await page.locator('[data-panel="costs"] table.costly tbody tr', { hasText: 'FROM items' }).first().waitFor(WAIT);
    expect(await valueOf('rate-card')).toContain('aurora-standard');

    // Anomalies: the panel loaded (a list, or the all-clear line), with no error.
    const anomalies = page.locator('[data-panel="anomalies"]');
    await page.waitForFunction(() => document.querySelector('[data-panel="anomalies"]')?.getAttribute('data-state') === 'ok', null, WAIT);
    const shown = (await anomalies.locator('li.anomaly').count()) + (await anomalies.locator('.empty:not([hidden])').count());
    expect(shown).toBeGreaterThan(0);

    // Traces: clicking the statement filters the traces panel to it.
    await lookup.click();
    await expect.poll(() => lookup.getAttribute('class')).toContain('selected');
    const traces = page.locator('[data-panel="traces"]');
    expect(await traces.locator('[data-value="trace-filter"]').textContent()).toContain('SELECT name FROM items WHERE id = $1');
    const traceRow = traces.locator('tbody tr', { hasText: 'SELECT name FROM items WHERE id = $1' }).first();
    await traceRow.waitFor(WAIT);
    expect(await traces.locator('tbody tr', { hasNotText: 'FROM items WHERE id = $1' }).count()).toBe(0);
    await traceRow.click();
    const detail = traces.locator('.trace-detail');
    await detail.locator('li.span').first().waitFor(WAIT);
    expect(await detail.locator('tr[data-attr="helios.fingerprint"] td').textContent()).toMatch(/^[0-9a-f]{16}$/);
    expect(await detail.locator('tr[data-attr="db.query.text"] td').textContent()).toBe('SELECT name FROM items WHERE id = $1');

    // The slow statement's trace carries its plan, shown indented.
    await slowest.click();
    await expect.poll(() => traces.locator('[data-value="trace-filter"]').textContent()).toContain('pg_sleep');
    const slowTrace = traces.locator('tbody tr', { hasText: 'pg_sleep' }).first();
    await slowTrace.waitFor(WAIT);
    await slowTrace.click();
    const plan = detail.locator('tr[data-attr="helios.plan"] pre.plan');
    await plan.waitFor(WAIT);
    expect(await plan.textContent()).toMatch(/"Node Type": "Result"/);
    await detail.scrollIntoViewIfNeeded();

    // A few seconds of history, so the screenshot shows lines rather than dots.
    await page.waitForFunction(() => (document.querySelector('[data-chart="throughput"] path.line')?.getAttribute('d') ?? '').split('L').length >= 6, null, WAIT);
    mkdirSync(RESULTS, { recursive: true });
    await page.screenshot({ path: `${RESULTS}dashboard.png`, fullPage: true });
    expect(existsSync(`${RESULTS}dashboard.png`)).toBe(true);

    // Unselect: the filter goes.
    await traces.locator('.clear-filter').click();
    await expect.poll(() => traces.locator('[data-value="trace-filter"]').textContent()).toBe('recent');

    expect(pageProblems).toEqual([]);
  });

  it('highlights open anomalies with severity, expected vs actual, cause and evidence, escaping their text; no traces API is no error', { timeout: 90_000 }, async () => {
    // The detectors need minutes of history to open an alert on their own, so this page gets one
    // alert, open and critical, and one resolved, in the API's exact shape; everything else is live.
    const hostile = 'UPDATE t SET a = $1 WHERE b = "<script>alert(1)</script>"';
    const now = Date.now();
    const body = {
      anomalies: [
        {
          id: 9, incident: 9, metric: 'query_latency_p95', unit: 'ms', direction: 'up', fingerprint: 'ab12', database: fx.db.name, query: hostile,
          expected: 1.5, actual: 48.4, peak: 61, score: 14.2, severity: 'critical', cause: 'lock_waits',
          evidence: [{ cause: 'lock_waits', weight: 0.9, summary: '3 sessions waiting on <locks>', details: { waiting: 3 } }],
          openedAt: new Date(now - 30_000).toISOString(), closedAt: null,
        },
        {
          id: 4, incident: 4, metric: 'throughput', unit: 'qps', direction: 'down', expected: 90, actual: 2, peak: 0, score: 6, severity: 'warning',
          cause: 'unknown', evidence: [], openedAt: new Date(now - 600_000).toISOString(), closedAt: new Date(now - 500_000).toISOString(),
        },
      ],
    };
    const p = await context.newPage();
    const problems: string[] = [];
    p.on('pageerror', (e) => problems.push(e.message));
    p.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    await p.route((url) => url.pathname === '/api/v1/observability/anomalies', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(body) }));
    // And a HeliosDB without the traces API: the panel says so quietly.
    await p.route((url) => url.pathname.startsWith('/api/v1/observability/traces'), (route) => route.fulfill({ status: 404, contentType: 'application/json', body: '{"error":"not found"}' }));
    try {
      await p.goto(`${http.url}/`);
      const open = p.locator('[data-panel="anomalies"] li.anomaly[data-state="open"]');
      await open.waitFor(WAIT);
      expect(await open.getAttribute('class')).toContain('sev-critical');
      const text = await open.textContent();
      expect(text).toContain('critical');
      expect(text).toContain('statement p95 latency');
      expect(text).toContain(hostile);
      expect(text).toMatch(/expected 1\.50 ms, actual 48\.4 ms, peak 61\.0 ms/);
      expect(text).toContain('lock waits');
      expect(text).toContain('3 sessions waiting on <locks>');
      expect(await p.locator('[data-panel="anomalies"] script').count()).toBe(0);
      expect(await p.locator('[data-panel="anomalies"]').getAttribute('class')).toContain('alarm');
      const closed = p.locator('[data-panel="anomalies"] li.anomaly[data-state="closed"]');
      expect(await closed.textContent()).toMatch(/resolved/);
      const traces = p.locator('[data-panel="traces"]');
      await traces.locator('.empty', { hasText: 'no traces yet' }).waitFor({ state: 'visible', ...WAIT });
      expect(await traces.getAttribute('data-state')).toBe('ok');
      // The header count comes from the live summary: nothing open in the real engine is fine.
      expect(await p.locator('[data-value="anomalies-open"]').textContent()).toMatch(/^\d+$/);
      expect(problems).toEqual([]);
    } finally {
      await p.close();
    }
  });
});
