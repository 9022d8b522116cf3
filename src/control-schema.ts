// Applies sql/migrations/NNNN_name.sql to the helios control schema, in order, once each.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type { Logger } from './log.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../sql/migrations/', import.meta.url));
const FILE_NAME = /^(\d+)_([A-Za-z0-9_-]+)\.sql$/;
// One lock for every sidecar on the database, so concurrent starts apply each migration exactly once.
const LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('heliosdb control schema', 0))";

export interface Migration {
  version: number;
  /** File name without the extension, e.g. "0001_helios_schema". */
  name: string;
  sql: string;
}

export interface MigrateOptions {
  /** Where the migration files are; defaults to sql/migrations. */
  dir?: string;
  log?: Logger;
}

export interface MigrateResult {
  /** Schema version before and after. */
  from: number;
  to: number;
  /** Names of the migrations this call applied (empty when already up to date). */
  applied: string[];
}

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const migrations: Migration[] = [];
  for (const file of await readdir(dir)) {
    const m = FILE_NAME.exec(file);
    if (!m) continue;
    const version = Number(m[1]);
    const clash = migrations.find((x) => x.version === version);
    if (clash) throw new Error(`migrations ${clash.name} and ${file} share version ${version}`);
    migrations.push({ version, name: file.slice(0, -'.sql'.length), sql: await readFile(join(dir, file), 'utf8') });
  }
  return migrations.sort((a, b) => a.version - b.version);
}

async function currentVersion(client: pg.Client): Promise<number> {
  const exists = await client.query("SELECT to_regclass('helios.schema_version') IS NOT NULL AS present");
  if (!exists.rows[0].present) return 0;
  const { rows } = await client.query<{ version: number }>('SELECT coalesce(max(version), 0) AS version FROM helios.schema_version');
  return rows[0]!.version;
}

/** Brings the helios schema up to the newest migration; a no-op when it already is. */
export async function migrate(client: pg.Client, opts: MigrateOptions = {}): Promise<MigrateResult> {
  const migrations = await readMigrations(opts.dir);
  const newest = migrations.at(-1)?.version ?? 0;
  const applied: string[] = [];
  let from: number | undefined;
  // One transaction per migration; each re-reads the version under the lock, since another sidecar may have moved it.
  for (;;) {
    await client.query('BEGIN');
    let pending: Migration | undefined;
    try {
      await client.query(LOCK);
      const current = await currentVersion(client);
      from ??= current;
      if (current > newest) {
        throw new Error(`helios schema version ${current} is newer than this HeliosDB knows (${newest}); upgrade HeliosDB`);
      }
      pending = migrations.find((m) => m.version > current);
      if (!pending) {
        await client.query('COMMIT');
        return { from, to: current, applied };
      }
      await client.query(pending.sql);
      await client.query('INSERT INTO helios.schema_version (version, name) VALUES ($1, $2)', [pending.version, pending.name]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      if (pending) throw new Error(`migration ${pending.name} failed: ${(err as Error).message}`);
      throw err;
    }
    applied.push(pending.name);
    opts.log?.info('applied control-schema migration', { migration: pending.name });
  }
}
