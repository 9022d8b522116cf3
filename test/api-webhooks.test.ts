// Webhooks managed from the outside: the REST API (real HTTP against a WebhookService on the test
// server, a real receiver on 127.0.0.1 for the URL probe and deliveries), the SQL functions through
// the proxy with the webhooks plugin checking create_webhook calls, and SHOW helios.webhooks /
// helios.cdc.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookRoutes } from '../src/api/webhooks.ts';
import { migrate } from '../src/control-schema.ts';
import { startHttpServer, type HttpServer } from '../src/http.ts';
import { retryPolicy } from '../src/webhooks/retry-schedule.ts';
import { WebhookService } from '../src/webhooks/service.ts';
import { useFreshDatabase } from './harness/db.ts';
import { pgConfig, testPg } from './harness/pg.ts';
import { startTestProxy, type TestProxy } from './support/proxy.ts';

const fx = useFreshDatabase('api_webhooks');
const SLOT = `helios_test_${process.pid}_api`;
let service: WebhookService;
let http: HttpServer;
let proxy: TestProxy;
let receiver: Server;
let receiverUrl: string;
/** A port nothing listens on: a server was there a moment ago. */
let closedUrl: string;
const received: { path: string; body: any }[] = [];
const clients: pg.Client[] = [];

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${http.url}${path}`, {
    method,
    headers: body === undefined ? undefined : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function viaProxy(): Promise<pg.Client> {
  const c = new pg.Client({ ...pgConfig({ database: fx.db.name }), host: '127.0.0.1', port: proxy.port });
  c.on('error', () => {});
  await c.connect();
  clients.push(c);
  return c;
}

async function sqlError(p: Promise<unknown>): Promise<pg.DatabaseError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err, 'expected the statement to fail').toBeInstanceOf(Error);
  return err as pg.DatabaseError;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let s = '';
    req.setEncoding('utf8').on('data', (c: string) => (s += c)).on('end', () => resolve(s));
  });
}

beforeAll(async () => {
  await migrate(fx.client);
  await fx.client.query('CREATE TABLE orders (id int PRIMARY KEY, total numeric, status text)');
  await fx.client.query("INSERT INTO orders SELECT g, g * 10, 'new' FROM generate_series(1, 25) g");

  receiver = createServer((req, res) => {
    void readBody(req).then((body) => {
      if (req.method === 'POST') received.push({ path: req.url ?? '', body: JSON.parse(body) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const gone = createServer();
  await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
  closedUrl = `http://127.0.0.1:${(gone.address() as AddressInfo).port}/hook`;
  await new Promise<void>((r) => gone.close(() => r()));

  service = new WebhookService({
    control: () => ({ target: { host: testPg.host, port: testPg.port, sslmode: 'disable' }, user: testPg.user, password: testPg.password, database: fx.db.name }),
    registry: new Registry(),
    log: () => {},
    cdc: { slot: SLOT, publication: 'helios_test_api_pub' },
    delivery: { pollMs: 50, lanes: 2, retry: retryPolicy({ delaysMs: [50, 100] }), probeTimeoutMs: 2000 },
  });
  await service.start();
  http = await startHttpServer({ host: '127.0.0.1', port: 0, registry: new Registry(), readiness: async () => ({ ready: true, checks: {} }), api: webhookRoutes(() => service) });
  proxy = await startTestProxy({ plugins: 'all', webhooks: service });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  await http?.close();
  await proxy?.close();
  await service?.close();
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
  // The fixture drops the database next, which it cannot do while a slot holds it; the
  // walsender of the capture just stopped may take a moment to let go of the slot.
  for (let i = 0; ; i++) {
    try {
      await fx.client.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database()');
      break;
    } catch (err) {
      if (i >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

describe('REST API', () => {
  it('creates a webhook (201 with its signing secret) that receives the changes it asked for', async () => {
    const r = await api('POST', '/api/v1/webhooks', { name: 'orders-big', url: `${receiverUrl}/orders`, tables: ['orders'], operations: ['insert', 'update'], condition: 'new.total > 100' });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ name: 'orders-big', secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/=]{32,}$/) });

    // Capture starts with the first webhook; it then sees changes committed from now on.
    await expect.poll(async () => (await api('GET', '/api/v1/cdc')).body.state, { timeout: 20_000 }).toBe('streaming');
    await fx.client.query("INSERT INTO orders VALUES (100, 5, 'small'), (101, 500, 'big')");
    await expect.poll(() => received.filter((x) => x.path === '/orders').length, { timeout: 20_000 }).toBe(1);
    expect(JSON.stringify(received[0]!.body)).toContain('"big"');

    const list = await api('GET', '/api/v1/webhooks');
    expect(list.status).toBe(200);
    const w = list.body.webhooks.find((x: any) => x.name === 'orders-big');
    expect(w).toMatchObject({ url: `${receiverUrl}/orders`, tables: ['public.orders'], operations: ['insert', 'update'], condition: 'new.total > 100', state: 'active', signingSecrets: 1, circuit: 'closed', lastStatus: 200, lastError: null });
    expect(JSON.stringify(w)).not.toContain('whsec_');
    await expect.poll(async () => (await api('GET', '/api/v1/webhooks/orders-big')).body.delivered).toBe(1);
    const shown = (await api('GET', '/api/v1/webhooks/orders-big')).body;
    expect(shown.queue).toEqual({ pending: 0, deadLetters: 0, oldestPendingSeconds: null });
    expect(shown.lagMs.p99).toBeGreaterThan(0);

    const deliveries = await api('GET', '/api/v1/webhooks/orders-big/deliveries?state=delivered');
    expect(deliveries.status).toBe(200);
    expect(deliveries.body.deliveries).toHaveLength(1);
    expect(deliveries.body.deliveries[0]).toMatchObject({ state: 'delivered', attempts: 1, last_status: 200, last_error: null });
    expect(deliveries.body.deliveries[0]).not.toHaveProperty('body');
    expect((await api('GET', '/api/v1/webhooks/orders-big/deliveries?state=dead')).body.deliveries).toEqual([]);
    expect((await api('GET', '/api/v1/webhooks/orders-big/deliveries?state=lost')).status).toBe(400);
  });

  it('refuses a malformed URL, an unreachable one and an invalid condition with 400 and why', async () => {
    const malformed = await api('POST', '/api/v1/webhooks', { name: 'bad-url', url: 'htp:/nowhere' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toMatch(/webhook URL .* (is not a valid URL|must use http or https)/);

    const unreachable = await api('POST', '/api/v1/webhooks', { name: 'closed-port', url: closedUrl });
    expect(unreachable.status).toBe(400);
    expect(unreachable.body.error).toMatch(/is unreachable: connection refused/);

    const condition = await api('POST', '/api/v1/webhooks', { name: 'bad-condition', url: receiverUrl, condition: 'new.total >' });
    expect(condition.status).toBe(400);
    expect(condition.body.error).toMatch(/^invalid condition: /);

    const body = await api('POST', '/api/v1/webhooks', { name: 'x', url: receiverUrl, batch: 3 });
    expect(body.status).toBe(400);
    expect(body.body.error).toMatch(/unknown field\(s\) batch/);
    expect((await api('POST', '/api/v1/webhooks', { name: 'no-table', url: receiverUrl, tables: ['nope'] })).status).toBe(400);
    expect((await api('GET', '/api/v1/webhooks')).body.webhooks.map((w: any) => w.name)).toEqual(['orders-big']);
  });

  it('answers 409 for a name taken', async () => {
    const r = await api('POST', '/api/v1/webhooks', { name: 'orders-big', url: receiverUrl });
    expect(r.status).toBe(409);
    expect(r.body.error).toMatch(/webhook 'orders-big' already exists/);
  });

  it('pauses, resumes, rotates, replays, backfills and deletes', async () => {
    expect((await api('POST', '/api/v1/webhooks', { name: 'ops', url: `${receiverUrl}/ops`, tables: ['orders'], operations: ['insert', 'read'] })).status).toBe(201);
    expect(await api('POST', '/api/v1/webhooks/ops/pause')).toEqual({ status: 200, body: { name: 'ops', state: 'paused' } });
    expect(service.registry.get('ops')?.state).toBe('paused');
    expect((await api('GET', '/api/v1/webhooks/ops')).body.state).toBe('paused');
    expect(await api('POST', '/api/v1/webhooks/ops/resume')).toEqual({ status: 200, body: { name: 'ops', state: 'active' } });

    const rotated = await api('POST', '/api/v1/webhooks/ops/rotate-secret');
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect((await api('GET', '/api/v1/webhooks/ops')).body.signingSecrets).toBe(2);

    const backfill = await api('POST', '/api/v1/webhooks/ops/backfill', { table: 'orders' });
    expect(backfill.status).toBe(200);
    await expect.poll(async () => (await api('GET', '/api/v1/webhooks/backfills?webhook=ops')).body.backfills[0]?.state, { timeout: 20_000 }).toBe('done');
    const [job] = (await api('GET', '/api/v1/webhooks/ops/backfills')).body.backfills;
    expect(job).toMatchObject({ id: backfill.body.backfill, table: 'public.orders', rowsDone: 27, rowsTotal: 27, percent: 100 });
    await expect.poll(() => received.filter((x) => x.path === '/ops').length, { timeout: 20_000 }).toBe(27);

    const replay = await api('POST', '/api/v1/webhooks/ops/replay', { fromLsn: '0/0' });
    expect(replay).toEqual({ status: 200, body: { name: 'ops', queued: 27 } });
    expect((await api('POST', '/api/v1/webhooks/ops/replay', { fromLsn: 'x' })).status).toBe(400);
    expect((await api('POST', '/api/v1/webhooks/ops/replay', {})).body.error).toMatch(/exactly one of "fromLsn" and "fromTime"/);
    expect(await api('POST', '/api/v1/webhooks/ops/replay-dead')).toEqual({ status: 200, body: { name: 'ops', queued: 0 } });
    expect((await api('POST', '/api/v1/webhooks/ops/backfill', { table: 'nope' })).status).toBe(400);

    expect(await api('DELETE', '/api/v1/webhooks/ops')).toEqual({ status: 200, body: { deleted: 'ops' } });
    expect(service.registry.get('ops')).toBeUndefined();
    expect((await api('DELETE', '/api/v1/webhooks/ops')).status).toBe(404);
  });

  it('answers 404 for an unknown webhook or action, 405 for a wrong method', async () => {
    for (const [method, path] of [
      ['GET', '/api/v1/webhooks/nope'],
      ['POST', '/api/v1/webhooks/nope/pause'],
      ['POST', '/api/v1/webhooks/nope/replay-dead'],
      ['GET', '/api/v1/webhooks/nope/deliveries'],
      ['POST', '/api/v1/webhooks/nope/backfill'],
      ['POST', '/api/v1/webhooks/orders-big/frobnicate'],
    ] as const) {
      const r = await api(method, path, method === 'POST' && path.endsWith('backfill') ? { table: 'orders' } : undefined);
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.body.error).toMatch(/does not exist|unknown webhook action/);
    }
    expect((await api('PUT', '/api/v1/webhooks')).status).toBe(405);
    expect((await api('GET', '/api/v1/webhooks/orders-big/pause')).status).toBe(405);
  });

  it('reports change capture with the slot lag and wal_status', async () => {
    const r = await api('GET', '/api/v1/cdc');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ enabled: true, state: 'streaming', slot: SLOT, publication: 'helios_test_api_pub', schemas: ['public'], alarm: null });
    expect(r.body.checkpointLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/i);
    await expect.poll(async () => (await api('GET', '/api/v1/cdc')).body.slotState?.walStatus, { timeout: 15_000 }).toMatch(/^(reserved|extended)$/);
  });
});

