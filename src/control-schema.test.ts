import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type FreshDatabase } from '../test/harness/db.ts';
import { pgConfig, testPg } from '../test/harness/pg.ts';
import { migrate, MIGRATIONS_DIR, readMigrations } from './control-schema.ts';

let db: FreshDatabase;
const clients: pg.Client[] = [];
const dirs: string[] = [];

function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'helios-migrations-'));
  dirs.push(dir);
  return dir;
}

async function connect(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  clients.push(client);
  return client;
}

async function resetSchema(): Promise<void> {
  const c = await connect();
  await c.query('DROP SCHEMA IF EXISTS helios CASCADE');
}

beforeAll(async () => {
  db = await freshDatabase('control_schema');
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.end()));
});
afterAll(async () => {
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  await db?.drop();
});

describe('readMigrations', () => {
  it('orders files by number and ignores other files', async () => {
    const dir = scratchDir();
    writeFileSync(join(dir, '0010_later.sql'), 'SELECT 10');
    writeFileSync(join(dir, '0002_second.sql'), 'SELECT 2');
    writeFileSync(join(dir, 'README.md'), 'not a migration');
    expect((await readMigrations(dir)).map((m) => [m.version, m.name])).toEqual([[2, '0002_second'], [10, '0010_later']]);
  });

  it('refuses two files with one number', async () => {
    const dir = scratchDir();
    writeFileSync(join(dir, '0001_a.sql'), '');
    writeFileSync(join(dir, '1_b.sql'), '');
    await expect(readMigrations(dir)).rejects.toThrow(/share version 1/);
  });

  it('finds the shipped migrations', async () => {
    expect((await readMigrations(MIGRATIONS_DIR))[0]).toMatchObject({ version: 1, name: '0001_helios_schema' });
  });
});

