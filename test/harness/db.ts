// Gives each test file its own database on the shared server, so files running in parallel don't collide.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { pgConfig, testPg } from './pg.ts';

export interface FreshDatabase {
  name: string;
  /** Superuser URL pointing at the new database. */
  url: string;
  /** Drops it, ending any sessions still connected. */
  drop(): Promise<void>;
}

async function asSuperuser(sql: string): Promise<void> {
  const client = new pg.Client(pgConfig());
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Drops a test database. One with a logical replication slot cannot be dropped, even WITH (FORCE):
 * a sidecar under test may have left one (change capture runs for the ledger's row changes by
 * default), and its walsender takes a moment to let go of the slot once terminated.
 */
async function dropDatabase(name: string): Promise<void> {
  const client = new pg.Client(pgConfig());
  await client.connect();
  try {
    for (let attempt = 0; ; attempt++) {
      const { rows } = await client.query<{ slot_name: string; active_pid: number | null }>('SELECT slot_name, active_pid FROM pg_replication_slots WHERE database = $1', [name]);
      if (rows.length === 0) break;
      for (const r of rows) {
        if (r.active_pid !== null) await client.query('SELECT pg_terminate_backend($1)', [r.active_pid]);
        else await client.query('SELECT pg_drop_replication_slot($1)', [r.slot_name]).catch(() => {});
      }
      if (attempt >= 100) throw new Error(`replication slots of ${name} stay active`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

export async function freshDatabase(label = 'test'): Promise<FreshDatabase> {
  const safe = label.toLowerCase().replace(/[^a-z0-9_]+/g, '_').slice(0, 40);
  const name = `helios_${safe}_${randomBytes(4).toString('hex')}`;
  const ident = `"${name}"`; // only [a-z0-9_] by construction
  await asSuperuser(`CREATE DATABASE ${ident}`);
  const url = new URL(testPg.url);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () => dropDatabase(name),
  };
}

/** A fresh database for the calling test file plus a superuser client on it, opened before and closed after its tests. */
export interface DatabaseFixture {
  readonly db: FreshDatabase;
  readonly client: pg.Client;
}

export function useFreshDatabase(label: string): DatabaseFixture {
  const fx = {} as { db: FreshDatabase; client: pg.Client };
  beforeAll(async () => {
    fx.db = await freshDatabase(label);
    fx.client = new pg.Client(pgConfig({ database: fx.db.name }));
    await fx.client.connect();
  });
  afterAll(async () => {
    await fx.client?.end();
    await fx.db?.drop();
  });
  return fx;
}
