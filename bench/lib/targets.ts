// The fronts a bench measures, each in front of the same PostgreSQL and each
// (apart from `direct`) its own process, started and ready before measuring.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toUrl, waitReady, type ConnInfo } from './conn.ts';
import { freePort } from './net.ts';
import { onExitSync, spawnChild, type Child } from './processes.ts';
import type { AuthMethod } from './server.ts';

export const TARGETS = ['direct', 'pipe', 'passthrough', 'observability', 'cost', 'plugins', 'pgbouncer'] as const;

/** Every observability plugin on (metrics, statistics, anomaly detection, tracing), nothing else. */
export const OBSERVABILITY_PLUGINS = 'metrics,tracing';
export type TargetName = (typeof TARGETS)[number];

export interface Target {
  name: TargetName;
  /** Same credentials as the server, this front's host:port. */
  conn: ConnInfo;
  /** The front's own process, when it has one (for RSS). */
  child?: Child;
  stop(): Promise<void>;
}

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HELIOS_BIN = join(REPO_ROOT, 'bin', 'helios.js');
const RAW_PIPE = join(REPO_ROOT, 'bench', 'raw-pipe.ts');

/** Starts one target; throws (with the child's output) when it cannot serve a session. */
export async function startTarget(name: TargetName, server: ConnInfo, auth: AuthMethod, maxClients: number): Promise<Target> {
  switch (name) {
    case 'direct': return { name, conn: server, stop: async () => {} };
    case 'pipe': return startPipe(server);
    case 'passthrough': return startProxy(name, server, 'none');
    case 'observability': return startProxy(name, server, OBSERVABILITY_PLUGINS);
    // Pricing every statement and judging it against budgets (none set: the check still runs).
    case 'cost': return startProxy(name, server, 'cost,budget');
    case 'plugins': return startProxy(name, server, 'all');
    case 'pgbouncer': return startPgbouncer(server, auth, maxClients);
  }
}

async function startPipe(server: ConnInfo): Promise<Target> {
  const port = await freePort();
  const child = spawnChild('pipe', process.execPath, ['--import', 'tsx', RAW_PIPE,
    '--listen', `127.0.0.1:${port}`, '--upstream', `${server.host}:${server.port}`], { cwd: REPO_ROOT });
  return ready('pipe', { ...server, host: '127.0.0.1', port }, child);
}

/**
 * `helios proxy` with these plugins. Change capture is off: the read-only pgbench workloads change
 * no rows, and several sidecars on one database would take turns at its one replication slot.
 */
export async function startProxy(name: TargetName, server: ConnInfo, plugins: string, extra: readonly string[] = []): Promise<Target> {
  const [port, http] = [await freePort(), await freePort()];
  const child = spawnChild(name, process.execPath, [HELIOS_BIN, 'proxy',
    '--upstream', toUrl(server),
    '--listen', `127.0.0.1:${port}`,
    '--http', `127.0.0.1:${http}`,
    '--cdc', 'off',
    '--plugins', plugins, ...extra], { cwd: REPO_ROOT });
  return ready(name, { ...server, host: '127.0.0.1', port }, child);
}

export function hasPgbouncer(): boolean {
  return !spawnSync('pgbouncer', ['--version']).error;
}

async function startPgbouncer(server: ConnInfo, auth: AuthMethod, maxClients: number): Promise<Target> {
  if (!hasPgbouncer()) throw new SkipTarget('pgbouncer not installed (apt-get install -y pgbouncer); skipped');
  const dir = mkdtempSync(join(tmpdir(), 'helios-bench-pgbouncer-'));
  chmodSync(dir, 0o755);
  onExitSync(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
  // Plain-text password: PgBouncer can then answer whatever the server asks (scram, md5, password).
  writeFileSync(join(dir, 'userlist.txt'), `${q(server.user)} ${q(server.password ?? '')}\n`, { mode: 0o644 });
  const pool = Math.max(maxClients + 4, 20);
  writeFileSync(join(dir, 'pgbouncer.ini'), [
    '[databases]',
    `* = host=${server.host} port=${server.port}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    // Clients authenticate to PgBouncer the way they would to the server: same work per connect.
    `auth_type = ${auth === 'password' ? 'plain' : auth}`,
    `auth_file = ${join(dir, 'userlist.txt')}`,
    'pool_mode = session',
    `max_client_conn = ${pool * 2}`,
    `default_pool_size = ${pool}`,
    // Per-connection log lines would tax only PgBouncer in the connect mode.
    'log_connections = 0',
    'log_disconnections = 0',
    'ignore_startup_parameters = extra_float_digits,options',
    '',
  ].join('\n'), { mode: 0o644 });
  // PgBouncer refuses to run as root.
  const ids = process.getuid?.() === 0 ? userIds('postgres') ?? userIds('nobody') : undefined;
  const child = spawnChild('pgbouncer', 'pgbouncer', [join(dir, 'pgbouncer.ini')], { ...ids });
  const t = await ready('pgbouncer', { ...server, host: '127.0.0.1', port }, child);
  return { ...t, stop: async () => { await t.stop(); rmSync(dir, { recursive: true, force: true }); } };
}

/** A target that cannot run here for a known reason (printed as a note, not an error). */
export class SkipTarget extends Error {}

async function ready(name: TargetName, conn: ConnInfo, child: Child): Promise<Target> {
  try {
    await waitReady(conn, child.exited);
  } catch (err) {
    await child.stop(500);
    // The child's last words, minus stack frames: enough to see why it would not serve.
    const out = child.output().split('\n').filter((l) => l.trim() && !/^\s+at /.test(l)).slice(-6).join('\n');
    throw new Error(`${name}: ${(err as Error).message}${out ? `\n  ${out.replace(/\n/g, '\n  ')}` : ''}`);
  }
  return { name, conn, child, stop: () => child.stop() };
}

function userIds(name: string): { uid: number; gid: number } | undefined {
  const id = (flag: string) => Number(spawnSync('id', [flag, name], { encoding: 'utf8' }).stdout.trim());
  const [uid, gid] = [id('-u'), id('-g')];
  return Number.isInteger(uid) && uid > 0 && Number.isInteger(gid) ? { uid, gid } : undefined;
}