describe('migrate', () => {
  it('creates the helios schema, and a second run is a no-op', async () => {
    await resetSchema();
    const client = await connect();
    const first = await migrate(client);
    expect(first).toEqual({ from: 0, to: 6, applied: ['0001_helios_schema', '0002_cost', '0003_webhooks', '0004_ledger', '0005_ledger_checkpoints', '0006_cdc_publications'] });
    const { rows } = await client.query('SELECT helios.version() AS v');
    expect(rows[0].v).toBe('heliosdb schema 6');
    const versions = await client.query('SELECT version, name, applied_at FROM helios.schema_version ORDER BY version');
    expect(versions.rows).toEqual([
      { version: 1, name: '0001_helios_schema', applied_at: expect.any(Date) },
      { version: 2, name: '0002_cost', applied_at: expect.any(Date) },
      { version: 3, name: '0003_webhooks', applied_at: expect.any(Date) },
      { version: 4, name: '0004_ledger', applied_at: expect.any(Date) },
      { version: 5, name: '0005_ledger_checkpoints', applied_at: expect.any(Date) },
      { version: 6, name: '0006_cdc_publications', applied_at: expect.any(Date) },
    ]);

    expect(await migrate(client)).toEqual({ from: 6, to: 6, applied: [] });
    // Applied as a superuser: change capture's DDL event triggers are installed.
    const triggers = await client.query("SELECT evtname, evtevent FROM pg_event_trigger WHERE evtname LIKE 'helios_cdc_%' ORDER BY 1");
    expect(triggers.rows).toEqual([{ evtname: 'helios_cdc_ddl_end', evtevent: 'ddl_command_end' }, { evtname: 'helios_cdc_sql_drop', evtevent: 'sql_drop' }]);
  });

  // The test roles are made by the harness; on an external server without a superuser they are not.
  it.skipIf(!testPg.rolesCreated)('applies every migration for a role that is not a superuser, leaving out the DDL event triggers', async () => {
    const role = testPg.roles.scram;
    const other = await freshDatabase('control_schema_owner');
    try {
      const su = new pg.Client(pgConfig({ database: other.name }));
      await su.connect();
      clients.push(su);
      await su.query(`ALTER DATABASE "${other.name}" OWNER TO ${su.escapeIdentifier(role.user)}`);
      const owner = new pg.Client(pgConfig({ database: other.name, role }));
      await owner.connect();
      clients.push(owner);
      expect((await owner.query('SELECT rolsuper FROM pg_roles WHERE rolname = current_user')).rows[0].rolsuper).toBe(false);
      expect(await migrate(owner)).toMatchObject({ from: 0, to: 6 });
      expect((await owner.query("SELECT count(*)::int AS n FROM pg_event_trigger WHERE evtname LIKE 'helios_cdc_%'")).rows[0].n).toBe(0);
      expect((await owner.query('SELECT helios.cdc_install_ddl_triggers() AS ok')).rows[0].ok).toBe(false);
      // Nor does a superuser install them while their functions belong to a role that could replace them.
      expect((await su.query('SELECT helios.cdc_install_ddl_triggers() AS ok')).rows[0].ok).toBe(false);
      await su.query('ALTER SCHEMA helios OWNER TO CURRENT_USER');
      for (const f of ['helios.cdc_ddl_sync()', 'helios.cdc_sync_keyed_publication(text, oid[])', 'helios.cdc_identity_usable_tables(oid[])', 'helios.cdc_replica_identity_usable(oid)']) {
        await su.query(`ALTER FUNCTION ${f} OWNER TO CURRENT_USER`);
      }
      expect((await su.query('SELECT helios.cdc_install_ddl_triggers() AS ok')).rows[0].ok).toBe(true);
      expect((await su.query("SELECT count(*)::int AS n FROM pg_event_trigger WHERE evtname LIKE 'helios_cdc_%'")).rows[0].n).toBe(2);
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.end()));
      await other.drop();
    }
  });

  it('applies only what is pending, in order, one transaction each', async () => {
    await resetSchema();
    const client = await connect();
    const dir = scratchDir();
    copyFileSync(join(MIGRATIONS_DIR, '0001_helios_schema.sql'), join(dir, '0001_helios_schema.sql'));
    writeFileSync(join(dir, '0002_widgets.sql'), 'CREATE TABLE helios.widgets (id int);');
    writeFileSync(join(dir, '0003_broken.sql'), 'INSERT INTO helios.widgets VALUES (1); SELECT no_such_function();');

    await expect(migrate(client, { dir })).rejects.toThrow(/migration 0003_broken failed: function no_such_function\(\) does not exist/);
    // 0002 committed on its own; 0003 rolled back completely.
    const { rows } = await client.query('SELECT max(version) AS v, (SELECT count(*) FROM helios.widgets)::int AS widgets FROM helios.schema_version');
    expect(rows[0]).toEqual({ v: 2, widgets: 0 });

    writeFileSync(join(dir, '0003_broken.sql'), 'INSERT INTO helios.widgets VALUES (1);');
    expect(await migrate(client, { dir })).toEqual({ from: 2, to: 3, applied: ['0003_broken'] });
    expect((await client.query('SELECT helios.version() AS v')).rows[0].v).toBe('heliosdb schema 3');
  });

  it('lets concurrent sidecars race without applying anything twice', async () => {
    await resetSchema();
    const racers = await Promise.all([connect(), connect(), connect(), connect()]);
    const results = await Promise.all(racers.map((c) => migrate(c)));
    expect(results.flatMap((r) => r.applied).sort()).toEqual(['0001_helios_schema', '0002_cost', '0003_webhooks', '0004_ledger', '0005_ledger_checkpoints', '0006_cdc_publications']);
    expect(results.every((r) => r.to === 6)).toBe(true);
  });

  it('refuses a schema newer than this HeliosDB knows', async () => {
    await resetSchema();
    const client = await connect();
    await migrate(client);
    await client.query("INSERT INTO helios.schema_version (version, name) VALUES (42, '0042_from_the_future')");
    await expect(migrate(client)).rejects.toThrow('helios schema version 42 is newer than this HeliosDB knows (6); upgrade HeliosDB');
    // The failed attempt left no transaction open.
    expect((await client.query('SELECT 1 AS ok')).rows[0].ok).toBe(1);
  });
});
