import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { embeddedPortFromEnv, startEmbeddedPostgres, type EmbeddedPostgres } from './embedded.ts';
import { createLogger } from './log.ts';

const data = mkdtempSync(join(tmpdir(), 'helios-embedded-'));
// When we run as root, PostgreSQL runs as the 'postgres' user, which must be able to reach the directory.
chmodSync(data, 0o755);
const warnings: string[] = [];
const log = createLogger({ level: 'warn', format: 'json', write: (l) => warnings.push(l) });
let running: EmbeddedPostgres | undefined;

afterAll(async () => {
  await running?.stop();
  rmSync(data, { recursive: true, force: true });
});

async function query(e: EmbeddedPostgres, sql: string): Promise<unknown> {
  // No password: the cluster trusts loopback clients.
  const client = new pg.Client({ host: e.host, port: e.port, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    return (await client.query(sql)).rows[0];
  } finally {
    await client.end();
  }
}

function occupy(): Promise<Server> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

describe('embedded PostgreSQL', () => {
  it('creates a cluster with logical WAL, trusting loopback, on a free port when the preferred one is taken', async () => {
    const taken = await occupy();
    const takenPort = (taken.address() as { port: number }).port;
    try {
      running = await startEmbeddedPostgres({ data, port: takenPort, log });
    } finally {
      taken.close();
    }
    expect(running.port).not.toBe(takenPort);
    expect(running.dir).toBe(join(data, 'pg'));
    expect(await query(running, 'SHOW wal_level')).toEqual({ wal_level: 'logical' });
    await query(running, 'CREATE TABLE kept (id int)');
  });

  it('refuses a second start on the same data directory with a clear error', async () => {
    await expect(startEmbeddedPostgres({ data, port: 0, log })).rejects.toThrow(
      /PostgreSQL is already running in .*\/pg \(PID \d+\): another "helios up" is using --data/,
    );
  });

  it('keeps data across restarts and clears a stale postmaster.pid', async () => {
    await running!.stop();
    running = undefined;
    // What a crash leaves behind: a pid file naming a process that no longer exists.
    writeFileSync(join(data, 'pg', 'postmaster.pid'), '999999\n');
    running = await startEmbeddedPostgres({ data, port: 0, log });
    expect(await query(running, "SELECT to_regclass('kept') IS NOT NULL AS kept")).toEqual({ kept: true });
    expect(warnings.join('\n')).toContain('removed stale postmaster.pid');
  });
});

describe('embeddedPortFromEnv', () => {
  it('defaults to 54320 and validates HELIOS_EMBEDDED_PORT', () => {
    expect(embeddedPortFromEnv({})).toBe(54320);
    expect(embeddedPortFromEnv({ HELIOS_EMBEDDED_PORT: '6000' })).toBe(6000);
    expect(() => embeddedPortFromEnv({ HELIOS_EMBEDDED_PORT: 'x' })).toThrow('invalid HELIOS_EMBEDDED_PORT "x"');
  });
});
