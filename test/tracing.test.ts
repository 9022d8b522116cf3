// Tracing end to end: the tracing plugin in an in-process proxy in front of the real test
// server, driven by pg (simple and extended protocol) and postgres.js, exporting over OTLP/HTTP
// (JSON) to a real receiver: a node:http server on loopback collecting what is posted to /v1/traces.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTracingPlugin } from '../plugins/tracing.ts';
import { createTracing, type CapturedPlan, type Tracing } from '../src/observability/tracing/index.ts';
import { useFreshDatabase } from './harness/db.ts';
import { pgConfig, testPg } from './harness/pg.ts';
import { startTestProxy, type TestProxy } from './support/proxy.ts';

// ---- OTLP receiver ---------------------------------------------------------------------------

type AnyValue = { stringValue?: string; intValue?: number | string; doubleValue?: number; boolValue?: boolean };

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Record<string, string | number | boolean | undefined>;
  status: { code?: number; message?: string };
  resource: Record<string, string | number | boolean | undefined>;
}

/** OTLP/JSON enums. */
const SPAN_KIND_CLIENT = 3;
const STATUS_CODE_ERROR = 2;

function value(v: AnyValue): string | number | boolean | undefined {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  return v.boolValue;
}

function attributeMap(list: { key: string; value: AnyValue }[] | undefined): Record<string, string | number | boolean | undefined> {
  return Object.fromEntries((list ?? []).map((a) => [a.key, value(a.value)]));
}

interface Receiver {
  readonly url: string;
  readonly spans: ExportedSpan[];
  readonly posts: { path: string; contentType: string | undefined; headers: Record<string, string | string[] | undefined> }[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const spans: ExportedSpan[] = [];
  const posts: Receiver['posts'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      posts.push({ path: req.url ?? '', contentType: req.headers['content-type'], headers: req.headers });
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      for (const rs of body.resourceSpans ?? []) {
        const resource = attributeMap(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) spans.push({ ...s, attributes: attributeMap(s.attributes), status: s.status ?? {}, resource });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    posts,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

// ---- fixtures --------------------------------------------------------------------------------

const fx = useFreshDatabase('tracing');
let receiver: Receiver;
let tracing: Tracing;
let proxy: TestProxy;
const plans: CapturedPlan[] = [];
const clients: pg.Client[] = [];
const sqls: postgres.Sql[] = [];
let appSeq = 0;

/** A unique application_name per connection, so each test finds its own spans. */
const newApp = (label: string) => `tracing-${label}-${++appSeq}`;

async function connect(app: string): Promise<pg.Client> {
  const c = new pg.Client({ ...proxy.connection, database: fx.db.name, application_name: app });
  c.on('error', () => {});
  clients.push(c);
  await c.connect();
  return c;
}

function connectJs(app: string): postgres.Sql {
  const sql = postgres({ ...proxy.connection, database: fx.db.name, max: 1, fetch_types: false, onnotice: () => {}, connection: { application_name: app } });
  sqls.push(sql);
  return sql;
}

/** The spans of `app` the receiver got, once at least `count` are in. */
async function exported(app: string, count: number): Promise<ExportedSpan[]> {
  const mine = () => receiver.spans.filter((s) => s.attributes['helios.session.application_name'] === app);
  await expect
    .poll(async () => {
      await tracing.forceFlush();
      return mine().length;
    }, { timeout: 10_000, interval: 50 })
    .toBeGreaterThanOrEqual(count);
  return mine().sort((a, b) => (BigInt(a.startTimeUnixNano) < BigInt(b.startTimeUnixNano) ? -1 : 1));
}

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const PARENT_ID = 'b7ad6b7169203331';
const SESSION_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SESSION_PARENT_ID = '00f067aa0ba902b7';

beforeAll(async () => {
  await fx.client.query(`
    CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, note text NOT NULL);
    INSERT INTO orders SELECT g, g % 10, 'note ' || g FROM generate_series(1, 1000) g;
    ANALYZE orders;
  `);
  receiver = await startReceiver();
  tracing = createTracing({
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=helios%20e2e',
      OTEL_BSP_SCHEDULE_DELAY: '50',
      OTEL_SERVICE_NAME: 'heliosdb-e2e',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test,service.name=ignored',
    },
    planThresholdMs: 200,
    connect: async (database) => {
      const c = new pg.Client({ ...pgConfig({ database }), application_name: 'heliosdb-explain' });
      c.on('error', () => {});
      await c.connect();
      return c;
    },
  });
  tracing.onPlan((p) => plans.push(p));
  const plugin = createTracingPlugin(tracing, { upstream: () => ({ host: testPg.host, port: testPg.port }) });
  proxy = await startTestProxy({ plugins: 'none', extraPlugins: [plugin] });
});

afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.end()));
  await Promise.allSettled(sqls.splice(0).map((s) => s.end({ timeout: 5 })));
});

