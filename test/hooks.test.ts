// The hook pipeline end to end: a recording plugin and a policy plugin ride along the built-ins
// in an in-process proxy in front of the real test server, driven by pg (simple and extended
// protocol) and postgres.js (extended protocol, pipelined).
import pg from 'pg';
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Decisions, type Decision, type Plugin, type QueryInfo, type ResultInfo, type SessionInfo } from '../plugins/contract.ts';
import { freshDatabase, type FreshDatabase } from './harness/db.ts';
import { pgConfig } from './harness/pg.ts';
import { startTestProxy, type TestProxy } from './support/proxy.ts';
import { RawConnection } from './support/raw-wire.ts';

// ---- plugins -----------------------------------------------------------------------------

const queries: QueryInfo[] = [];
const results: ResultInfo[] = [];
const connects: SessionInfo[] = [];
const disconnects: SessionInfo[] = [];

/** Records every hook call (onQuery at execution only), changes nothing. */
const recorder: Plugin = {
  name: 'recorder',
  onConnect: (s) => void connects.push(s),
  onQuery: (q) => void (q.phase === 'execute' && queries.push(q)),
  onResult: (r) => void results.push(r),
  onDisconnect: (s) => void disconnects.push(s),
};

const DENY_CODE = 'HX001';
const ASYNC_DENY_CODE = 'HX002';

const later = <T>(v: T): Promise<T> => new Promise((r) => setTimeout(() => r(v), 5));

/** Decides by markers in the statement text. */
const policy: Plugin = {
  name: 'policy',
  onQuery(q): Decision | undefined | Promise<Decision | undefined> {
    const t = q.text;
    if (/\bdeny_me\b/.test(t)) return Decisions.deny(DENY_CODE, 'denied by test policy', 'deny_me is not allowed');
    if (/\bwarn_me\b/.test(t)) return Decisions.notice('careful: warn_me');
    if (/'secret'/.test(t)) return Decisions.rewrite(t.replace(/'secret'/g, "'masked'"));
    if (q.kind === 'SHOW' && /^show myapp\.thing$/i.test(q.normalized)) {
      return Decisions.intercept({ columns: ['name', 'value'], rows: [['thing', 42], ['other', null]], commandTag: 'SHOW 2' });
    }
    if (/\bintercept_me\b/.test(t)) return Decisions.intercept({ columns: ['name', 'value'], rows: [['thing', 42], ['other', null]], commandTag: 'SHOW 2' });
    if (/\bboom_plugin\b/.test(t)) throw new Error('policy exploded');
    if (/\basync_deny\b/.test(t)) return later(Decisions.deny(ASYNC_DENY_CODE, 'denied asynchronously'));
    if (/\basync_ok\b/.test(t)) return later(undefined);
    return undefined;
  },
};

// ---- fixtures ----------------------------------------------------------------------------

let db: FreshDatabase;
let proxy: TestProxy;
const clients: pg.Client[] = [];
const sqls: postgres.Sql[] = [];
let appSeq = 0;

/** A unique application_name per connection, so each test picks its own hook calls out of the shared record. */
const newApp = (label: string) => `hooks-${label}-${++appSeq}`;
const queriesOf = (app: string) => queries.filter((q) => q.session.applicationName === app);
const resultsOf = (app: string) => results.filter((r) => r.query.session.applicationName === app);

async function connect(app: string, p: TestProxy = proxy): Promise<pg.Client> {
  const c = new pg.Client({ ...p.connection, database: db.name, application_name: app });
  // A proxy closed under a failed test ends its sessions with FATAL 57P01; don't let that surface as unhandled.
  c.on('error', () => {});
  clients.push(c);
  await c.connect();
  return c;
}

function connectJs(app: string, p: TestProxy = proxy): postgres.Sql {
  const sql = postgres({
    ...p.connection,
    database: db.name,
    max: 1,
    fetch_types: false,
    onnotice: () => {},
    connection: { application_name: app },
  });
  sqls.push(sql);
  return sql;
}

/** A direct connection to the server (not through the proxy). */
async function direct(): Promise<pg.Client> {
  const c = new pg.Client(pgConfig({ database: db.name }));
  clients.push(c);
  await c.connect();
  return c;
}

/**
 * The transaction status of the next ReadyForQuery the client receives (pg exposes the raw
 * message on its connection). Call it before sending the statement; pg rejects a failed query
 * on ErrorResponse, before the ReadyForQuery that ends it arrives.
 */
function nextStatus(c: pg.Client): Promise<string> {
  return new Promise((resolve) => {
    (c as unknown as { connection: NodeJS.EventEmitter }).connection.once('readyForQuery', (m: { status: string }) => resolve(m.status));
  });
}

/** pg resolves a multi-statement simple Query with one result per statement (typed as one). */
function rowsOfEach(res: pg.QueryResult | pg.QueryResult[]): unknown[][] {
  return (Array.isArray(res) ? res : [res]).map((r) => r.rows);
}

function localPort(c: pg.Client): number {
  return (c as unknown as { connection: { stream: { localPort: number } } }).connection.stream.localPort;
}

async function pgError(p: Promise<unknown>): Promise<pg.DatabaseError> {
  try {
    await p;
  } catch (err) {
    return err as pg.DatabaseError;
  }
  throw new Error('expected the statement to fail');
}

beforeAll(async () => {
  db = await freshDatabase('hooks');
  const c = new pg.Client(pgConfig({ database: db.name }));
  await c.connect();
  try {
    await c.query(`
      CREATE TABLE t (a int PRIMARY KEY, b text);
      INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 5) g;
      CREATE TABLE events (id serial PRIMARY KEY, label text NOT NULL);
      CREATE TABLE uniq (a int PRIMARY KEY);
    `);
  } finally {
    await c.end();
  }
  proxy = await startTestProxy({ plugins: 'all', extraPlugins: [recorder, policy] });
});

afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.end()));
  await Promise.allSettled(sqls.splice(0).map((s) => s.end({ timeout: 5 })));
});

afterAll(async () => {
  await proxy?.close();
  await db?.drop();
});

// ---- onQuery -------------------------------------------------------------------------------

describe('onQuery', () => {
  it('describes a simple-protocol statement: kind, tables, fingerprint, normalized text, tags, session', async () => {
    const app = newApp('simple-info');
    const c = await connect(app);
    const trace = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await c.query(`/*tenant='acme',traceparent='${trace}'*/ SELECT a FROM public.t WHERE a = 1`);
    await c.query('select b from t where a = 2');
    await c.query(`INSERT INTO events (label) SELECT b FROM t WHERE a = 3`);

    const [q1, q2, q3] = queriesOf(app);
    expect(q1).toMatchObject({
      kind: 'SELECT',
      reads: ['public.t'],
      writes: [],
      protocol: 'simple',
      index: 0,
      tags: { tenant: 'acme', traceparent: trace },
      text: `/*tenant='acme',traceparent='${trace}'*/ SELECT a FROM public.t WHERE a = 1`,
      normalized: 'SELECT a FROM public.t WHERE a = $1',
    });
    expect(q1!.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(q1!.statementName).toBeUndefined();
    expect(q1!.params).toBeUndefined();
    expect(q2).toMatchObject({ kind: 'SELECT', reads: ['t'], writes: [], tags: {}, normalized: 'select b from t where a = $1' });
    expect(q3).toMatchObject({ kind: 'INSERT', reads: ['t'], writes: ['events'] });

    expect(q1!.session).toMatchObject({
      user: proxy.connection.user,
      database: db.name,
      applicationName: app,
      clientAddress: `127.0.0.1:${localPort(c)}`,
      tls: false,
    });
    expect(q2!.session).toBe(q1!.session);
  });

  it('gives statements that differ only in constants the same fingerprint', async () => {
    const app = newApp('fingerprint');
    const c = await connect(app);
    await c.query('SELECT a FROM t WHERE a = 1');
    await c.query('SELECT a FROM t WHERE a = 2');
    await c.query('SELECT b FROM t WHERE a = 2');
    const [one, two, other] = queriesOf(app);
    expect(one!.fingerprint).toBe(two!.fingerprint);
    expect(one!.normalized).toBe(two!.normalized);
    expect(other!.fingerprint).not.toBe(one!.fingerprint);
  });

  it('fires once per statement of a multi-statement Query, in order, each with its own text', async () => {
    const app = newApp('multi');
    const c = await connect(app);
    await c.query("SELECT 1; /*tenant='b'*/ SELECT a FROM t WHERE a = 2; UPDATE t SET b = b WHERE a = 3");
    const qs = queriesOf(app);
    expect(qs.map((q) => [q.index, q.kind, q.text])).toEqual([
      [0, 'SELECT', 'SELECT 1'],
      [1, 'SELECT', "/*tenant='b'*/ SELECT a FROM t WHERE a = 2"],
      [2, 'UPDATE', 'UPDATE t SET b = b WHERE a = 3'],
    ]);
    expect(qs[1]!.tags).toEqual({ tenant: 'b' });
    expect(qs[2]!.writes).toEqual(['t']);
  });

  it('describes an extended-protocol execution with its statement name and Bind parameters, text and binary', async () => {
    const app = newApp('extended-info');
    const c = await connect(app);
    const res = await c.query("/*tenant='acme'*/ SELECT $1::bytea AS b, $2::text AS t, $3::int AS n, $4::int AS bin", [
      Buffer.from([0xde, 0xad, 0xbe, 0xef]),
      'hello',
      null,
      Buffer.from([0, 0, 1, 0]),
    ]);
    expect(res.rows[0]).toMatchObject({ t: 'hello', n: null, bin: 256 });
    const [q] = queriesOf(app);
    expect(q).toMatchObject({
      kind: 'SELECT',
      protocol: 'extended',
      statementName: '',
      index: 0,
      tags: { tenant: 'acme' },
      normalized: "SELECT $1::bytea AS b, $2::text AS t, $3::int AS n, $4::int AS bin",
      paramFormats: [1, 0, 0, 1],
    });
    expect(q!.params).toEqual([Buffer.from([0xde, 0xad, 0xbe, 0xef]), Buffer.from('hello'), null, Buffer.from([0, 0, 1, 0])]);
    expect(q!.session.applicationName).toBe(app);
  });

  it('fires on every execution of a named prepared statement, with that execution\'s parameters', async () => {
    const app = newApp('named');
    const c = await connect(app);
    const stmt = { name: 'by_a', text: 'SELECT b FROM t WHERE a = $1' };
    expect((await c.query({ ...stmt, values: [1] })).rows).toEqual([{ b: 'row 1' }]);
    expect((await c.query({ ...stmt, values: [4] })).rows).toEqual([{ b: 'row 4' }]);
    expect((await c.query({ ...stmt, values: [5] })).rows).toEqual([{ b: 'row 5' }]);
    const qs = queriesOf(app);
    expect(qs).toHaveLength(3);
    for (const q of qs) expect(q).toMatchObject({ kind: 'SELECT', protocol: 'extended', statementName: 'by_a', reads: ['t'], text: stmt.text });
    expect(qs.map((q) => q.params!.map((p) => p?.toString()))).toEqual([['1'], ['4'], ['5']]);
    expect(new Set(qs.map((q) => q.fingerprint)).size).toBe(1);
  });

  it('fires for postgres.js executions with the generated statement name', async () => {
    const app = newApp('postgresjs-info');
    const sql = connectJs(app);
    await sql`SELECT a FROM t WHERE a = ${2}`;
    await sql`SELECT a FROM t WHERE a = ${3}`;
    const qs = queriesOf(app).filter((q) => q.reads.includes('t'));
    expect(qs).toHaveLength(2);
    expect(qs[0]!.statementName).not.toBe('');
    expect(qs[1]!.statementName).toBe(qs[0]!.statementName);
    expect(qs.map((q) => q.params?.map((p) => p?.toString()))).toEqual([['2'], ['3']]);
  });

  it('analyzes a statement text once whatever its comments: both executions share one cached analysis', async () => {
    const app = newApp('cache');
    const c = await connect(app);
    // A text no other test sends, so the first execution is a cache miss.
    const text = 'SELECT a, b FROM t AS cache_probe WHERE a > 4';
    await c.query(`/*tenant='one',traceparent='00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01'*/ ${text}`);
    await c.query(`/*tenant='two'*/ ${text} -- trailing comment`);
    await c.query(text);
    const [a, b, plain] = queriesOf(app);
    expect(a!.tags).toEqual({ tenant: 'one', traceparent: '00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01' });
    expect(b!.tags).toEqual({ tenant: 'two' });
    expect(b!.fingerprint).toBe(a!.fingerprint);
    expect(b!.normalized).toBe(a!.normalized);
    // The analyzer's stats are not reachable through ProxyHandle; the frozen `reads` array is
    // the analysis object's own, so a second parse would have produced a different array.
    expect(Object.isFrozen(a!.reads)).toBe(true);
    expect(b!.reads).toBe(a!.reads);
    expect(plain!.reads).toBe(a!.reads);
  });
});

// ---- onResult ------------------------------------------------------------------------------

describe('onResult', () => {
  it('reports command tag, rows, bytes and duration for simple-protocol statements', async () => {
    const app = newApp('result-simple');
    const c = await connect(app);
    await c.query('SELECT g FROM generate_series(1, 3) g');
    await c.query("INSERT INTO events (label) VALUES ('r1'), ('r2')");
    await c.query("UPDATE events SET label = label || '!' WHERE label IN ('r1', 'r2')");
    await c.query("DELETE FROM events WHERE label IN ('r1!', 'r2!')");
    const rs = resultsOf(app);
    expect(rs.map((r) => [r.commandTag, r.rows, r.sqlstate, r.denied])).toEqual([
      ['SELECT 3', 3, undefined, false],
      ['INSERT 0 2', 2, undefined, false],
      ['UPDATE 2', 2, undefined, false],
      ['DELETE 2', 2, undefined, false],
    ]);
    expect(rs[0]!.bytes).toBeGreaterThan(0);
    for (const r of rs) expect(r.durationSeconds).toBeGreaterThan(0);
    expect(rs[1]!.query).toBe(queriesOf(app)[1]);
  });

  it('reports each statement of a multi-statement Query separately', async () => {
    const app = newApp('result-multi');
    const c = await connect(app);
    await c.query("SELECT 1; INSERT INTO events (label) VALUES ('m1'); SELECT g FROM generate_series(1, 4) g");
    expect(resultsOf(app).map((r) => [r.query.index, r.commandTag, r.rows])).toEqual([
      [0, 'SELECT 1', 1],
      [1, 'INSERT 0 1', 1],
      [2, 'SELECT 4', 4],
    ]);
  });

  it('reports the SQLSTATE of failed simple-protocol statements', async () => {
    const app = newApp('result-simple-err');
    const c = await connect(app);
    expect((await pgError(c.query('SELECT * FROM no_such_table'))).code).toBe('42P01');
    await c.query('INSERT INTO uniq VALUES (1)');
    expect((await pgError(c.query('INSERT INTO uniq VALUES (1)'))).code).toBe('23505');
    expect(resultsOf(app).map((r) => [r.query.kind, r.commandTag, r.sqlstate, r.denied])).toEqual([
      ['SELECT', '', '42P01', false],
      ['INSERT', 'INSERT 0 1', undefined, false],
      ['INSERT', '', '23505', false],
    ]);
  });

  it('reports extended-protocol results, including errors raised at execution', async () => {
    const app = newApp('result-extended');
    const c = await connect(app);
    await c.query('SELECT g FROM generate_series(1, $1::int) g', [5]);
    await c.query('INSERT INTO uniq VALUES ($1), ($2)', [10, 11]);
    expect((await pgError(c.query('INSERT INTO uniq VALUES ($1)', [10]))).code).toBe('23505');
    await c.query('UPDATE uniq SET a = a + $1 WHERE a IN (10, 11)', [100]);
    const rs = resultsOf(app);
    expect(rs.map((r) => [r.query.protocol, r.commandTag, r.rows, r.sqlstate])).toEqual([
      ['extended', 'SELECT 5', 5, undefined],
      ['extended', 'INSERT 0 2', 2, undefined],
      ['extended', '', 0, '23505'],
      ['extended', 'UPDATE 2', 2, undefined],
    ]);
    expect(rs[0]!.bytes).toBeGreaterThan(0);
    for (const r of rs) expect(r.durationSeconds).toBeGreaterThan(0);
  });

  it('reports an extended-protocol statement the server rejects at Parse (missing table)', async () => {
    const app = newApp('result-extended-parse-err');
    const c = await connect(app);
    expect((await pgError(c.query('SELECT * FROM no_such_table WHERE a = $1', [1]))).code).toBe('42P01');
    await c.query('SELECT 1');
    // onQuery fired for the execution (the Bind arrived with the Parse), so onResult must too.
    expect(queriesOf(app).map((q) => q.text)).toEqual(['SELECT * FROM no_such_table WHERE a = $1', 'SELECT 1']);
    expect(resultsOf(app).map((r) => [r.query.text, r.sqlstate])).toEqual([
      ['SELECT * FROM no_such_table WHERE a = $1', '42P01'],
      ['SELECT 1', undefined],
    ]);
  });

  it('attributes pipelined postgres.js results to the right statements', async () => {
    const app = newApp('result-pipelined');
    const sql = connectJs(app);
    const settled = await Promise.allSettled([
      sql`SELECT g FROM generate_series(1, 3) g`,
      sql`INSERT INTO uniq VALUES (200), (201)`,
      sql`INSERT INTO uniq VALUES (200)`,
      sql`UPDATE uniq SET a = a + 1000 WHERE a IN (200, 201)`,
      sql`SELECT g FROM generate_series(1, 2) g`,
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(((settled[2] as PromiseRejectedResult).reason as { code: string }).code).toBe('23505');
    const rs = resultsOf(app);
    expect(rs.map((r) => [r.query.text, r.commandTag, r.rows, r.sqlstate])).toEqual([
      ['SELECT g FROM generate_series(1, 3) g', 'SELECT 3', 3, undefined],
      ['INSERT INTO uniq VALUES (200), (201)', 'INSERT 0 2', 2, undefined],
      ['INSERT INTO uniq VALUES (200)', '', 0, '23505'],
      ['UPDATE uniq SET a = a + 1000 WHERE a IN (200, 201)', 'UPDATE 2', 2, undefined],
      ['SELECT g FROM generate_series(1, 2) g', 'SELECT 2', 2, undefined],
    ]);
    for (const r of rs) expect(r.durationSeconds).toBeGreaterThan(0);
    expect(rs[0]!.bytes).toBeGreaterThan(0);
  });

  it('reports a pipelined postgres.js statement the server rejects at Parse (missing table)', async () => {
    const app = newApp('result-pipelined-parse-err');
    const sql = connectJs(app);
    const settled = await Promise.allSettled([sql`SELECT 1 AS one`, sql`SELECT * FROM no_such_table`, sql`SELECT 3 AS three`]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(((settled[1] as PromiseRejectedResult).reason as { code: string }).code).toBe('42P01');
    expect(resultsOf(app).map((r) => [r.query.text, r.sqlstate])).toEqual([
      ['SELECT 1 AS one', undefined],
      ['SELECT * FROM no_such_table', '42P01'],
      ['SELECT 3 AS three', undefined],
    ]);
  });
});

// ---- onConnect / onDisconnect ------------------------------------------------------------

describe('onConnect / onDisconnect', () => {
  it('fire once per session, with the same session', async () => {
    const app = newApp('lifecycle');
    const c = await connect(app);
    await c.query('SELECT 1');
    await c.query('SELECT 2');
    const mine = (list: SessionInfo[]) => list.filter((s) => s.applicationName === app);
    expect(mine(connects)).toHaveLength(1);
    expect(mine(disconnects)).toHaveLength(0);
    await c.end();
    await vi.waitFor(() => expect(mine(disconnects)).toHaveLength(1));
    expect(mine(connects)).toHaveLength(1);
    expect(mine(disconnects)[0]).toBe(mine(connects)[0]);
    expect(mine(connects)[0]).toBe(queriesOf(app)[0]!.session);
  });

  it('do not fire onConnect for a client that fails to authenticate', async () => {
    const app = newApp('lifecycle-badauth');
    const c = new pg.Client({ ...proxy.connection, database: db.name, application_name: app, password: 'wrong' });
    await expect(c.connect()).rejects.toMatchObject({ code: '28P01' });
    await c.end().catch(() => {});
    expect(connects.filter((s) => s.applicationName === app)).toHaveLength(0);
    expect(disconnects.filter((s) => s.applicationName === app)).toHaveLength(0);
  });
});

// ---- decisions -------------------------------------------------------------------------------

describe('deny', () => {
  it('(a) refuses a simple Query with the plugin\'s SQLSTATE and message; the connection stays usable', async () => {
    const app = newApp('deny-simple');
    const c = await connect(app);
    const status = nextStatus(c);
    const err = await pgError(c.query('SELECT 1 AS deny_me'));
    expect(err.code).toBe(DENY_CODE);
    expect(err.message).toBe('denied by test policy');
    expect(err.detail).toBe('deny_me is not allowed');
    expect(err.severity).toBe('ERROR');
    expect(await status).toBe('I');
    expect((await c.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
    const [denied, ok] = resultsOf(app);
    expect(denied).toMatchObject({ denied: true, sqlstate: DENY_CODE, errorMessage: 'denied by test policy', commandTag: '' });
    expect(ok).toMatchObject({ denied: false, commandTag: 'SELECT 1' });
  });

  it('(b) denying the 2nd of 3 statements: the 1st is rolled back with the implicit transaction, the 3rd never runs', async () => {
    const app = newApp('deny-multi');
    const c = await connect(app);
    const err = await pgError(
      c.query("INSERT INTO events (label) VALUES ('multi-1'); SELECT 1 AS deny_me; INSERT INTO events (label) VALUES ('multi-3')"),
    );
    expect(err.code).toBe(DENY_CODE);
    expect(err.message).toBe('denied by test policy');
    const check = await direct();
    const { rows } = await check.query("SELECT count(*)::int AS n FROM events WHERE label LIKE 'multi-%'");
    expect(rows[0].n).toBe(0);
    expect(queriesOf(app).map((q) => q.index)).toEqual([0, 1]);
    expect(resultsOf(app).map((r) => [r.query.index, r.commandTag, r.sqlstate, r.denied])).toEqual([
      [0, 'INSERT 0 1', undefined, false],
      [1, '', DENY_CODE, true],
    ]);
    expect((await c.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
  });

  it('(c) a deny inside BEGIN aborts the transaction, and client and server agree on it', async () => {
    const app = newApp('deny-tx');
    const c = await connect(app);
    let status = nextStatus(c);
    await c.query('BEGIN');
    expect(await status).toBe('T');
    const pid = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
    await c.query("INSERT INTO events (label) VALUES ('tx-denied')");
    status = nextStatus(c);
    expect((await pgError(c.query('SELECT 1 AS deny_me'))).code).toBe(DENY_CODE);
    expect(await status).toBe('E');

    const other = await direct();
    const act = await other.query('SELECT state FROM pg_stat_activity WHERE pid = $1', [pid]);
    expect(act.rows).toEqual([{ state: 'idle in transaction (aborted)' }]);
    const watcher = await connect(newApp('deny-tx-watch'));
    const view = (await watcher.query('SHOW helios.clients')).rows.find((r) => r.application_name === app);
    expect(view).toMatchObject({ transaction_status: 'E' });

    status = nextStatus(c);
    const aborted = await pgError(c.query('SELECT 1'));
    expect(aborted.code).toBe('25P02');
    expect(aborted.message).toMatch(/current transaction is aborted/);
    expect(await status).toBe('E');
    status = nextStatus(c);
    await c.query('ROLLBACK');
    expect(await status).toBe('I');
    expect((await other.query("SELECT count(*)::int AS n FROM events WHERE label = 'tx-denied'")).rows[0].n).toBe(0);
    expect((await c.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
  });

  it('(c) on a raw socket: ReadyForQuery says E after a denied statement inside BEGIN, as the server does', async () => {
    const app = newApp('deny-tx-raw');
    const raw = await RawConnection.connect(proxy.connection.host, proxy.connection.port);
    try {
      const started = await raw.startup({ user: proxy.connection.user, password: proxy.connection.password, database: db.name, application_name: app });
      expect(started.status).toBe('I');
      expect((await raw.query('BEGIN')).status).toBe('T');
      const pid = Number((await raw.query('SELECT pg_backend_pid()')).rows[0]![0]);
      const denied = await raw.query("INSERT INTO events (label) VALUES ('raw-tx'); SELECT 1 AS deny_me");
      expect(denied.error).toMatchObject({ C: DENY_CODE, M: 'denied by test policy', S: 'ERROR' });
      expect(denied.commandTags).toEqual(['INSERT 0 1']);
      expect(denied.status).toBe('E');
      const other = await direct();
      const act = await other.query('SELECT state FROM pg_stat_activity WHERE pid = $1', [pid]);
      expect(act.rows).toEqual([{ state: 'idle in transaction (aborted)' }]);
      const next = await raw.query('SELECT 1');
      expect(next.error).toMatchObject({ C: '25P02' });
      expect(next.status).toBe('E');
      const rolledBack = await raw.query('ROLLBACK');
      expect(rolledBack.commandTags).toEqual(['ROLLBACK']);
      expect(rolledBack.status).toBe('I');
      expect((await other.query("SELECT count(*)::int AS n FROM events WHERE label = 'raw-tx'")).rows[0].n).toBe(0);
      expect((await raw.query('SELECT 1')).rows).toEqual([['1']]);
    } finally {
      await raw.terminate();
    }
  });

  it('(d) refuses extended-protocol executions (pg with values, postgres.js) with the SQLSTATE; connection usable', async () => {
    const app = newApp('deny-extended');
    const c = await connect(app);
    const status = nextStatus(c);
    const err = await pgError(c.query('SELECT $1::int AS deny_me', [1]));
    expect(err.code).toBe(DENY_CODE);
    expect(err.message).toBe('denied by test policy');
    expect(await status).toBe('I');
    expect((await c.query('SELECT $1::int AS n', [7])).rows).toEqual([{ n: 7 }]);
    const named = await pgError(c.query({ name: 'denied_named', text: 'SELECT $1::int AS deny_me', values: [2] }));
    expect(named.code).toBe(DENY_CODE);
    expect((await c.query('SELECT $1::int AS n', [8])).rows).toEqual([{ n: 8 }]);
    expect(resultsOf(app).map((r) => [r.query.protocol, r.sqlstate, r.denied])).toEqual([
      ['extended', DENY_CODE, true],
      ['extended', undefined, false],
      ['extended', DENY_CODE, true],
      ['extended', undefined, false],
    ]);

    const jsApp = newApp('deny-extended-js');
    const sql = connectJs(jsApp);
    await expect(sql`SELECT ${1}::int AS deny_me`).rejects.toMatchObject({ code: DENY_CODE, message: 'denied by test policy' });
    await expect(sql`SELECT 1 AS deny_me`).rejects.toMatchObject({ code: DENY_CODE });
    expect(await sql`SELECT ${5}::int AS n`).toEqual([{ n: 5 }]);
  });

  it('(e) refuses only the denied statement of a postgres.js pipeline', async () => {
    const app = newApp('deny-pipeline');
    const sql = connectJs(app);
    const settled = await Promise.allSettled([
      sql`SELECT 1 AS a`,
      sql`INSERT INTO events (label) VALUES ('pipe-ok') RETURNING label`,
      sql`SELECT 2 AS deny_me`,
      sql`SELECT 3 AS c`,
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((settled[0] as PromiseFulfilledResult<unknown>).value).toEqual([{ a: 1 }]);
    expect((settled[1] as PromiseFulfilledResult<unknown>).value).toEqual([{ label: 'pipe-ok' }]);
    expect((settled[2] as PromiseRejectedResult).reason).toMatchObject({ code: DENY_CODE, message: 'denied by test policy' });
    expect((settled[3] as PromiseFulfilledResult<unknown>).value).toEqual([{ c: 3 }]);
    expect(resultsOf(app).map((r) => [r.commandTag, r.denied])).toEqual([
      ['SELECT 1', false],
      ['INSERT 0 1', false],
      ['', true],
      ['SELECT 1', false],
    ]);
  });

  it('(f) an extended-protocol deny inside a transaction aborts it (25P02 afterwards)', async () => {
    const app = newApp('deny-extended-tx');
    const c = await connect(app);
    await c.query('BEGIN');
    await c.query('INSERT INTO events (label) VALUES ($1)', ['ext-tx']);
    let status = nextStatus(c);
    expect((await pgError(c.query('SELECT $1::int AS deny_me', [1]))).code).toBe(DENY_CODE);
    expect(await status).toBe('E');
    const aborted = await pgError(c.query('SELECT $1::int AS n', [1]));
    expect(aborted.code).toBe('25P02');
    // A statement denied again in the aborted transaction: the server's 25P02 comes first.
    expect((await pgError(c.query('SELECT $1::int AS deny_me', [1]))).code).toBe('25P02');
    // pg rejects a failed query at its ErrorResponse, before that query's ReadyForQuery; a successful
    // ROLLBACK resolves at its own, so every earlier status has arrived before the next is awaited.
    await c.query('ROLLBACK');
    status = nextStatus(c);
    await c.query('SELECT 1');
    expect(await status).toBe('I');
    const check = await direct();
    expect((await check.query("SELECT count(*)::int AS n FROM events WHERE label = 'ext-tx'")).rows[0].n).toBe(0);
  });
});

describe('notice, rewrite, intercept', () => {
  it('notice: the client receives a WARNING and the statement still runs (simple and extended)', async () => {
    const app = newApp('notice');
    const c = await connect(app);
    const notices: { message?: string; severity?: string; code?: string }[] = [];
    c.on('notice', (n) => notices.push(n));
    expect((await c.query('SELECT 7 AS warn_me')).rows).toEqual([{ warn_me: 7 }]);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({ message: 'careful: warn_me', severity: 'WARNING', code: '01000' });
    expect((await c.query('SELECT $1::int AS warn_me', [8])).rows).toEqual([{ warn_me: 8 }]);
    expect(notices).toHaveLength(2);
    await c.query("INSERT INTO events (label) VALUES ('warn_me')");
    expect(notices).toHaveLength(3);
    const check = await direct();
    expect((await check.query("SELECT count(*)::int AS n FROM events WHERE label = 'warn_me'")).rows[0].n).toBe(1);
  });

  it('notice: a notice for a pipelined statement never lands inside the previous statement\'s rows', async () => {
    const app = newApp('notice-midstream');
    const raw = await RawConnection.connect(proxy.connection.host, proxy.connection.port);
    try {
      await raw.startup({ user: proxy.connection.user, password: proxy.connection.password, database: db.name, application_name: app });
      // One DataRow far larger than the socket buffers between proxy and client: while the client
      // does not read, the proxy holds the rest of it and has forwarded only part.
      const size = 64 * 1024 * 1024;
      raw.sendQuery(`SELECT repeat('x', ${size}) AS big`);
      await raw.waitBuffered(256 * 1024);
      raw.socket.pause();
      raw.sendQuery('SELECT 1 AS warn_me');
      // The proxy has decided on the second statement (and sent its notice) once the recorder saw it.
      await vi.waitFor(() => expect(queriesOf(app)).toHaveLength(2));
      raw.socket.resume();
      const types: string[] = [];
      let big: Buffer | null = null;
      for (let readyForQuery = 0; readyForQuery < 2; ) {
        // A frame boundary out of step shows up as a type byte that is not a message type ('x' from the row).
        const m = await raw.readMessage('TDCZN').catch((err: Error) => {
          throw new Error(`stream out of frame after ${types.join('')}: ${err.message}`);
        });
        types.push(m.type);
        if (m.type === 'D' && big === null) big = m.body;
        if (m.type === 'Z') readyForQuery++;
      }
      expect(types.filter((t) => t !== 'N')).toEqual(['T', 'D', 'C', 'Z', 'T', 'D', 'C', 'Z']);
      expect(types.filter((t) => t === 'N')).toHaveLength(1);
      expect(types.indexOf('N')).toBeLessThan(types.lastIndexOf('T'));
      expect(big!.length).toBe(2 + 4 + size);
      expect(big!.subarray(6).equals(Buffer.alloc(size, 'x'))).toBe(true);
    } finally {
      raw.destroy();
    }
  });

  it('rewrite: the server runs the rewritten text (simple, pg extended, postgres.js)', async () => {
    const app = newApp('rewrite');
    const c = await connect(app);
    expect((await c.query("SELECT 'secret' AS v")).rows).toEqual([{ v: 'masked' }]);
    expect(rowsOfEach(await c.query("SELECT 1 AS n; SELECT 'secret' AS v; SELECT 3 AS m"))).toEqual([
      [{ n: 1 }],
      [{ v: 'masked' }],
      [{ m: 3 }],
    ]);
    expect((await c.query("SELECT 'secret' AS v, $1::int AS n", [5])).rows).toEqual([{ v: 'masked', n: 5 }]);
    expect((await c.query({ name: 'rw_named', text: "SELECT 'secret' AS v, $1::int AS n", values: [6] })).rows).toEqual([{ v: 'masked', n: 6 }]);
    expect((await c.query({ name: 'rw_named', text: "SELECT 'secret' AS v, $1::int AS n", values: [7] })).rows).toEqual([{ v: 'masked', n: 7 }]);
    const sql = connectJs(newApp('rewrite-js'));
    expect(await sql`SELECT 'secret' AS v`).toEqual([{ v: 'masked' }]);
    expect(await sql`SELECT 'secret' AS v, ${9}::int AS n`).toEqual([{ v: 'masked', n: 9 }]);
    // The hooks see the text the client sent.
    expect(queriesOf(app)[0]!.text).toBe("SELECT 'secret' AS v");
  });

  // The unnamed prepared statement lives until the next Parse of "" (or a simple Query): clients may bind it again.
  async function withUnnamedStatement(app: string, run: (raw: RawConnection) => Promise<void>): Promise<void> {
    const raw = await RawConnection.connect(proxy.connection.host, proxy.connection.port);
    try {
      await raw.startup({ user: proxy.connection.user, password: proxy.connection.password, database: db.name, application_name: app });
      raw.sendParse('', 'SELECT $1::text AS unnamed_echo');
      raw.sendBind('', '', ['first']);
      raw.sendExecute('');
      raw.sendSync();
      expect((await raw.readUntilReady()).rows).toEqual([['first']]);
      await run(raw);
      raw.sendBind('', '', ['again']);
      raw.sendExecute('');
      raw.sendSync();
      const again = await raw.readUntilReady();
      expect(again.error).toBeUndefined();
      expect(again.rows).toEqual([['again']]);
    } finally {
      await raw.terminate();
    }
  }

  it('rewrite of a named statement leaves the client\'s unnamed prepared statement alone', async () => {
    await withUnnamedStatement(newApp('rewrite-unnamed'), async (raw) => {
      raw.sendParse('rw_keep', "SELECT 'secret' AS v");
      raw.sendBind('', 'rw_keep');
      raw.sendExecute('');
      raw.sendSync();
      expect((await raw.readUntilReady()).rows).toEqual([['masked']]);
    });
  });

  it('deny of a named statement leaves the client\'s unnamed prepared statement alone', async () => {
    await withUnnamedStatement(newApp('deny-unnamed'), async (raw) => {
      raw.sendParse('deny_keep', 'SELECT 1 AS deny_me');
      raw.sendBind('', 'deny_keep');
      raw.sendExecute('');
      raw.sendSync();
      expect((await raw.readUntilReady()).error).toMatchObject({ C: DENY_CODE });
    });
  });

  it('intercept: a plugin answers SHOW myapp.thing itself (pg simple)', async () => {
    const app = newApp('intercept');
    const c = await connect(app);
    const res = await c.query('SHOW myapp.thing');
    expect(res.fields.map((f) => f.name)).toEqual(['name', 'value']);
    expect(res.rows).toEqual([
      { name: 'thing', value: '42' },
      { name: 'other', value: null },
    ]);
    expect((await c.query('SELECT 1 AS after')).rows).toEqual([{ after: 1 }]);
  });

  // The server parses (and describes) SHOW myapp.thing at Parse, before the Bind on which the proxy decides.
  it('intercept: a plugin answers SHOW myapp.thing itself (pg, extended protocol)', async () => {
    const c = await connect(newApp('intercept-ext'));
    const res = await c.query({ text: 'SHOW myapp.thing', queryMode: 'extended' } as pg.QueryConfig);
    expect(res.fields.map((f) => f.name)).toEqual(['name', 'value']);
    expect(res.rows).toEqual([
      { name: 'thing', value: '42' },
      { name: 'other', value: null },
    ]);
  });

  it('intercept: a plugin answers SHOW myapp.thing itself (postgres.js)', async () => {
    const sql = connectJs(newApp('intercept-js'));
    const rows = await sql`SHOW myapp.thing`;
    expect([...rows]).toEqual([
      { name: 'thing', value: '42' },
      { name: 'other', value: null },
    ]);
  });

  // postgres.js describes its named statement (Describe 'S') before the Bind the proxy decides on.
  it('intercept: postgres.js gets the intercepted columns for a statement the server can prepare', async () => {
    const sql = connectJs(newApp('intercept-js-select'));
    const rows = await sql`SELECT 1 AS intercept_me`;
    expect([...rows]).toEqual([
      { name: 'thing', value: '42' },
      { name: 'other', value: null },
    ]);
  });
});

describe('admin console', () => {
  it('SHOW helios.clients lists this connection with its user, database and application_name', async () => {
    const app = newApp('admin-clients');
    const c = await connect(app);
    const res = await c.query('SHOW helios.clients');
    const row = res.rows.find((r) => r.application_name === app);
    expect(row).toMatchObject({
      user: proxy.connection.user,
      database: db.name,
      application_name: app,
      client_addr: `127.0.0.1:${localPort(c)}`,
      tls: 'false',
      transaction_status: 'I',
    });
    expect(res.rows.filter((r) => r.application_name === app)).toHaveLength(1);
  });

  it('SHOW helios.servers lists the backend pid the server reports', async () => {
    const app = newApp('admin-servers');
    const c = await connect(app);
    const pid = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
    const id = (await c.query('SHOW helios.clients')).rows.find((r) => r.application_name === app)!.id;
    const servers = (await c.query('SHOW helios.servers')).rows;
    const mine = servers.filter((s) => s.session_id === id);
    expect(mine).toHaveLength(1);
    expect(Number(mine[0].backend_pid)).toBe(pid);
    expect(mine[0].tls).toBe('false');
  });

  it('SHOW helios.stats counters move', async () => {
    const c = await connect(newApp('admin-stats'));
    const before = (await c.query('SHOW helios.stats')).rows[0];
    await c.query('SELECT 1');
    await c.query('SELECT $1::int', [2]);
    await pgError(c.query('SELECT 3 AS deny_me'));
    const after = (await c.query('SHOW helios.stats')).rows[0];
    expect(Number(after.queries) - Number(before.queries)).toBeGreaterThanOrEqual(4);
    expect(Number(after.denied) - Number(before.denied)).toBeGreaterThanOrEqual(1);
    expect(Number(after.bytes_from_clients)).toBeGreaterThan(Number(before.bytes_from_clients));
    expect(Number(after.clients_active)).toBeGreaterThanOrEqual(1);
  });

  it('SHOW helios.stats answers postgres.js (extended protocol) too', async () => {
    const sql = connectJs(newApp('admin-js'));
    const [row] = await sql`SHOW helios.stats`;
    expect(Number(row!.clients_active)).toBeGreaterThanOrEqual(1);
  });

  it('an unknown SHOW helios.nope is refused with 42704', async () => {
    const c = await connect(newApp('admin-nope'));
    const err = await pgError(c.query('SHOW helios.nope'));
    expect(err.code).toBe('42704');
    expect(err.message).toMatch(/helios\.nope/);
    expect((await c.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
  });
});

describe('plugin failures and asynchronous decisions', () => {
  it('a plugin whose onQuery throws refuses the statement with XX000; other sessions are unaffected', async () => {
    const c = await connect(newApp('throw'));
    const bystander = await connect(newApp('throw-bystander'));
    const err = await pgError(c.query('SELECT 1 AS boom_plugin'));
    expect(err.code).toBe('XX000');
    expect(err.message).toMatch(/policy exploded/);
    expect((await pgError(c.query('SELECT $1::int AS boom_plugin', [1]))).code).toBe('XX000');
    expect((await bystander.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    expect((await c.query('SELECT 2 AS ok')).rows).toEqual([{ ok: 2 }]);
  });

  it('an async decision works for simple queries', async () => {
    const app = newApp('async-simple');
    const c = await connect(app);
    expect((await c.query('SELECT 1 AS async_ok')).rows).toEqual([{ async_ok: 1 }]);
    const err = await pgError(c.query('SELECT 2 AS async_deny'));
    expect(err.code).toBe(ASYNC_DENY_CODE);
    expect(err.message).toBe('denied asynchronously');
    expect(rowsOfEach(await c.query('SELECT 1 AS async_ok; SELECT 2 AS plain'))).toEqual([
      [{ async_ok: 1 }],
      [{ plain: 2 }],
    ]);
    expect((await pgError(c.query('SELECT 1 AS async_ok; SELECT 2 AS async_deny; SELECT 3'))).code).toBe(ASYNC_DENY_CODE);
    expect((await c.query('SELECT 3 AS ok')).rows).toEqual([{ ok: 3 }]);
    expect(resultsOf(app).filter((r) => r.denied).map((r) => r.sqlstate)).toEqual([ASYNC_DENY_CODE, ASYNC_DENY_CODE]);
  });

  it('an async decision works for extended queries', async () => {
    const c = await connect(newApp('async-extended'));
    expect((await c.query('SELECT $1::int AS async_ok', [1])).rows).toEqual([{ async_ok: 1 }]);
    expect((await pgError(c.query('SELECT $1::int AS async_deny', [2]))).code).toBe(ASYNC_DENY_CODE);
    expect((await c.query('SELECT $1::int AS n', [3])).rows).toEqual([{ n: 3 }]);
  });

  it('an async decision works for pipelined queries', async () => {
    const app = newApp('async-pipeline');
    const sql = connectJs(app);
    const settled = await Promise.allSettled([
      sql`SELECT 1 AS async_ok`,
      sql`SELECT 2 AS plain`,
      sql`SELECT 3 AS async_deny`,
      sql`SELECT ${4}::int AS async_ok`,
      sql`SELECT 5 AS plain`,
    ]);
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value[0] : (s.reason as { code: string }).code))).toEqual([
      { async_ok: 1 },
      { plain: 2 },
      ASYNC_DENY_CODE,
      { async_ok: 4 },
      { plain: 5 },
    ]);
    expect(resultsOf(app).map((r) => [r.query.text, r.denied])).toEqual([
      ['SELECT 1 AS async_ok', false],
      ['SELECT 2 AS plain', false],
      ['SELECT 3 AS async_deny', true],
      ['SELECT $1::int AS async_ok', false],
      ['SELECT 5 AS plain', false],
    ]);
  });
});

describe('decision combination across plugins', () => {
  const seen: string[] = [];
  const rewriter: Plugin = {
    name: 'rewriter',
    onQuery: (q) => (/'combo_secret'/.test(q.text) ? Decisions.rewrite("SELECT 'combo_masked' AS v") : undefined),
  };
  const observer: Plugin = { name: 'observer', onQuery: (q) => void seen.push(q.text) };
  const interceptor: Plugin = {
    name: 'interceptor',
    onQuery: (q) => (/\bcombo_intercept\b/.test(q.text) ? Decisions.intercept({ columns: ['v'], rows: [['intercepted']] }) : undefined),
  };
  const lateRewriter: Plugin = {
    name: 'late-rewriter',
    onQuery: (q) => (/\bcombo_intercept\b/.test(q.text) ? Decisions.rewrite("SELECT 'rewritten' AS v") : undefined),
  };
  let p: TestProxy;
  beforeAll(async () => {
    p = await startTestProxy({ plugins: 'none', extraPlugins: [rewriter, observer, interceptor, lateRewriter] });
  });
  afterAll(async () => {
    await p?.close();
  });

  it('a rewrite replaces the text later plugins see (contract: "a rewrite replaces the text seen by later plugins")', async () => {
    const c = await connect(newApp('combo-rewrite'), p);
    expect((await c.query("SELECT 'combo_secret' AS v")).rows).toEqual([{ v: 'combo_masked' }]);
    expect(seen.at(-1)).toBe("SELECT 'combo_masked' AS v");
  });

  it('the first intercept wins over a later plugin\'s rewrite (contract: "the first deny or intercept wins")', async () => {
    const c = await connect(newApp('combo-intercept'), p);
    expect((await c.query('SELECT 1 AS combo_intercept')).rows).toEqual([{ v: 'intercepted' }]);
  });
});

describe('--plugins none', () => {
  it('passes queries through and does not intercept SHOW helios.*', async () => {
    const p = await startTestProxy({ plugins: 'none' });
    try {
      const c = await connect(newApp('none'), p);
      expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      expect((await c.query('SELECT $1::text AS echo', ['x'])).rows).toEqual([{ echo: 'x' }]);
      expect((await c.query("SELECT 'secret' AS v")).rows).toEqual([{ v: 'secret' }]);
      expect((await c.query('SELECT 1 AS deny_me')).rows).toEqual([{ deny_me: 1 }]);
      const err = await pgError(c.query('SHOW helios.clients'));
      expect(err.code).toBe('42704');
      expect(err.message).toMatch(/unrecognized configuration parameter "helios\.clients"/);
      expect((await c.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
      await c.end();
    } finally {
      await p.close();
    }
  });
});