describe('SQL through the proxy', () => {
  it('refuses create_webhook with an invalid condition or an unreachable URL (22023), and lets a valid one through', async () => {
    const c = await viaProxy();
    const badCondition = await sqlError(c.query(`SELECT * FROM helios.create_webhook('sql-bad', '${receiverUrl}', condition => 'new.total >>> 1')`));
    expect(badCondition.code).toBe('22023');
    expect(badCondition.message).toMatch(/^invalid condition: /);

    // Extended protocol, the URL as a Bind parameter.
    const unreachable = await sqlError(c.query('SELECT helios.create_webhook($1, $2)', ['sql-closed', closedUrl]));
    expect(unreachable.code).toBe('22023');
    expect(unreachable.message).toMatch(/is unreachable: connection refused/);

    const malformed = await sqlError(c.query("SELECT * FROM helios.create_webhook(name => 'sql-malformed', url => 'http//x')"));
    expect(malformed.code).toBe('22023');
    expect((await c.query("SELECT count(*)::int AS n FROM helios.webhooks WHERE name LIKE 'sql-%'")).rows[0].n).toBe(0);

    const ok = await c.query('SELECT webhook, signing_secret FROM helios.create_webhook($1, $2, tables => $3, condition => $4)', ['sql-ok', `${receiverUrl}/sql`, ['orders'], "new.status = 'paid'"]);
    expect(ok.rows[0]).toEqual({ webhook: 'sql-ok', signing_secret: expect.stringMatching(/^whsec_/) });
    // Every sidecar hears of it through NOTIFY.
    await expect.poll(() => service.registry.get('sql-ok')?.condition, { timeout: 10_000 }).toBe("new.status = 'paid'");
    expect((await c.query("SELECT helios.delete_webhook('sql-ok') AS d")).rows[0].d).toBe(true);
  });

  it('answers SHOW helios.webhooks and SHOW helios.cdc', async () => {
    const c = await viaProxy();
    const hooks = await c.query('SHOW helios.webhooks');
    expect(hooks.fields.map((f) => f.name)).toEqual(['name', 'url', 'state', 'state_reason', 'pending', 'dead_letters', 'delivered', 'failed', 'dead', 'lag_p99_ms', 'last_status', 'last_error', 'circuit']);
    expect(hooks.rows.find((r) => r.name === 'orders-big')).toMatchObject({ state: 'active', pending: '0', delivered: '1', last_status: '200', circuit: 'closed' });

    const cdc = await c.query('SHOW helios.cdc');
    expect(cdc.rows).toHaveLength(1);
    expect(cdc.rows[0]).toMatchObject({ slot: SLOT, publication: 'helios_test_api_pub', state: 'streaming', alarm: null });
    expect(cdc.rows[0].wal_status).toMatch(/^(reserved|extended)$/);
  });
});