afterAll(async () => {
  await proxy?.close();
  await tracing?.shutdown();
  await receiver?.close();
});

// ---- tests -----------------------------------------------------------------------------------

describe('OTLP export', () => {
  it('exports one CLIENT span per statement with the database conventions\' attributes', async () => {
    const app = newApp('attrs');
    const c = await connect(app);
    await c.query("SELECT note FROM orders WHERE id = 42 AND note <> 'secret-literal'");
    const [span] = await exported(app, 1);
    expect(span!.name).toBe('SELECT orders');
    expect(span!.kind).toBe(SPAN_KIND_CLIENT);
    expect(span!.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(span!.parentSpanId ?? '').toBe('');
    expect(span!.attributes).toMatchObject({
      'db.system.name': 'postgresql',
      'db.namespace': fx.db.name,
      'db.operation.name': 'SELECT',
      'db.collection.name': 'orders',
      'db.query.summary': 'SELECT orders',
      'db.query.text': 'SELECT note FROM orders WHERE id = $1 AND note <> $2',
      'db.response.returned_rows': 1,
      'server.address': testPg.host,
      'server.port': testPg.port,
      'helios.session.application_name': app,
    });
    expect(span!.attributes['helios.fingerprint']).toMatch(/^[0-9a-f]{16}$/);
    expect(span!.attributes['db.response.status_code']).toBeUndefined();
    expect(span!.status.code ?? 0).not.toBe(STATUS_CODE_ERROR);
    expect(span!.resource).toMatchObject({ 'service.name': 'heliosdb-e2e', 'deployment.environment.name': 'test' });
    const ns = BigInt(span!.endTimeUnixNano) - BigInt(span!.startTimeUnixNano);
    expect(ns).toBeGreaterThan(0n);
    expect(Math.abs(Number(BigInt(span!.startTimeUnixNano) / 1_000_000n) - Date.now())).toBeLessThan(60_000);
    // Literals stay out of the exported text by default.
    expect(JSON.stringify(span!.attributes)).not.toMatch(/secret-literal|\b42\b/);
  });

  it('posts JSON to /v1/traces with the configured headers', async () => {
    const c = await connect(newApp('headers'));
    await c.query('SELECT 1');
    await tracing.forceFlush();
    const post = receiver.posts.find((p) => p.path === '/v1/traces');
    expect(post?.contentType).toMatch(/application\/json/);
    expect(post?.headers['x-tenant']).toBe('helios e2e');
    expect(tracing.exporting).toBe(true);
  });

  it('traces extended-protocol statements of pg and postgres.js with placeholders, not values', async () => {
    const app = newApp('extended');
    const c = await connect(app);
    await c.query('SELECT note FROM orders WHERE id = $1', [7]);
    const sql = connectJs(app);
    await sql`SELECT customer FROM orders WHERE id = ${8}`;
    await sql`INSERT INTO orders (id, customer, note) VALUES (${5001}, ${1}, ${'hidden-value'})`;
    const spans = await exported(app, 3);
    const texts = spans.map((s) => s.attributes['db.query.text']);
    expect(texts).toEqual(expect.arrayContaining(['SELECT note FROM orders WHERE id = $1', 'SELECT customer FROM orders WHERE id = $1']));
    const insert = spans.find((s) => s.attributes['db.operation.name'] === 'INSERT')!;
    expect(insert.name).toBe('INSERT orders');
    expect(insert.attributes['db.response.returned_rows']).toBe(0);
    expect(JSON.stringify(spans.map((s) => s.attributes))).not.toContain('hidden-value');
  });
});

describe('trace context', () => {
  it('continues the trace of a sqlcommenter traceparent (pg, simple protocol)', async () => {
    const app = newApp('sqlcommenter');
    const c = await connect(app);
    await c.query(`SELECT count(*) FROM orders /*traceparent='00-${TRACE_ID}-${PARENT_ID}-01',tracestate='congo%3Dt61rcWkgMzE'*/`);
    const [span] = await exported(app, 1);
    expect(span!.traceId).toBe(TRACE_ID);
    expect(span!.parentSpanId).toBe(PARENT_ID);
    expect(span!.traceState).toBe('congo=t61rcWkgMzE');
    // The in-memory store holds it too.
    expect(tracing.store.get(TRACE_ID)?.spans.some((s) => s.spanId === span!.spanId)).toBe(true);
  });

  it('continues the trace of a sqlcommenter traceparent (postgres.js, extended protocol)', async () => {
    const app = newApp('sqlcommenter-js');
    const sql = connectJs(app);
    const traceId = 'aaf7651916cd43dd8448eb211c80319c';
    await sql.unsafe(`SELECT note FROM orders WHERE id = $1 /*traceparent='00-${traceId}-${PARENT_ID}-01'*/`, [3]);
    const [span] = await exported(app, 1);
    expect(span!.traceId).toBe(traceId);
    expect(span!.parentSpanId).toBe(PARENT_ID);
  });

  it('ignores an invalid traceparent', async () => {
    const app = newApp('invalid');
    const c = await connect(app);
    await c.query(`SELECT 1 /*traceparent='00-${'0'.repeat(32)}-${PARENT_ID}-01'*/`);
    const [span] = await exported(app, 1);
    expect(span!.traceId).not.toBe('0'.repeat(32));
    expect(span!.parentSpanId ?? '').toBe('');
  });

  it('continues the session\'s SET helios.traceparent until RESET', async () => {
    const app = newApp('session');
    const sql = connectJs(app);
    await sql.unsafe(`SET helios.traceparent = '00-${SESSION_TRACE_ID}-${SESSION_PARENT_ID}-01'`);
    await sql`SELECT note FROM orders WHERE id = ${1}`;
    await sql.unsafe(`SELECT 2 /*traceparent='00-${TRACE_ID}-${PARENT_ID}-01'*/`);
    await sql`UPDATE orders SET note = note WHERE id = ${2}`;
    await sql.unsafe('RESET helios.traceparent');
    await sql`SELECT 3 AS after_reset`;
    const spans = await exported(app, 6);
    const byText = (re: RegExp) => spans.find((s) => re.test(String(s.attributes['db.query.text'])))!;
    const select = byText(/^SELECT note/);
    expect(select.traceId).toBe(SESSION_TRACE_ID);
    expect(select.parentSpanId).toBe(SESSION_PARENT_ID);
    expect(byText(/^UPDATE/).traceId).toBe(SESSION_TRACE_ID);
    // The statement's own traceparent wins over the session's.
    expect(byText(/^SELECT \$1$/).traceId).toBe(TRACE_ID);
    const after = byText(/after_reset/);
    expect(after.traceId).not.toBe(SESSION_TRACE_ID);
    expect(after.parentSpanId ?? '').toBe('');
    expect(tracing.store.get(SESSION_TRACE_ID)!.spanCount).toBeGreaterThanOrEqual(3);
  });
});

describe('errors', () => {
  it('marks a failed statement ERROR with its SQLSTATE', async () => {
    const app = newApp('errors');
    const c = await connect(app);
    await expect(c.query('SELECT 1 / 0')).rejects.toMatchObject({ code: '22012' });
    await expect(c.query('INSERT INTO orders (id, customer, note) VALUES (1, 1, $1)', ['dup'])).rejects.toMatchObject({ code: '23505' });
    const spans = await exported(app, 2);
    expect(spans.map((s) => [s.status.code, s.attributes['db.response.status_code'], s.attributes['error.type']])).toEqual([
      [STATUS_CODE_ERROR, '22012', '22012'],
      [STATUS_CODE_ERROR, '23505', '23505'],
    ]);
    // Messages can quote values: by default they are not exported.
    expect(spans[1]!.status.message ?? '').toBe('');
    expect(tracing.store.list({ errorsOnly: true }).some((t) => t.traceId === spans[0]!.traceId)).toBe(true);
  });
});

describe('plans of slow statements', () => {
  it('attaches the plan of a slow statement to its span and tells the listener; fast ones get none', async () => {
    const app = newApp('slow');
    const c = await connect(app);
    await c.query('SELECT note FROM orders WHERE id = $1', [11]);
    await c.query('SELECT note, pg_sleep(0.3) FROM orders WHERE id = $1', [12]);
    const spans = await exported(app, 2);
    const [fast, slow] = spans;
    expect(fast!.attributes['helios.plan']).toBeUndefined();
    const plan = JSON.parse(String(slow!.attributes['helios.plan']));
    expect(plan[0].Plan['Relation Name']).toBe('orders');
    expect(plan[0].Plan['Index Name']).toBe('orders_pkey');
    expect(plan[0].Plan['Index Cond']).toBe('(id = ?)');
    expect(slow!.attributes['helios.plan.hash']).toMatch(/^[0-9a-f]{16}$/);
    expect(Number(BigInt(slow!.endTimeUnixNano) - BigInt(slow!.startTimeUnixNano)) / 1e6).toBeGreaterThanOrEqual(290);
    const heard = plans.find((p) => p.fingerprint === slow!.attributes['helios.fingerprint']);
    expect(heard).toMatchObject({ database: fx.db.name, planHash: slow!.attributes['helios.plan.hash'] });
    expect(heard!.totalCost).toBeGreaterThan(0);
  });

  it('explains a slow simple-protocol statement by its text', async () => {
    const app = newApp('slow-simple');
    const c = await connect(app);
    await c.query('SELECT pg_sleep(0.3)');
    const [span] = await exported(app, 1);
    expect(JSON.parse(String(span!.attributes['helios.plan']))[0].Plan['Node Type']).toBe('Result');
  });
});
