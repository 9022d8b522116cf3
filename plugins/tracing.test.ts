// The tracing plugin on results built by hand: span names, attributes, status, trace context.
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createTracing, type Tracing, type TracingOptions } from '../src/observability/tracing/index.ts';
import type { SpanDetail } from '../src/observability/tracing/trace-store.ts';
import type { Plugin, QueryInfo, ResultInfo, SessionInfo } from './contract.ts';
import { createTracingPlugin, isErrorSqlstate, operationName, querySummary, type TracingPluginOptions } from './tracing.ts';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const PARENT_ID = 'b7ad6b7169203331';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_ID}-01`;
const OTHER_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const OTHER_PARENT_ID = '00f067aa0ba902b7';
const OTHER_TRACEPARENT = `00-${OTHER_TRACE_ID}-${OTHER_PARENT_ID}-01`;

const UPSTREAM = { host: 'db.internal', port: 5433 };

const tracings: Tracing[] = [];

afterEach(async () => {
  await Promise.all(tracings.splice(0).map((t) => t.shutdown()));
});

function setup(pluginOpts: Partial<TracingPluginOptions> = {}, tracingOpts: TracingOptions = {}) {
  const tracing = createTracing({ env: {}, ...tracingOpts });
  tracings.push(tracing);
  const plugin = createTracingPlugin(tracing, { upstream: () => UPSTREAM, ...pluginOpts });
  return { tracing, plugin };
}

let sessionIds = 0;
function newSession(over: Partial<SessionInfo> = {}): SessionInfo {
  return {
    id: ++sessionIds,
    user: 'alice',
    database: 'shop',
    applicationName: 'checkout',
    clientAddress: '127.0.0.1:50000',
    tls: false,
    connectedAt: Date.now(),
    state: new Map(),
    ...over,
  };
}

const ordersById = Object.freeze({
  kind: 'SELECT',
  reads: Object.freeze(['orders']),
  writes: Object.freeze([]) as readonly string[],
  fingerprint: 'a1b2c3d4e5f60718',
  normalized: 'SELECT total FROM orders WHERE id = $1',
});

function query(over: Partial<QueryInfo> = {}): QueryInfo {
  return {
    ...ordersById,
    session: over.session ?? newSession(),
    text: 'SELECT total FROM orders WHERE id = 42',
    tags: {},
    protocol: 'simple',
    phase: 'execute',
    index: 0,
    state: new Map(),
    startedAt: process.hrtime.bigint(),
    ...over,
  };
}

function result(q: QueryInfo, over: Partial<ResultInfo> = {}): ResultInfo {
  return { query: q, commandTag: 'SELECT 1', rows: 1, bytes: 20, durationSeconds: 0.002, denied: false, ...over };
}

/** Runs the statement through the plugin and returns its span from the store. */
function run(plugin: Plugin, tracing: Tracing, q: QueryInfo, over: Partial<ResultInfo> = {}): SpanDetail & { traceId: string } {
  const before = new Set(tracing.store.list({ limit: 10_000 }).map((t) => `${t.traceId}:${t.spanCount}`));
  plugin.onResult!(result(q, over));
  const changed = tracing.store.list({ limit: 10_000 }).find((t) => !before.has(`${t.traceId}:${t.spanCount}`));
  expect(changed, 'a span was stored').toBeDefined();
  const detail = tracing.store.get(changed!.traceId)!;
  const span = detail.spans.reduce((a, b) => (b.startTime >= a.startTime ? b : a));
  return { ...span, traceId: detail.traceId };
}

describe('span per statement', () => {
  it('follows the database conventions: name, kind, attributes', () => {
    const { tracing, plugin } = setup();
    const q = query();
    const before = Date.now();
    const span = run(plugin, tracing, q, { durationSeconds: 0.0125 });
    expect(span.name).toBe('SELECT orders');
    expect(span.kind).toBe('CLIENT');
    expect(span.parentSpanId).toBeUndefined();
    expect(span.attributes).toEqual({
      'db.system.name': 'postgresql',
      'db.namespace': 'shop',
      'db.operation.name': 'SELECT',
      'db.collection.name': 'orders',
      'db.query.summary': 'SELECT orders',
      'db.query.text': 'SELECT total FROM orders WHERE id = $1',
      'db.response.returned_rows': 1,
      'server.address': 'db.internal',
      'server.port': 5433,
      'helios.fingerprint': 'a1b2c3d4e5f60718',
      'helios.session.application_name': 'checkout',
    });
    expect(span.status).toEqual({ code: 'UNSET' });
    expect(span.durationMs).toBeCloseTo(12.5, 3);
    expect(Math.abs(Date.parse(span.startTime) - before)).toBeLessThan(1000);
  });

  it('starts the span when the statement was sent upstream', () => {
    const { tracing, plugin } = setup();
    const startedAt = process.hrtime.bigint() - 5_000_000_000n;
    const span = run(plugin, tracing, query({ startedAt }), { durationSeconds: 0.25 });
    expect(Date.now() - Date.parse(span.startTime)).toBeGreaterThanOrEqual(4900);
    expect(Date.now() - Date.parse(span.startTime)).toBeLessThan(6000);
    expect(span.durationMs).toBeCloseTo(250, 3);
  });

  it('names joins, writes, DDL and transaction control per the conventions', () => {
    const { tracing, plugin } = setup();
    const join = run(plugin, tracing, query({ reads: ['orders', 'customers'], normalized: 'SELECT * FROM orders JOIN customers USING (id)' }));
    expect(join.name).toBe('SELECT orders customers');
    expect(join.attributes['db.collection.name']).toBeUndefined();

    const insert = run(plugin, tracing, query({ kind: 'INSERT', reads: ['t'], writes: ['events'], normalized: 'INSERT INTO events SELECT b FROM t' }), { bytes: 0, rows: 3, commandTag: 'INSERT 0 3' });
    expect(insert.name).toBe('INSERT events SELECT t');
    expect(insert.attributes).toMatchObject({ 'db.operation.name': 'INSERT', 'db.response.returned_rows': 0 });
    expect(insert.attributes['db.collection.name']).toBeUndefined();

    const update = run(plugin, tracing, query({ kind: 'UPDATE', reads: ['public.orders'], writes: ['public.orders'] }), { bytes: 0, rows: 2 });
    expect(update.name).toBe('UPDATE public.orders');
    expect(update.attributes['db.collection.name']).toBe('public.orders');

    const returning = run(plugin, tracing, query({ kind: 'DELETE', reads: [], writes: ['orders'] }), { bytes: 40, rows: 2 });
    expect(returning.attributes['db.response.returned_rows']).toBe(2);

    const ddl = run(plugin, tracing, query({ kind: 'CREATE_TABLE', reads: [], writes: ['t'] }));
    expect(ddl.name).toBe('CREATE TABLE t');
    expect(ddl.attributes['db.operation.name']).toBe('CREATE TABLE');

    const begin = run(plugin, tracing, query({ kind: 'TRANSACTION', subkind: 'BEGIN', reads: [], writes: [], normalized: 'BEGIN' }));
    expect(begin.name).toBe('BEGIN');
    expect(begin.attributes['db.collection.name']).toBeUndefined();

    const one = run(plugin, tracing, query({ reads: [], normalized: 'SELECT $1' }));
    expect(one.name).toBe('SELECT');
  });

  it('operation names and summaries', () => {
    expect(operationName('TRANSACTION', 'START')).toBe('START TRANSACTION');
    expect(operationName('TRANSACTION', 'ROLLBACK_TO')).toBe('ROLLBACK TO SAVEPOINT');
    expect(operationName('TRANSACTION', 'COMMIT')).toBe('COMMIT');
    expect(operationName('REFRESH_MAT_VIEW')).toBe('REFRESH MATERIALIZED VIEW');
    expect(operationName('ALTER_TABLE')).toBe('ALTER TABLE');
    expect(operationName('SET')).toBe('SET');
    expect(operationName('UNKNOWN')).toBeUndefined();
    expect(operationName('EMPTY')).toBeUndefined();
    expect(querySummary('DROP', 'DROP', [], ['a', 'b'])).toBe('DROP a b');
    expect(querySummary('SELECT', undefined, ['a'], [])).toBeUndefined();
    expect(querySummary('SELECT', 'SELECT', ['x'.repeat(300)], [])!.length).toBe(255);
  });

  it('leaves the text out of a statement that did not parse, and names it "postgresql"', () => {
    const { tracing, plugin } = setup();
    const text = "SELEC secret FROM t WHERE pw = 'hunter2'";
    const span = run(plugin, tracing, query({ kind: 'UNKNOWN', reads: [], fingerprint: '', normalized: text, error: 'syntax error', text }), { sqlstate: '42601', bytes: 0, rows: 0 });
    expect(span.name).toBe('postgresql');
    expect(span.attributes['db.query.text']).toBeUndefined();
    expect(span.attributes['db.operation.name']).toBeUndefined();
    expect(span.attributes['helios.fingerprint']).toBeUndefined();
    expect(JSON.stringify(span)).not.toContain('hunter2');
  });

  it('shows the full text as sent, and error messages, only when configured', () => {
    const { tracing, plugin } = setup({ queryText: 'full' });
    const q = query({ text: "/*app='x'*/ SELECT total FROM orders WHERE id = 42" });
    expect(run(plugin, tracing, q).attributes['db.query.text']).toBe("/*app='x'*/ SELECT total FROM orders WHERE id = 42");
    // A literal no hex trace or span id can contain.
    const failed = run(plugin, tracing, query({ text: "SELECT 'secret-xyz'::int" }), { sqlstate: '22P02', errorMessage: 'invalid input syntax for type integer: "secret-xyz"' });
    expect(failed.status).toEqual({ code: 'ERROR', message: 'invalid input syntax for type integer: "secret-xyz"' });

    const normalized = setup();
    const quiet = run(normalized.plugin, normalized.tracing, query({ text: "SELECT 'secret-xyz'::int" }), { sqlstate: '22P02', errorMessage: 'invalid input syntax for type integer: "secret-xyz"' });
    expect(quiet.status).toEqual({ code: 'ERROR' });
    expect(JSON.stringify(quiet)).not.toContain('secret-xyz');
  });

  it('omits the application name when the session has none', () => {
    const { tracing, plugin } = setup();
    const span = run(plugin, tracing, query({ session: newSession({ applicationName: '' }) }));
    expect(span.attributes['helios.session.application_name']).toBeUndefined();
  });
});

describe('error status', () => {
  it('is ERROR for SQLSTATE classes 02 and above, with db.response.status_code and error.type', () => {
    const { tracing, plugin } = setup();
    const failed = run(plugin, tracing, query(), { sqlstate: '23505', commandTag: '', rows: 0, bytes: 0 });
    expect(failed.status.code).toBe('ERROR');
    expect(failed.attributes).toMatchObject({ 'db.response.status_code': '23505', 'error.type': '23505' });
    expect(run(plugin, tracing, query(), { sqlstate: '02000' }).status.code).toBe('ERROR');
    expect(run(plugin, tracing, query(), { sqlstate: '57014' }).status.code).toBe('ERROR');
    expect(run(plugin, tracing, query(), { sqlstate: 'XX000' }).status.code).toBe('ERROR');
  });

  it('is not an error for success and warning classes', () => {
    const { tracing, plugin } = setup();
    const warned = run(plugin, tracing, query(), { sqlstate: '01000' });
    expect(warned.status.code).toBe('UNSET');
    expect(warned.attributes['db.response.status_code']).toBe('01000');
    expect(warned.attributes['error.type']).toBeUndefined();
    expect(run(plugin, tracing, query(), { sqlstate: '00000' }).status.code).toBe('UNSET');
    expect([isErrorSqlstate('00000'), isErrorSqlstate('01P01'), isErrorSqlstate('02000'), isErrorSqlstate('0A000'), isErrorSqlstate('P0001')]).toEqual([false, false, true, true, true]);
  });

  it('marks statements a plugin denied', () => {
    const { tracing, plugin } = setup();
    const denied = run(plugin, tracing, query(), { sqlstate: 'HX001', denied: true, commandTag: '' });
    expect(denied.status.code).toBe('ERROR');
    expect(denied.attributes).toMatchObject({ 'helios.denied': true, 'db.response.status_code': 'HX001', 'error.type': 'HX001' });
  });
});

describe('trace context', () => {
  it('continues the trace of a sqlcommenter traceparent, keeping its tracestate', () => {
    const { tracing, plugin } = setup();
    const span = run(plugin, tracing, query({ tags: { traceparent: TRACEPARENT, tracestate: 'vendor=abc' } }));
    expect(span.traceId).toBe(TRACE_ID);
    expect(span.parentSpanId).toBe(PARENT_ID);
    const again = run(plugin, tracing, query({ tags: { traceparent: TRACEPARENT } }));
    expect(again.traceId).toBe(TRACE_ID);
    expect(again.spanId).not.toBe(span.spanId);
    expect(tracing.store.get(TRACE_ID)!.spanCount).toBe(2);
  });

  it('ignores an invalid traceparent and starts a new trace', () => {
    const { tracing, plugin } = setup();
    for (const bad of [`00-${'0'.repeat(32)}-${PARENT_ID}-01`, TRACEPARENT.toUpperCase(), 'garbage', `ff-${TRACE_ID}-${PARENT_ID}-01`]) {
      const span = run(plugin, tracing, query({ tags: { traceparent: bad } }));
      expect(span.traceId).not.toBe(TRACE_ID);
      expect(span.parentSpanId).toBeUndefined();
    }
  });

  it('follows SET helios.traceparent for the session\'s later statements until RESET', () => {
    const { tracing, plugin } = setup();
    const session = newSession();
    const bystander = newSession();
    const set = (text: string, over: Partial<ResultInfo> = {}) =>
      run(plugin, tracing, query({ session, kind: 'SET', reads: [], writes: [], fingerprint: 'f', normalized: text, text }), { commandTag: 'SET', bytes: 0, rows: 0, ...over });

    set(`SET helios.traceparent = '${TRACEPARENT}'`);
    expect(run(plugin, tracing, query({ session })).traceId).toBe(TRACE_ID);
    expect(run(plugin, tracing, query({ session })).parentSpanId).toBe(PARENT_ID);
    expect(run(plugin, tracing, query({ session: bystander })).traceId).not.toBe(TRACE_ID);
    // The statement's own traceparent wins over the session's.
    expect(run(plugin, tracing, query({ session, tags: { traceparent: OTHER_TRACEPARENT } })).traceId).toBe(OTHER_TRACE_ID);
    // An invalid statement traceparent falls back to the session's.
    expect(run(plugin, tracing, query({ session, tags: { traceparent: 'nope' } })).traceId).toBe(TRACE_ID);

    set('RESET helios.traceparent');
    expect(run(plugin, tracing, query({ session })).traceId).not.toBe(TRACE_ID);

    set(`/* c */ set session "helios".traceparent to '${OTHER_TRACEPARENT}'`);
    expect(run(plugin, tracing, query({ session })).traceId).toBe(OTHER_TRACE_ID);
    set(`SET helios.traceparent TO '${TRACEPARENT}'`);
    expect(run(plugin, tracing, query({ session })).traceId).toBe(TRACE_ID);
    set("SET helios.traceparent = ''");
    expect(run(plugin, tracing, query({ session })).traceId).not.toBe(TRACE_ID);
  });

  it('clears the session traceparent on RESET ALL, DISCARD ALL, DEFAULT and an invalid value', () => {
    const { tracing, plugin } = setup();
    const session = newSession();
    const stmt = (kind: string, text: string) =>
      plugin.onResult!(result(query({ session, kind, reads: [], writes: [], fingerprint: 'f', normalized: text, text }), { commandTag: kind }));
    const follows = () => run(plugin, tracing, query({ session })).traceId === TRACE_ID;
    for (const [kind, clear] of [['SET', 'RESET ALL'], ['DISCARD', 'DISCARD ALL'], ['SET', 'SET helios.traceparent TO DEFAULT'], ['SET', "SET helios.traceparent = 'bogus'"]] as const) {
      stmt('SET', `SET helios.traceparent = '${TRACEPARENT}'`);
      expect(follows(), `before ${clear}`).toBe(true);
      stmt(kind, clear);
      expect(follows(), `after ${clear}`).toBe(false);
    }
  });

  it('does not follow SET LOCAL, other settings, or a SET that failed', () => {
    const { tracing, plugin } = setup();
    const session = newSession();
    const stmt = (text: string, over: Partial<ResultInfo> = {}) =>
      plugin.onResult!(result(query({ session, kind: 'SET', reads: [], writes: [], fingerprint: 'f', normalized: text, text }), { commandTag: 'SET', ...over }));
    stmt(`SET LOCAL helios.traceparent = '${TRACEPARENT}'`);
    stmt(`SET application_name = '${TRACEPARENT}'`);
    stmt(`SET helios.traceparent = '${TRACEPARENT}'`, { sqlstate: '25P02', commandTag: '' });
    expect(session.state.size).toBe(0);
    expect(run(plugin, tracing, query({ session })).traceId).not.toBe(TRACE_ID);
  });

  it('keeps the client\'s sampling decision: an unsampled parent records nothing', () => {
    const { tracing, plugin } = setup();
    plugin.onResult!(result(query({ tags: { traceparent: `00-${TRACE_ID}-${PARENT_ID}-00` } })));
    expect(tracing.store.get(TRACE_ID)).toBeUndefined();
  });
});

describe('plans of slow statements', () => {
  const PLAN = [{ Plan: { 'Node Type': 'Index Scan', 'Relation Name': 'orders', 'Index Name': 'orders_pkey', 'Index Cond': '(id = 42)', 'Total Cost': 8.29 } }];

  /** A pg.Client stand-in answering every EXPLAIN with PLAN. */
  function fakeConnect(explained: string[]) {
    return async (database: string) =>
      ({
        query: async (q: string | { text: string; values?: unknown[] }) => {
          const text = typeof q === 'string' ? q : q.text;
          if (text.startsWith('EXPLAIN')) explained.push(`${database}: ${text.replace(/\s+/g, ' ')} ${JSON.stringify(typeof q === 'string' ? [] : q.values)}`);
          return { rows: [{ 'QUERY PLAN': PLAN }] };
        },
        on() {},
        end: async () => {},
      }) as unknown as pg.Client;
  }

  it('attaches the sanitized plan to slow spans only, and tells the plan listeners', async () => {
    const explained: string[] = [];
    const { tracing, plugin } = setup({ planThresholdMs: 100 }, { connect: fakeConnect(explained) });
    const heard: string[] = [];
    tracing.onPlan((p) => heard.push(`${p.database} ${p.fingerprint} ${p.planHash} ${p.totalCost}`));

    const fast = run(plugin, tracing, query(), { durationSeconds: 0.05 });
    expect(fast.attributes['helios.plan']).toBeUndefined();

    const q = query({ protocol: 'extended', text: 'SELECT total FROM orders WHERE id = $1', params: [Buffer.from('42')], paramFormats: [0] });
    plugin.onResult!(result(q, { durationSeconds: 0.4 }));
    await tracing.forceFlush();
    const slow = tracing.store.list().find((t) => t.durationMs > 300)!;
    const span = tracing.store.get(slow.traceId)!.spans[0]!;
    expect(JSON.parse(span.attributes['helios.plan'] as string)).toEqual([{ Plan: { ...PLAN[0]!.Plan, 'Index Cond': '(id = ?)' } }]);
    expect(span.attributes['helios.plan.hash']).toMatch(/^[0-9a-f]{16}$/);
    expect(span.attributes['helios.plan.total_cost']).toBe(8.29);
    expect(span.durationMs).toBeCloseTo(400, 3);
    expect(explained).toEqual(['shop: EXPLAIN (FORMAT JSON) SELECT total FROM orders WHERE id = $1 ["42"]']);
    expect(heard).toEqual([`shop a1b2c3d4e5f60718 ${span.attributes['helios.plan.hash']} 8.29`]);
  });

  it('ends a slow span at once when no plan is taken (rate limit, binary parameters, denied)', async () => {
    const explained: string[] = [];
    const { tracing, plugin } = setup({ planThresholdMs: 0 }, { connect: fakeConnect(explained) });
    run(plugin, tracing, query({ fingerprint: 'f-binary', protocol: 'extended', params: [Buffer.from([0, 0, 0, 1])], paramFormats: [1] }), { durationSeconds: 1 });
    run(plugin, tracing, query({ fingerprint: 'f-denied' }), { durationSeconds: 1, denied: true, sqlstate: 'HX001' });
    run(plugin, tracing, query({ kind: 'CREATE_TABLE', reads: [], writes: ['t'], fingerprint: 'f-ddl' }), { durationSeconds: 1 });
    await tracing.forceFlush();
    expect(explained).toEqual([]);
  });

  it('takes no plans with planThresholdMs null', async () => {
    const explained: string[] = [];
    const { tracing, plugin } = setup({ planThresholdMs: null }, { connect: fakeConnect(explained) });
    run(plugin, tracing, query(), { durationSeconds: 10 });
    await tracing.forceFlush();
    expect(explained).toEqual([]);
  });
});

describe('cost', () => {
  it('prints the cost per span (no assertion: timing is not a test)', () => {
    const { tracing, plugin } = setup();
    const session = newSession();
    const qs = [
      query({ session }),
      query({ session, tags: { traceparent: TRACEPARENT } }),
      query({ session, kind: 'INSERT', reads: [], writes: ['events'], normalized: 'INSERT INTO events VALUES ($1)' }),
    ];
    const rs = qs.map((q) => result(q));
    const n = 30_000;
    for (let i = 0; i < 5000; i++) plugin.onResult!(rs[i % 3]!);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) plugin.onResult!(rs[i % 3]!);
    const us = Number(process.hrtime.bigint() - t0) / n / 1000;
    console.log(`[tracing] ${us.toFixed(2)} µs per span (store only, ${n} spans)`);
    expect(tracing.store.size().traces).toBeLessThanOrEqual(1000);
  });
});
