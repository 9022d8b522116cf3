// End to end with the real PostgreSQL client programs: `helios proxy` started through the CLI
// (bin/helios.js) as a child process, then psql and pgbench run through it as users would,
// with all plugins and with none. psql and pgbench must be installed (CI: apt postgresql-client).
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type FreshDatabase } from './harness/db.ts';
import { pgConfig, testPg } from './harness/pg.ts';
import {
  describeRun,
  parseCsvTable,
  requireTool,
  runTool,
  scratchDir,
  startHelios,
  startTool,
  stopAllChildren,
  until,
  type HeliosCli,
  type ToolResult,
} from './support/e2e-tools.ts';

interface Variant {
  plugins: 'all' | 'none';
  /** true: the upstream URL as the README shows it (default sslmode=prefer, so TLS to a server that offers it); false: sslmode=disable. */
  upstreamTls: boolean;
}
const VARIANTS: Variant[] = [
  // Only where the test server offers TLS (always, unless HELIOS_TEST_PG_URL points at one without it).
  ...(testPg.serverTls ? [{ plugins: 'all', upstreamTls: true }, { plugins: 'none', upstreamTls: true }] as const : []),
  { plugins: 'all', upstreamTls: false },
  { plugins: 'none', upstreamTls: false },
];

/** Runs as the database superuser, directly (not through the proxy). */
async function asSuperuser<T>(database: string | undefined, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client(pgConfig(database ? { database } : {}));
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

// CSV the way PostgreSQL writes it: quoted only when it holds a delimiter, quote or line break,
// or is an empty string (so that it differs from NULL, which is an empty unquoted field).
function csvField(v: string | null): string {
  if (v === null) return '';
  return v === '' || /[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

/** Rows 3..n for `\copy items FROM pstdin (FORMAT csv)`: commas, quotes, newlines, UTF-8, NULL vs ''. */
function generatedRows(n: number): [number, string, string | null][] {
  const rows: [number, string, string | null][] = [];
  for (let i = 3; i <= n; i++) {
    let name = `name ${i}`;
    if (i % 5 === 0) name = `comma, ${i}`;
    else if (i % 7 === 0) name = `quote "${i}" here`;
    else if (i % 11 === 0) name = `line\nbreak ${i}`;
    else if (i % 13 === 0) name = `ünïcødé ✓ ${i}`;
    const note = i % 3 === 0 ? null : i % 17 === 0 ? '' : `tab\there ${i}`;
    rows.push([i, name, note]);
  }
  return rows;
}
const toCsv = (rows: [number, string, string | null][]) => rows.map(([i, n, note]) => `${i},${csvField(n)},${csvField(note)}\n`).join('');

const pgbenchLine = (out: string, re: RegExp) => re.exec(out)?.slice(1);

describe.each(VARIANTS)('psql and pgbench through `helios proxy --plugins $plugins`, upstream TLS: $upstreamTls (CLI child process)', ({ plugins, upstreamTls }) => {
  let db: FreshDatabase;
  let proxy: HeliosCli;
  // A role made for this file, owning its database: the upstream URL carries its password, which must
  // never show in the proxy's output, and is distinctive enough that a leak cannot go unnoticed.
  const role = { user: `helios_e2e_tools_${randomBytes(4).toString('hex')}`, password: `e2e-secret-${randomBytes(12).toString('hex')}` };
  let roleCreated = false;

  const url = () => `postgresql://${role.user}@127.0.0.1:${proxy.port}/${db.name}`;
  const toolEnv = (extra: Record<string, string> = {}) => ({
    PGPASSWORD: role.password,
    PGCONNECT_TIMEOUT: '10',
    PGCLIENTENCODING: 'UTF8',
    LC_ALL: 'C',
    ...extra,
  });
  /** psql through the proxy: no psqlrc, ON_ERROR_STOP, unaligned tuples-only unless `args` override. */
  const psql = (args: string[], opts: { input?: string; env?: Record<string, string> } = {}) =>
    runTool('psql', [url(), '-X', '-v', 'ON_ERROR_STOP=1', ...args], { env: toolEnv(opts.env), input: opts.input });
  const pgbench = (args: string[]) =>
    runTool('pgbench', ['-h', '127.0.0.1', '-p', String(proxy.port), '-U', role.user, ...args, db.name], { env: toolEnv(), timeoutMs: 180_000 });
  const ok = (cmd: string, r: ToolResult) => expect(r.code, describeRun(cmd, r)).toBe(0);

  async function adminStats(): Promise<Record<string, string>> {
    const r = await psql(['--csv', '-c', 'SHOW helios.stats']);
    ok('psql SHOW helios.stats', r);
    const rows = parseCsvTable(r.stdout);
    expect(rows).toHaveLength(1);
    return rows[0]!;
  }

  async function metric(name: string): Promise<number> {
    const text = await (await fetch(`${proxy.httpUrl}/metrics`)).text();
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    if (!m) throw new Error(`${name} missing from /metrics`);
    return Number(m[1]);
  }

  beforeAll(async () => {
    // Fail, not skip, when the programs under test are missing.
    requireTool('psql');
    requireTool('pgbench');
    db = await freshDatabase(`e2e_tools_${plugins}_${upstreamTls ? 'tls' : 'plain'}`);
    await asSuperuser(undefined, async (c) => {
      await c.query(`CREATE ROLE ${role.user} LOGIN PASSWORD '${role.password}'`);
      roleCreated = true;
      await c.query(`ALTER DATABASE ${db.name} OWNER TO ${role.user}`);
    });
    const upstream = new URL(db.url);
    upstream.username = role.user;
    upstream.password = role.password;
    if (!upstreamTls) upstream.searchParams.set('sslmode', 'disable');
    proxy = await startHelios([
      'proxy', '--upstream', upstream.toString(), '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--plugins', plugins,
      // Long enough that a drain which waited for idle clients instead of closing them would outlast the test.
      '--drain-timeout', '600',
    ]);
    // Ready, and the control-schema migration (a connection of the proxy's own) done.
    const ready = await until('/readyz 200 with the control schema applied', async () => {
      const res = await fetch(`${proxy.httpUrl}/readyz`);
      const body = (await res.json()) as { checks?: Record<string, string> };
      return res.status === 200 && body.checks?.controlSchema !== 'pending' ? body : undefined;
    });
    expect(ready.checks).toEqual({ proxy: 'ok', upstream: 'ok', controlSchema: 'ok' });
  });

  afterAll(async () => {
    await stopAllChildren();
    await db?.drop();
    if (roleCreated) await asSuperuser(undefined, (c) => c.query(`DROP ROLE IF EXISTS ${role.user}`));
  });

  describe('psql', () => {
    it('the banner shows the bound port and no password', () => {
      expect(proxy.port).toBeGreaterThan(0);
      expect(proxy.connectUrl).toBe(`postgresql://${role.user}@127.0.0.1:${proxy.port}/${db.name}`);
      expect(proxy.banner.join('\n')).not.toContain(role.password);
      expect(proxy.banner.join('\n')).toContain(`upstream: postgresql://${role.user}:***@`);
    });

    it(`connects with libpq defaults, and the proxy's upstream hop is ${upstreamTls ? 'TLS' : 'plain'}`, async () => {
      const r = await psql(['-At', '-c', 'SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()']);
      ok('psql', r);
      expect(r.stdout).toBe(`${role.user}|${upstreamTls ? 't' : 'f'}\n`);
    });

    it('runs several statements in one -c string, and several -c in order', async () => {
      const r = await psql([
        '-At',
        '-c', "CREATE TABLE multi (id int PRIMARY KEY, v text); INSERT INTO multi VALUES (1, 'a'), (2, 'b'); SELECT count(*) FROM multi",
        '-c', "SELECT string_agg(v, '+' ORDER BY id) FROM multi",
        '-c', "SELECT current_user, current_database(), current_setting('application_name')",
      ]);
      ok('psql -c', r);
      expect(r.stderr).toBe('');
      // psql 15 prints each statement's result of a multi-statement -c string, command tags included.
      expect(r.stdout).toBe(`CREATE TABLE\nINSERT 0 2\n2\na+b\n${role.user}|${db.name}|psql\n`);
    });

    it('runs a -f script: a transaction with \\copy from the script and from stdin, then \\copy to STDOUT', async () => {
      const dir = scratchDir();
      const script = join(dir, 'load.sql');
      writeFileSync(
        script,
        [
          'BEGIN;',
          'CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, note text);',
          '\\copy items FROM STDIN',
          '1\talpha\t\\N',
          '2\tback\\\\slash\ttab\\there',
          '\\.',
          '\\copy items FROM PSTDIN WITH (FORMAT csv)',
          "SELECT count(*), count(note), count(*) FILTER (WHERE note = '') FROM items;",
          'COMMIT;',
          '\\copy (SELECT id, name, note FROM items ORDER BY id) TO STDOUT WITH (FORMAT csv)',
          '',
        ].join('\n'),
      );
      const rows = generatedRows(20_002);
      const r = await psql(['-At', '-f', script], { input: toCsv(rows) });
      ok('psql -f', r);
      expect(r.stderr).toBe('');
      const nulls = 1 + rows.filter((x) => x[2] === null).length;
      const empties = rows.filter((x) => x[2] === '').length;
      const all: [number, string, string | null][] = [[1, 'alpha', null], [2, 'back\\slash', 'tab\there'], ...rows];
      expect(r.stdout).toBe(
        `BEGIN\nCREATE TABLE\nCOPY 2\nCOPY ${rows.length}\n${all.length}|${all.length - nulls}|${empties}\nCOMMIT\n` + toCsv(all),
      );

      // Committed: a separate session, straight to the server, sees exactly those rows.
      const direct = await asSuperuser(db.name, (c) =>
        c.query<{ n: number; s: string; u: number }>("SELECT count(*)::int AS n, sum(id)::text AS s, count(*) FILTER (WHERE name LIKE 'ünïcødé ✓ %')::int AS u FROM items"),
      );
      expect(direct.rows[0]).toEqual({
        n: all.length,
        s: String((all.length * (all.length + 1)) / 2),
        u: rows.filter((x) => x[1].startsWith('ünïcødé ✓ ')).length,
      });

      // \copy TO STDOUT of a whole table, from -c.
      const t = await psql(['-At', '-c', '\\copy items TO STDOUT']);
      ok('psql \\copy items TO STDOUT', t);
      const lines = t.stdout.split('\n');
      expect(lines[0]).toBe('1\talpha\t\\N');
      expect(lines[1]).toBe('2\tback\\\\slash\ttab\\there');
      expect(t.stdout).toContain('11\tline\\nbreak 11\ttab\\there 11\n');
      expect(lines).toHaveLength(all.length + 1); // one line per row (newlines in values are escaped), then the final \n
      expect(lines.at(-2)).toBe(`${all.length}\tname ${all.length}\ttab\\there ${all.length}`);
    });

    it('stops a -f script at the first error (exit 3, server message on stderr) and its transaction is not committed', async () => {
      const script = join(scratchDir(), 'fail.sql');
      writeFileSync(script, "BEGIN;\nINSERT INTO items VALUES (-1, 'doomed', NULL);\nSELECT 1/0;\nCOMMIT;\nSELECT 'not reached';\n");
      const r = await psql(['-At', '-f', script]);
      expect(r.code, describeRun('psql -f fail.sql', r)).toBe(3);
      expect(r.stderr).toContain(`psql:${script}:3: ERROR:  division by zero`);
      expect(r.stdout).not.toContain('not reached');
      const check = await psql(['-At', '-c', 'SELECT count(*) FROM items WHERE id = -1']);
      ok('psql check', check);
      expect(check.stdout).toBe('0\n');
    });

    it('\\lo_import and \\lo_export round-trip a large object (libpq fast-path FunctionCalls)', async () => {
      const dir = scratchDir();
      const data = randomBytes(300_000);
      writeFileSync(join(dir, 'in.bin'), data);
      const r = await psql(['-At', '-c', `\\lo_import ${join(dir, 'in.bin')}`]);
      ok('psql \\lo_import', r);
      const oid = /^lo_import (\d+)$/m.exec(r.stdout)?.[1];
      expect(oid, r.stdout).toBeDefined();
      const out = join(dir, 'out.bin');
      const e = await psql(['-At', '-c', `\\lo_export ${oid} ${out}`, '-c', `\\lo_unlink ${oid}`]);
      ok('psql \\lo_export', e);
      expect(readFileSync(out).equals(data)).toBe(true);
    });

    it('an error exits non-zero with the server message on stderr; without ON_ERROR_STOP the session carries on', async () => {
      const r = await psql(['-At', '-c', 'SELECT * FROM no_such_table']);
      expect(r.code, describeRun('psql -c bad', r)).toBe(1);
      expect(r.stderr).toContain('ERROR:  relation "no_such_table" does not exist');
      expect(r.stdout).toBe('');

      // Same session: an error, then more statements (the proxy must resynchronize after the ErrorResponse).
      const s = await runTool('psql', [url(), '-X', '-At', '-v', 'ON_ERROR_STOP=0', '-f', '-'], {
        env: toolEnv(),
        input: "SELECT 1/0;\nSELECT 'still here', pg_backend_pid() = pg_backend_pid();\nBEGIN;\nSELECT no_such_column FROM items;\nROLLBACK;\nSELECT 'after rollback';\n",
      });
      expect(s.code, describeRun('psql -f -', s)).toBe(0);
      expect(s.stderr).toContain('ERROR:  division by zero');
      expect(s.stderr).toContain('ERROR:  column "no_such_column" does not exist');
      expect(s.stdout).toBe('still here|t\nBEGIN\nROLLBACK\nafter rollback\n');
    });

    it('a wrong password is refused with the server message and exit 2', async () => {
      const r = await psql(['-At', '-c', 'SELECT 1'], { env: { PGPASSWORD: 'wrong-password' } });
      expect(r.code, describeRun('psql wrong password', r)).toBe(2);
      expect(r.stderr).toContain(`password authentication failed for user "${role.user}"`);
    });

    it('SHOW helios.clients lists psql by application_name (admin console), or reaches the server without it', async () => {
      const r = await psql(['-At', '-c', 'SHOW helios.clients']);
      if (plugins === 'all') {
        ok('psql SHOW helios.clients', r);
        const rows = r.stdout.trimEnd().split('\n').map((l) => l.split('|'));
        const mine = rows.filter((c) => c[3] === 'psql');
        expect(mine.length, r.stdout).toBeGreaterThanOrEqual(1);
        for (const c of mine) {
          expect(c.slice(1, 4)).toEqual([role.user, db.name, 'psql']);
          expect(c[4]).toMatch(/^127\.0\.0\.1/);
        }

        const named = await psql(['-At', '-c', 'SHOW helios.clients'], { env: { PGAPPNAME: 'e2e tools app' } });
        ok('psql SHOW helios.clients (PGAPPNAME)', named);
        expect(named.stdout.split('\n').map((l) => l.split('|')[3])).toContain('e2e tools app');
      } else {
        expect(r.code, describeRun('psql SHOW helios.clients', r)).toBe(1);
        expect(r.stderr).toContain('unrecognized configuration parameter "helios.clients"');
      }
    });
  });

  describe('pgbench', () => {
    let before: { accepted: number; queries: number | undefined };

    it('pgbench -i -s 1 initializes through the proxy (COPY included)', { timeout: 180_000 }, async () => {
      const r = await pgbench(['-i', '-s', '1']);
      ok('pgbench -i', r);
      expect(r.stderr).toMatch(/done in [\d.]+ s \(.*client-side generate/);
      const counts = await psql(['-At', '-c', 'SELECT (SELECT count(*) FROM pgbench_accounts), (SELECT count(*) FROM pgbench_branches), (SELECT count(*) FROM pgbench_tellers), (SELECT count(*) FROM pgbench_history)']);
      ok('psql counts', counts);
      expect(counts.stdout).toBe('100000|1|10|0\n');

      before = { accepted: await metric('helios_client_connections_accepted_total'), queries: undefined };
      if (plugins === 'all') {
        const s = await adminStats();
        before = { accepted: Number(s.clients_accepted), queries: Number(s.queries) };
      }
    });

    it.each(['simple', 'extended', 'prepared'])('pgbench -S -t 200 -c 4 -j 2 -M %s: all transactions processed, none failed', { timeout: 120_000 }, async (mode) => {
      const r = await pgbench(['-S', '-t', '200', '-c', '4', '-j', '2', '-M', mode]);
      ok(`pgbench -M ${mode}`, r);
      expect(r.stdout).toContain(`query mode: ${mode}`);
      expect(r.stdout).toContain('number of transactions actually processed: 800/800');
      const failed = pgbenchLine(r.stdout, /number of failed transactions: (\d+)/);
      if (failed) expect(failed[0]).toBe('0');
      expect(r.stdout).not.toMatch(/aborted|error/i);
    });

    it('pgbench TPC-B-like (writes, transactions) -M prepared -t 25 -c 2: all committed', { timeout: 120_000 }, async () => {
      const r = await pgbench(['-t', '25', '-c', '2', '-M', 'prepared']);
      ok('pgbench tpcb', r);
      expect(r.stdout).toContain('number of transactions actually processed: 50/50');
      const failed = pgbenchLine(r.stdout, /number of failed transactions: (\d+)/);
      if (failed) expect(failed[0]).toBe('0');
      const h = await psql(['-At', '-c', 'SELECT count(*), (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(delta) FROM pgbench_history) FROM pgbench_history']);
      ok('psql history', h);
      expect(h.stdout).toBe('50|t\n');
    });

    it('pgbench -C -t 20 -c 2 (a new connection per transaction): all processed', { timeout: 120_000 }, async () => {
      const r = await pgbench(['-S', '-C', '-t', '20', '-c', '2']);
      ok('pgbench -C', r);
      expect(r.stdout).toContain('number of transactions actually processed: 40/40');
      const failed = pgbenchLine(r.stdout, /number of failed transactions: (\d+)/);
      if (failed) expect(failed[0]).toBe('0');
    });

    it('the proxy counted the connections and queries (SHOW helios.stats, /metrics)', async () => {
      expect(before, 'pgbench -i must have passed first').toBeDefined();
      // Lower bounds: client connections of the runs above (3 × 4, 2, 40 with -C), and statements:
      // 800 SELECTs per -S run, 7 per TPC-B transaction, 40 with -C (a Query or a Bind each).
      const connections = 3 * 4 + 2 + 40;
      const queries = 3 * 800 + 50 * 7 + 40;
      const accepted = await metric('helios_client_connections_accepted_total');
      expect(accepted - before.accepted).toBeGreaterThanOrEqual(connections);
      expect(await metric('helios_protocol_errors_total')).toBe(0);
      expect(await metric('helios_upstream_connect_errors_total')).toBe(0);
      if (plugins === 'all') {
        const s = await adminStats();
        expect(Number(s.clients_accepted) - before.accepted).toBeGreaterThanOrEqual(connections);
        expect(Number(s.queries)).toBeGreaterThan(0);
        expect(Number(s.queries) - before.queries!).toBeGreaterThanOrEqual(queries);
        expect(s.protocol_errors).toBe('0');
        // Every pgbench client was closed: soon only the psql asking is left.
        await until('pgbench clients to be gone', async () => ((await adminStats()).clients_active === '1' ? true : undefined));
      }
    });
  });

  describe('shutdown', () => {
    it('SIGTERM with idle clients connected: they are closed, the proxy exits 0, and its output holds no password', { timeout: 90_000 }, async () => {
      const admin = new pg.Client(pgConfig({ database: db.name }));
      await admin.connect();
      const node = new pg.Client({ host: '127.0.0.1', port: proxy.port, user: role.user, password: role.password, database: db.name, application_name: 'e2e_idle_node' });
      const nodeErrors: Error[] = [];
      node.on('error', (e) => nodeErrors.push(e));
      const nodeEnded = new Promise<void>((resolve) => node.once('end', () => resolve()));
      let idlePsql: ReturnType<typeof startTool> | undefined;
      try {
        await node.connect();
        expect((await node.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
        // psql reading statements from a pipe that stays open: connected, idle, waiting for input.
        idlePsql = startTool('psql', [url(), '-X', '-At', '-v', 'ON_ERROR_STOP=1'], { env: toolEnv({ PGAPPNAME: 'e2e_idle_psql' }), timeoutMs: 60_000 });
        const idleBackends = async () =>
          (await admin.query<{ a: string }>(
            "SELECT application_name AS a FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'e2e_idle_%' AND state = 'idle' ORDER BY 1",
            [db.name],
          )).rows.map((x) => x.a);
        await until('both idle clients connected upstream', async () => ((await idleBackends()).length === 2 ? true : undefined));
        expect(await idleBackends()).toEqual(['e2e_idle_node', 'e2e_idle_psql']);
        if (plugins === 'all') {
          const r = await psql(['-At', '-c', 'SHOW helios.clients']);
          ok('psql SHOW helios.clients', r);
          const apps = r.stdout.trimEnd().split('\n').map((l) => l.split('|')[3]);
          expect(apps).toEqual(expect.arrayContaining(['e2e_idle_node', 'e2e_idle_psql']));
        }

        proxy.child.kill('SIGTERM');
        // With --drain-timeout 600 this only returns in time if the drain closes idle clients itself.
        expect(await proxy.exited).toEqual({ code: 0, signal: null });

        await nodeEnded;
        expect(nodeErrors.map((e) => e.message)).toContain('terminating connection because the HeliosDB proxy is shutting down');

        idlePsql.child.stdin!.end("SELECT 'after shutdown';\n");
        const p = await idlePsql.result;
        expect(p.code, describeRun('idle psql', p)).not.toBe(0);
        expect(p.stdout).not.toContain('after shutdown');
        expect(p.stderr).toMatch(/shutting down|server closed the connection|connection to server .* lost|no connection to the server/);

        // The upstream sessions went with them.
        await until('the upstream backends of the idle clients to end', async () => ((await idleBackends()).length === 0 ? true : undefined));

        expect(proxy.stderr()).toMatch(/SIGTERM: shutting down/);
        expect(proxy.stderr()).toMatch(/"stopped"|stopped/);
        const output = proxy.stdout() + proxy.stderr();
        expect(output).not.toContain(role.password);
        expect(output).not.toContain(encodeURIComponent(role.password));
      } finally {
        await node.end().catch(() => {});
        if (idlePsql && idlePsql.child.exitCode === null) idlePsql.child.kill('SIGKILL');
        await admin.end();
      }
    });
  });
});
