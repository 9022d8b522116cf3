import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../test/harness/db.ts';
import { testPg } from '../test/harness/pg.ts';

const BIN = fileURLToPath(new URL('../bin/helios.js', import.meta.url));
const children = new Set<ChildProcess>();
const dirs: string[] = [];
// A child left running by a failed test gets the graceful stop first, so an embedded PostgreSQL goes down with it.
afterAll(async () => {
  await Promise.all(
    [...children].filter((c) => c.exitCode === null && c.signalCode === null).map(
      (c) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
          c.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          c.kill('SIGTERM');
        }),
    ),
  );
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function scratchDir(prefix = 'helios-cli-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

// The child sees none of the developer's HELIOS_* settings, and runs where no helios.json lies around.
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HELIOS_')));
  return { ...env, ...extra };
}

interface Helios {
  child: ChildProcess;
  /** Lines of the startup banner, once it is printed. */
  banner: Promise<string[]>;
  stderr(): string;
  exited: Promise<number | null>;
}

function helios(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Helios {
  const cwd = opts.cwd ?? scratchDir();
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const banner = new Promise<string[]>((resolve, reject) => {
    const lines: string[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      if (line.startsWith('  http:')) setImmediate(() => resolve(lines));
    });
    void exited.then((code) => reject(new Error(`helios exited (${code}) before it was ready:\n${err}`)));
  });
  banner.catch(() => {});
  return { child, banner, exited, stderr: () => err };
}

async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const h = helios(args);
  let stdout = '';
  h.child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  const code = await h.exited;
  return { code, stdout, stderr: h.stderr() };
}

const field = (banner: string[], name: string) => banner.find((l) => l.trim().startsWith(`${name}:`))!.split(/\s+/).find((w) => /^(postgresql|http):\/\//.test(w))!;

async function readyz(httpUrl: string): Promise<{ status: number; body: { checks: Record<string, string> } }> {
  const res = await fetch(`${httpUrl}/readyz`);
  return { status: res.status, body: (await res.json()) as { checks: Record<string, string> } };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('helios CLI: usage', () => {
  it('--version prints the package version', async () => {
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('heliosdb 0.1.0\n');
  });

  it('--help lists the commands; COMMAND --help lists flags with their variables', async () => {
    expect((await run(['--help'])).stdout).toMatch(/helios up .*\n.*helios proxy --upstream URL/);
    const up = await run(['up', '--help']);
    expect(up.code).toBe(0);
    expect(up.stdout).toContain('--listen HOST:PORT');
    expect(up.stdout).toContain('env HELIOS_LISTEN, file key "listen"');
  });

  it('--help lists the webhook and cdc commands; webhook --help and proxy --help their options', async () => {
    const help = (await run(['--help'])).stdout;
    expect(help).toMatch(/helios webhook list\|create\|show\|pause\|resume\|delete\|rotate\|replay\|replay-dead\|backfill\|deliveries/);
    expect(help).toMatch(/helios cdc\s+change-capture status/);
    const webhook = await run(['webhook', '--help']);
    expect(webhook.code).toBe(0);
    expect(webhook.stdout).toContain('helios webhook create NAME URL [--table T]...');
    expect(webhook.stdout).toContain('helios webhook backfill NAME TABLE [--wait]');
    const proxy = (await run(['proxy', '--help'])).stdout;
    expect(proxy).toContain('--webhook-retry LIST');
    expect(proxy).toContain('env HELIOS_WEBHOOK_RETRY, file key "webhookRetry"');
    expect(proxy).toMatch(/--cdc on\|off .*\(default on\)/);
  });

  it.each([
    [['frob'], 'helios: unknown command "frob"'],
    [['proxy', '--bogus'], "helios: Unknown option '--bogus'"],
    [['proxy'], 'helios: helios proxy needs an upstream: --upstream'],
    [['proxy', '--upstream', 'postgresql://u:hunter2@h/db', '--listen', 'x'], 'helios: --listen: invalid value "x"'],
    [['up', '--upstream', 'postgresql://h/db'], "helios: Unknown option '--upstream'"],
  ])('%j fails with a one-line message and exit code 2', async (args, message) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr).not.toContain('hunter2');
  });
});

