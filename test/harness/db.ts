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
    drop: () => asSuperuser(`DROP DATABASE IF EXISTS ${ident} WITH (FORCE)`),
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
