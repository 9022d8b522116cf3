// Driving pgbench: finding it, initialising its tables, one timed run, reading tps back.
import { spawnSync } from 'node:child_process';
import { libpqEnv, type ConnInfo } from './conn.ts';
import { spawnChild } from './processes.ts';

export const MODES = ['simple', 'extended', 'prepared', 'connect'] as const;
export type Mode = (typeof MODES)[number];

const MODE_ARGS: Record<Mode, string[]> = {
  simple: ['-M', 'simple'],
  extended: ['-M', 'extended'],
  prepared: ['-M', 'prepared'],
  connect: ['-C', '-M', 'simple'], // a new session per transaction
};

/** Throws a message that says how to get pgbench when it is missing. */
export function requirePgbench(): string {
  const r = spawnSync('pgbench', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error('pgbench not found on PATH. Install it with: apt-get install -y postgresql-client (Debian/Ubuntu; pgbench 15+ works against a PG 18 server)');
  }
  return r.stdout.trim();
}

export async function initTables(conn: ConnInfo, scale: number): Promise<void> {
  await run(['-i', '-q', '-s', String(scale)], conn, 30 * 60_000);
}

export interface SelectRun { tps: number; transactions: number }

/** pgbench -S (read-only point selects) for `seconds`. */
export async function runSelect(conn: ConnInfo, mode: Mode, o: { clients: number; jobs: number; seconds: number }): Promise<SelectRun> {
  const args = ['-S', '-n', '-c', String(o.clients), '-j', String(o.jobs), '-T', String(o.seconds), ...MODE_ARGS[mode]];
  // Hard stop well past -T: a wedged target must not hang the whole bench.
  const out = await run(args, conn, (o.seconds + 60) * 1000);
  const tps = parseTps(out);
  const transactions = Number(/^number of transactions actually processed: (\d+)/m.exec(out)?.[1] ?? NaN);
  if (tps === undefined) throw new Error(`no tps in pgbench output:\n${out.slice(-1000)}`);
  return { tps, transactions };
}

/** "tps = 12345.6 (without initial connection time)" or, with -C, "(including reconnection times)". */
export function parseTps(out: string): number | undefined {
  const m = /^tps = ([\d.]+)/m.exec(out);
  return m ? Number(m[1]) : undefined;
}

async function run(args: string[], conn: ConnInfo, timeoutMs: number): Promise<string> {
  const child = spawnChild('pgbench', 'pgbench', args, { env: libpqEnv(conn) });
  const timer = setTimeout(() => void child.stop(1000), timeoutMs);
  try {
    const code = await child.exited;
    if (code !== 0) throw new Error(`pgbench ${args.join(' ')} exited ${code}:\n${child.output().slice(-1500)}`);
    return child.output();
  } finally {
    clearTimeout(timer);
  }
}