describe('helios proxy', () => {
  it('proxies, migrates the control schema, reloads on SIGHUP and drains on SIGTERM', async () => {
    const db = await freshDatabase('cli_proxy');
    try {
      const cwd = scratchDir();
      const h = helios(['proxy', '--upstream', db.url, '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0'], { cwd });
      const banner = await h.banner;
      const conn = new URL(field(banner, 'connect'));
      const http = field(banner, 'http');
      expect(conn.password).toBe('');

      const schema = await until('the control schema', async () => {
        const r = await readyz(http);
        return r.body.checks.controlSchema === 'pending' ? undefined : r;
      });
      expect(schema.status).toBe(200);
      expect(schema.body.checks).toEqual({ proxy: 'ok', upstream: 'ok', controlSchema: 'ok' });

      const client = new pg.Client({ host: conn.hostname, port: Number(conn.port), user: testPg.user, password: testPg.password, database: db.name });
      await client.connect();
      expect((await client.query('SELECT helios.version() AS v')).rows[0].v).toBe('heliosdb schema 6');
      await client.end();

      writeFileSync(join(cwd, 'helios.json'), JSON.stringify({ plugins: 'none' }));
      h.child.kill('SIGHUP');
      await until('the reload', async () => (h.stderr().includes('configuration reloaded') ? true : undefined));
      expect(h.stderr()).toMatch(/configuration reloaded.*"changed":"plugins"/);
      // The audit ledger has the settings it started with and the change.
      const su = new pg.Client({ connectionString: db.url });
      await su.connect();
      const actions = await until('the reload in the ledger', async () => {
        const { rows } = await su.query<{ e: { action: string; changed?: string[]; settings: { plugins: unknown } } }>(
          "SELECT convert_from(substring(leaf FROM 10), 'UTF8')::jsonb AS e FROM helios.ledger_entries WHERE kind = 'action' ORDER BY id",
        );
        const entries = rows.map((r) => r.e).filter((e) => e.action === 'sidecar_started' || e.action === 'config_reloaded');
        return entries.length >= 2 ? entries : undefined;
      });
      await su.end();
      expect(actions.map((e) => [e.action, e.changed ?? null, e.settings.plugins])).toEqual([['sidecar_started', null, 'all'], ['config_reloaded', ['plugins'], 'none']]);

      h.child.kill('SIGTERM');
      expect(await h.exited).toBe(0);
      expect(h.stderr()).not.toContain(testPg.password);
    } finally {
      await db.drop();
    }
  });

  it('sets, lists and removes budgets of a running proxy with helios budget, and shows spend with helios cost', async () => {
    const db = await freshDatabase('cli_budget');
    try {
      const h = helios(['proxy', '--upstream', db.url, '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0']);
      const banner = await h.banner;
      const conn = new URL(field(banner, 'connect'));
      const http = new URL(field(banner, 'http')).host;
      await until('the control schema', async () => ((await readyz(`http://${http}`)).body.checks.controlSchema === 'ok' ? true : undefined));

      const set = await run(['budget', 'set', 'acme', '2.5', '--period', 'day', '--thresholds', '60,90', '--http', http]);
      expect(set.stderr).toBe('');
      expect(set.stdout).toMatch(/budget for acme: \$2\.5 per day, reject when spent; warnings at 60\/90%/);

      const client = new pg.Client({ host: conn.hostname, port: Number(conn.port), user: testPg.user, password: testPg.password, database: db.name });
      await client.connect();
      await client.query("/* tenant='acme' */ SELECT count(*) FROM pg_class");
      expect((await client.query("SELECT limit_usd FROM helios.budget_status() WHERE tenant = 'acme'")).rows[0].limit_usd).toBe('2.500000');
      await client.end();

      const list = await run(['budget', 'list', '--http', http]);
      expect(list.stdout).toMatch(/^acme\s+day\s+2\.500000\s/m);
      const cost = await run(['cost', '--http', http]);
      expect(cost.stdout).toMatch(/rate card: aurora-standard/);
      expect(cost.stdout).toMatch(/^acme\s+1\s+\d+\.\d{6}/m);

      const bad = await run(['budget', 'set', 'acme', '0', '--http', http]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/positive limit/);
      expect((await run(['budget', 'remove', 'acme', '--http', http])).stdout).toContain('removed the budget of acme');
      const again = await run(['budget', 'remove', 'acme', '--http', http]);
      expect(again.code).toBe(2);
      expect(again.stderr).toMatch(/no budget for tenant "acme"/);

      h.child.kill('SIGTERM');
      expect(await h.exited).toBe(0);
    } finally {
      await db.drop();
    }
  });

  it('creates, lists, shows, pauses, backfills and deletes webhooks with helios webhook, and reports capture with helios cdc', async () => {
    const db = await freshDatabase('cli_webhook');
    const bodies: string[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => {
        if (req.method === 'POST') bodies.push(body);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    try {
      const setup = new pg.Client({ connectionString: db.url });
      await setup.connect();
      await setup.query('CREATE TABLE items (id int PRIMARY KEY, name text)');
      await setup.query("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 30) g");
      await setup.end();
      // Capture off: no replication slot to clean up; backfills and deliveries work without it.
      const h = helios(['proxy', '--upstream', db.url, '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--cdc', 'off', '--webhook-poll', '50ms']);
      const http = new URL(field(await h.banner, 'http')).host;
      await until('the control schema', async () => ((await readyz(`http://${http}`)).body.checks.controlSchema === 'ok' ? true : undefined));

      const created = await run(['webhook', 'create', 'items-hook', hookUrl, '--table', 'items', '--op', 'insert,read', '--condition', 'new.id > 10', '--http', http]);
      expect(created.stderr).toBe('');
      expect(created.stdout).toMatch(/^created webhook items-hook\nsigning secret: whsec_\S+\n/);
      const bad = await run(['webhook', 'create', 'bad', hookUrl, '--condition', 'new.id >', '--http', http]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/^helios: POST \/api\/v1\/webhooks: invalid condition: /);

      const list = await run(['webhook', 'list', '--http', http]);
      expect(list.stdout).toMatch(/^name\s+state\s+url/);
      expect(list.stdout).toMatch(new RegExp(`^items-hook\\s+active\\s+${hookUrl}\\s+public\\.items\\s+insert,read\\s+0\\s+0`, 'm'));
      expect((await run(['webhook', 'show', 'items-hook', '--http', http])).stdout).toContain('condition: new.id > 10\n');

      const backfill = await run(['webhook', 'backfill', 'items-hook', 'items', '--wait', '--http', http]);
      expect(backfill.stderr).toBe('');
      expect(backfill.stdout).toMatch(/^backfill \d+ of items queued for items-hook\n/);
      expect(backfill.stdout).toMatch(/backfill \d+ of public\.items for items-hook: 30\/30 rows \(100\.0%\), done\n$/);
      await until('the deliveries', async () => (bodies.length === 20 ? true : undefined));
      const deliveries = await run(['webhook', 'deliveries', 'items-hook', '--state', 'delivered', '--http', http]);
      expect(deliveries.stdout.trim().split('\n')).toHaveLength(22);

      expect((await run(['webhook', 'pause', 'items-hook', '--http', http])).stdout).toBe('webhook items-hook is paused\n');
      const cdc = await run(['cdc', '--http', http]);
      expect(cdc.stdout).toContain('state: off\n');
      expect(cdc.stdout).toContain('slot: helios_cdc\n');
      expect((await run(['webhook', 'delete', 'items-hook', '--http', http])).stdout).toBe('deleted webhook items-hook\n');
      const gone = await run(['webhook', 'show', 'items-hook', '--http', http]);
      expect(gone.code).toBe(2);
      expect(gone.stderr).toMatch(/webhook "items-hook" does not exist/);

      h.child.kill('SIGTERM');
      expect(await h.exited).toBe(0);
    } finally {
      await new Promise<void>((r) => receiver.close(() => r()));
      await db.drop();
    }
  });

  it('keeps an audit ledger of the statements it proxies: helios ledger verify, prove, and a tampered entry found at its position', async () => {
    const db = await freshDatabase('cli_ledger');
    try {
      const h = helios(['proxy', '--upstream', db.url, '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--cdc', 'off', '--plugins', 'ledger', '--ledger-checkpoint', '1s']);
      const banner = await h.banner;
      const http = new URL(field(banner, 'http')).host;
      await until('the control schema', async () => ((await readyz(`http://${http}`)).body.checks.controlSchema === 'ok' ? true : undefined));
      const c = new pg.Client({ connectionString: field(banner, 'connect').replace(/^postgresql:\/\/[^@]+@/, `postgresql://${testPg.user}:${encodeURIComponent(testPg.password)}@`) });
      await c.connect();
      for (let i = 0; i < 5; i++) await c.query('SELECT $1::int AS n', [i]);
      await c.end();
      const status = await until('a signed checkpoint', async () => {
        const r = await run(['ledger', 'status', '--http', http]);
        return /^size\s+[1-9]/m.test(r.stdout) && /^\d+\s+[0-9a-f]{64}/m.test(r.stdout.split('\n\n')[1] ?? '') ? r : undefined;
      });
      expect(status.stdout).toMatch(/^origin heliosdb\.local\/ledger\n/);
      const ok = await run(['ledger', 'verify', '--http', http]);
      expect(ok.code).toBe(0);
      expect(ok.stdout).toMatch(/local check +ok\n/);
      expect(ok.stdout).toMatch(/checkpoint +ok \(size \d+, signature verified, root matches\)/);
      const proof = JSON.parse((await run(['ledger', 'prove', '0', '--http', http])).stdout) as { id: number; proof: string[]; root: string };
      expect(proof.id).toBe(0);
      expect(proof.root).toMatch(/^[0-9a-f]{64}$/);
      const file = join(scratchDir(), 'ledger.txt');
      const exported = await run(['ledger', 'export', file, '--http', http]);
      expect(exported.stdout).toMatch(/^wrote .*ledger\.txt: \d+ entries/);
      const offline = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const c = spawn(process.execPath, [fileURLToPath(new URL('./ledger/offline-verifier.mjs', import.meta.url)), file]);
        let out = '';
        c.stdout.on('data', (b) => (out += b));
        c.on('exit', (code) => resolve({ code, out }));
      });
      expect(offline.out).toMatch(/^OK/);
      expect(offline.code).toBe(0);

      const su = new pg.Client({ connectionString: db.url });
      await su.connect();
      await su.query('BEGIN');
      await su.query('SET LOCAL session_replication_role = replica');
      await su.query("UPDATE helios.ledger_entries SET leaf = leaf || '\\x20'::bytea WHERE id = 0");
      await su.query('COMMIT');
      await su.end();
      const bad = await run(['ledger', 'verify', '--http', http]);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/local check +FAILED at position 0: entry 0: its leaf does not hash to its stored leaf_hash/);
      h.child.kill('SIGTERM');
      expect(await h.exited).toBe(0);
    } finally {
      await db.drop();
    }
  });

  it('keeps running and says why in /readyz when it cannot migrate the upstream', async () => {
    const url = new URL(testPg.url);
    url.password = '';
    url.username = 'helios_no_such_role';
    const h = helios(['proxy', '--upstream', url.toString(), '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0']);
    const http = field(await h.banner, 'http');
    const r = await until('the migration attempt', async () => {
      const x = await readyz(http);
      return x.body.checks.controlSchema === 'pending' ? undefined : x;
    });
    expect(r.status).toBe(200);
    expect(r.body.checks.controlSchema).toMatch(/^unavailable: /);
    expect(h.stderr()).toContain('could not set up the helios control schema');
    h.child.kill('SIGTERM');
    expect(await h.exited).toBe(0);
  });
});

describe('helios up', () => {
  it('runs embedded PostgreSQL behind the proxy, trusting loopback, and stops it on SIGTERM', async () => {
    const data = scratchDir('helios-up-');
    chmodSync(data, 0o755); // PostgreSQL runs as the 'postgres' user when we are root
    const h = helios(['up', '--data', data, '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0'], { env: { HELIOS_EMBEDDED_PORT: '0' } });
    const banner = await h.banner;
    const conn = field(banner, 'connect');
    expect(conn).toMatch(/^postgresql:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);

    const client = new pg.Client({ connectionString: conn });
    await client.connect();
    const { rows } = await client.query("SELECT helios.version() AS v, current_setting('wal_level') AS wal");
    expect(rows[0]).toEqual({ v: 'heliosdb schema 6', wal: 'logical' });
    await client.end();
    expect((await readyz(field(banner, 'http'))).status).toBe(200);

    h.child.kill('SIGTERM');
    expect(await h.exited).toBe(0);
    expect(existsSync(join(data, 'pg', 'postmaster.pid'))).toBe(false);
  });
});
