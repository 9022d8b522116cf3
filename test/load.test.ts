// Load through the proxy: many concurrent clients, one value far larger than any buffer the
// proxy should hold, and a large result set.
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useFreshDatabase } from './harness/db.ts';
import { testPg } from './harness/pg.ts';
import { startTestProxy, type TestProxy } from './support/proxy.ts';
import { spawnProxyProcess, type ProxyProcess } from './support/spawn-proxy-process.ts';
import { waitUntil } from './support/wire-capture.ts';

const MODES = ['all', 'none'] as const;
const CLIENTS = 200;
const VALUE_BYTES = 100 * 1024 * 1024;
const ROWS = 200_000;

const fx = useFreshDatabase('load');

async function serverBackends(): Promise<number> {
  const { rows } = await fx.client.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [fx.db.name]);
  return rows[0]!.n;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.each(MODES)('load with plugins %s', (plugins) => {
  describe('200 concurrent clients', () => {
    let proxy: TestProxy;
    const table = `load_clients_${plugins}`;

    beforeAll(async () => {
      proxy = await startTestProxy({ plugins });
      await fx.client.query(`CREATE TABLE ${table} (client int PRIMARY KEY, v int NOT NULL, note text NOT NULL)`);
    });

    afterAll(async () => {
      await proxy?.close();
    });

    it('all connect at once, each runs queries and a transaction, all results correct, all closed after', async () => {
      const config = { ...proxy.connection, database: fx.db.name };
      const clients = Array.from({ length: CLIENTS }, () => new pg.Client(config));
      try {
        // All 200 open at the same time, not one after another.
        await Promise.all(clients.map((c) => c.connect()));
        expect(proxy.view.stats().clientsActive).toBe(CLIENTS);
        expect(proxy.view.servers()).toHaveLength(CLIENTS);
        expect(new Set(proxy.view.servers().map((s) => s.backendPid)).size).toBe(CLIENTS);

        const results = await Promise.all(clients.map(async (c, i) => {
          // Extended protocol with parameters.
          const a = await c.query<{ twice: number; who: string }>('SELECT $1::int * 2 AS twice, $2::text AS who', [i, `client-${i}`]);
          // Simple protocol, two statements in one Query.
          const b = await c.query('SELECT 1 AS one; SELECT current_database() AS db') as unknown as pg.QueryResult[];
          // A transaction: insert, update, read own write, commit.
          await c.query('BEGIN');
          await c.query(`INSERT INTO ${table} (client, v, note) VALUES ($1, $2, $3)`, [i, i, 'inserted']);
          const u = await c.query(`UPDATE ${table} SET v = v + 1000, note = 'updated' WHERE client = $1`, [i]);
          const own = await c.query<{ v: number; note: string }>(`SELECT v, note FROM ${table} WHERE client = $1`, [i]);
          await c.query('COMMIT');
          // A transaction rolled back: its write must vanish.
          await c.query('BEGIN');
          await c.query(`UPDATE ${table} SET v = -1 WHERE client = $1`, [i]);
          await c.query('ROLLBACK');
          const after = await c.query<{ v: number }>(`SELECT v FROM ${table} WHERE client = $1`, [i]);
          return { i, a: a.rows[0], b: b.map((r) => r.rows[0]), updated: u.rowCount, own: own.rows[0], after: after.rows[0] };
        }));
        for (const r of results) {
          expect(r.a).toEqual({ twice: r.i * 2, who: `client-${r.i}` });
          expect(r.b).toEqual([{ one: 1 }, { db: fx.db.name }]);
          expect(r.updated).toBe(1);
          expect(r.own).toEqual({ v: r.i + 1000, note: 'updated' });
          expect(r.after).toEqual({ v: r.i + 1000 });
        }
        const { rows } = await fx.client.query<{ n: number; total: string }>(`SELECT count(*)::int AS n, sum(v)::text AS total FROM ${table}`);
        expect(rows[0]!.n).toBe(CLIENTS);
        expect(rows[0]!.total).toBe(String((CLIENTS * (CLIENTS - 1)) / 2 + CLIENTS * 1000));

        if (plugins === 'all') {
          const stats = await clients[0]!.query<Record<string, string>>('SHOW helios.stats');
          expect(stats.rows).toHaveLength(1);
          expect(Number(stats.rows[0]!.clients_accepted)).toBeGreaterThanOrEqual(CLIENTS);
          expect(Number(stats.rows[0]!.clients_active)).toBe(CLIENTS);
          expect(Number(stats.rows[0]!.protocol_errors)).toBe(0);
          expect(Number(stats.rows[0]!.upstream_connect_errors)).toBe(0);
        }
        expect(proxy.view.stats().clientsAccepted).toBeGreaterThanOrEqual(CLIENTS);
        expect(proxy.view.stats().protocolErrors).toBe(0);
      } finally {
        await Promise.all(clients.map((c) => c.end().catch(() => {})));
      }
      await waitUntil(() => proxy.view.stats().clientsActive === 0, 'clients_active back to 0');
      expect(proxy.view.stats().serversActive).toBe(0);
      expect(proxy.view.servers()).toHaveLength(0);
      await waitUntil(async () => (await serverBackends()) === 0, 'server backends of the 200 sessions to exit');

      if (plugins === 'all') {
        const c = new pg.Client(config);
        await c.connect();
        try {
          const { rows } = await c.query<Record<string, string>>('SHOW helios.stats');
          expect(Number(rows[0]!.clients_accepted)).toBeGreaterThanOrEqual(CLIENTS + 1);
          expect(Number(rows[0]!.clients_active)).toBe(1);
          expect(Number(rows[0]!.servers_active)).toBe(1);
        } finally {
          await c.end();
        }
      }
    }, 120_000);
  });

  describe('a 100 MB bytea through a proxy process', () => {
    let proc: ProxyProcess;
    const table = `load_blob_${plugins}`;

    beforeAll(async () => {
      proc = await spawnProxyProcess({
        upstreamHost: testPg.host,
        upstreamPort: testPg.port,
        plugins,
        // With plugins, the statement analyzer (libpg-query, WebAssembly) gets hot after a few
        // statements and V8 then compiles it with TurboFan on a background thread: a one-time
        // ~90-100 MB rise of peak RSS, measured, that lands at an unpredictable moment (often
        // during this very transfer). It has nothing to do with the data path, so keep WebAssembly
        // on the baseline compiler here; the bytes the proxy forwards are handled the same.
        nodeArgs: ['--liftoff-only'],
      });
      await fx.client.query(`CREATE TABLE ${table} (id int PRIMARY KEY, data bytea NOT NULL)`);
      // Stored as is: random bytes do not compress, and no TOAST compression work to wait for.
      await fx.client.query(`ALTER TABLE ${table} ALTER COLUMN data SET STORAGE EXTERNAL`);
    });

    afterAll(async () => {
      const code = await proc?.stop();
      expect(code).toBe(0);
    });

    it('round-trips intact and the proxy never holds it whole', async () => {
      const c = new pg.Client({ host: '127.0.0.1', port: proc.port, user: testPg.user, password: testPg.password, database: fx.db.name });
      await c.connect();
      try {
        // Warm up the paths the big transfer takes (extended protocol, bytea both ways), then take the baseline.
        const small = randomBytes(64 * 1024);
        await c.query(`INSERT INTO ${table} (id, data) VALUES (0, $1)`, [small]);
        const warm = await c.query<{ data: Buffer }>(`SELECT data FROM ${table} WHERE id = 0`);
        expect(sha256(warm.rows[0]!.data)).toBe(sha256(small));
        const baseline = await proc.memory();

        const value = randomBytes(VALUE_BYTES);
        const expected = sha256(value);
        // node-postgres sends a Buffer parameter in binary: a ~100 MB Bind, far above maxDecodedBindBytes.
        const ins = await c.query(`INSERT INTO ${table} (id, data) VALUES (1, $1)`, [value]);
        expect(ins.rowCount).toBe(1);

        const server = await c.query<{ n: number; h: string }>(
          `SELECT length(data) AS n, encode(sha256(data), 'hex') AS h FROM ${table} WHERE id = 1`);
        expect(server.rows[0]).toEqual({ n: VALUE_BYTES, h: expected });

        // Back in text (hex): a ~200 MB DataRow through the proxy.
        const back = await c.query<{ data: Buffer }>(`SELECT data FROM ${table} WHERE id = 1`);
        expect(back.rows).toHaveLength(1);
        expect(back.rows[0]!.data.length).toBe(VALUE_BYTES);
        expect(sha256(back.rows[0]!.data)).toBe(expected);

        const after = await proc.memory();
        const growth = after.peak - baseline.peak;
        console.log(`[load] plugins=${plugins} proxy process VmHWM baseline ${(baseline.peak / 2 ** 20).toFixed(1)} MiB, ` +
          `after ${(after.peak / 2 ** 20).toFixed(1)} MiB, growth ${(growth / 2 ** 20).toFixed(1)} MiB`);
        expect(growth).toBeLessThan(VALUE_BYTES);
        expect(proc.stderr()).not.toMatch(/error/i);
      } finally {
        await c.end();
      }
    }, 180_000);
  });

  describe('a large result set', () => {
    let proxy: TestProxy;
    const sqlText = `SELECT repeat('x', 1000) AS r FROM generate_series(1, ${ROWS})`;

    beforeAll(async () => {
      proxy = await startTestProxy({ plugins });
    });

    afterAll(async () => {
      await proxy?.close();
    });

    it(`node-postgres reads all ${ROWS} rows`, async () => {
      const c = new pg.Client({ ...proxy.connection, database: fx.db.name });
      await c.connect();
      try {
        const res = await c.query<string[]>({ text: sqlText, rowMode: 'array' });
        expect(res.rowCount).toBe(ROWS);
        expect(res.rows).toHaveLength(ROWS);
        let bad = 0;
        for (const row of res.rows) if (row.length !== 1 || row[0]!.length !== 1000 || row[0]![999] !== 'x') bad++;
        expect(bad).toBe(0);
        // The session is healthy after it.
        expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      } finally {
        await c.end();
      }
    }, 120_000);

    it('delivers every row intact to a client that stops reading for a while', async () => {
      // The proxy reads the server into one reused buffer. A client that stops reading leaves
      // writes pending on its socket, and those must never see the buffer overwritten.
      const n = 60_000;
      const c = new pg.Client({ ...proxy.connection, database: fx.db.name });
      await c.connect();
      try {
        const socket = (c as unknown as { connection: { stream: import('node:net').Socket } }).connection.stream;
        const result = c.query<[number, string]>({
          text: `SELECT i, md5(i::text) || repeat(chr(65 + i % 26), 200) FROM generate_series(1, ${n}) i`,
          rowMode: 'array',
        });
        socket.pause();
        await new Promise((r) => setTimeout(r, 500));
        socket.resume();
        const { rows } = await result;
        expect(rows).toHaveLength(n);
        let bad = 0;
        for (const [i, v] of rows) {
          const want = createHash('md5').update(String(i)).digest('hex') + String.fromCharCode(65 + (i % 26)).repeat(200);
          if (v !== want) bad++;
        }
        expect(bad).toBe(0);
      } finally {
        await c.end();
      }
    }, 120_000);

    it(`postgres.js reads all ${ROWS} rows, plain and through a cursor`, async () => {
      const sql = postgres({ ...proxy.connection, database: fx.db.name, max: 1, onnotice: () => {} });
      try {
        const plain = await sql.unsafe<{ r: string }[]>(sqlText);
        expect(plain.count).toBe(ROWS);
        expect(plain).toHaveLength(ROWS);
        expect(plain.every((row) => row.r.length === 1000)).toBe(true);

        let seen = 0;
        let batches = 0;
        let bad = 0;
        for await (const rows of sql.unsafe<{ r: string }[]>(sqlText).cursor(5000)) {
          batches++;
          seen += rows.length;
          for (const row of rows) if (row.r.length !== 1000) bad++;
        }
        expect(seen).toBe(ROWS);
        expect(batches).toBe(ROWS / 5000);
        expect(bad).toBe(0);
      } finally {
        await sql.end({ timeout: 5 });
      }
    }, 120_000);
  });
});
