// Proves the shared test PostgreSQL is what the rest of the suite relies on.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type FreshDatabase } from './harness/db.ts';
import { pgConfig, testPg, type TestRole } from './harness/pg.ts';

async function withClient<T>(config: pg.ClientConfig, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(config);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const one = async (config: pg.ClientConfig, sql: string) =>
  withClient(config, async (c) => (await c.query(sql)).rows[0] as Record<string, unknown>);

describe('test PostgreSQL harness', () => {
  it('runs with logical replication and room for many clients', async () => {
    const row = await one(pgConfig(), `SELECT current_setting('wal_level') AS wal,
      current_setting('max_connections')::int AS max, current_setting('server_version_num')::int AS v`);
    expect(row.wal).toBe('logical');
    if (testPg.kind !== 'external') {
      expect(row.max).toBeGreaterThanOrEqual(400);
      expect(row.v).toBeGreaterThanOrEqual(180000);
    }
  });

  it('hands out TLS material for the proxy signed by the test CA', async () => {
    const ca = new X509Certificate(testPg.caCert);
    const leaf = new X509Certificate(testPg.proxyCert);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkHost('localhost')).toBe('localhost');
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(leaf.checkPrivateKey(createPrivateKey(testPg.proxyKey))).toBe(true);
  });

  describe.runIf(testPg.serverTls)('server TLS', () => {
    it('accepts verify-full against the CA, by name and by IP', async () => {
      const ca = testPg.serverCaCert ?? undefined;
      const byName = await one({ ...pgConfig(), ssl: { ca, servername: 'localhost' } },
        'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      expect(byName.ssl).toBe(true);
      const byIp = await one(pgConfig({ tls: true }), 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      expect(byIp.ssl).toBe(true);
    });

    it('fails verification against a CA that did not sign the server', async () => {
      // The proxy's leaf is not a CA, so nothing can chain to it.
      await expect(one({ ...pgConfig(), ssl: { ca: testPg.proxyCert, servername: 'localhost' } }, 'SELECT 1'))
        .rejects.toThrow();
    });
  });

  describe.runIf(testPg.rolesCreated)('auth roles', () => {
    const { trust, cleartext, md5, scram, tlsOnly } = testPg.roles;
    // system_user is "<auth method>:<identity>" (NULL under trust): proof of which method the server used.
    const cases: Array<[string, TestRole, string | null]> = [
      ['trust', trust, null],
      ['cleartext password', cleartext, `password:${cleartext.user}`],
      ['md5', md5, `md5:${md5.user}`],
      ['scram-sha-256', scram, `scram-sha-256:${scram.user}`],
    ];

    it.each(cases)('%s logs in', async (_name, role, systemUser) => {
      const row = await one(pgConfig({ role }), 'SELECT current_user AS who, system_user AS how');
      expect(row.who).toBe(role.user);
      if (testPg.hbaControlled) expect(row.how).toBe(systemUser);
    });

    it.each(cases.filter(([, r]) => r.method !== 'trust'))('%s rejects a wrong password', async (_n, role) => {
      await expect(one(pgConfig({ role: { ...role, password: 'wrong' } }), 'SELECT 1'))
        .rejects.toThrow(/password authentication failed/);
    });

    it('stores the md5 role as an MD5 verifier', async () => {
      const row = await one(pgConfig(),
        `SELECT rolpassword LIKE 'md5%' AS md5 FROM pg_authid WHERE rolname = '${md5.user}'`);
      expect(row.md5).toBe(true);
    });

    it.runIf(testPg.hbaControlled)('pg_hba.conf assigns each role its method', async () => {
      const { rows } = await withClient(pgConfig(), (c) => c.query<{ user: string; type: string; method: string }>(
        `SELECT DISTINCT user_name[1] AS user, type, auth_method AS method FROM pg_hba_file_rules
         WHERE user_name[1] LIKE 'helios\\_%' AND error IS NULL`));
      const methods = new Set(rows.map((r) => `${r.type} ${r.user} ${r.method}`));
      for (const role of [trust, cleartext, md5, scram]) expect(methods).toContain(`host ${role.user} ${role.method}`);
      expect(methods).toContain(`hostssl ${tlsOnly.user} scram-sha-256`);
      expect(methods).toContain(`hostnossl ${tlsOnly.user} reject`);
    });

    it.runIf(testPg.hbaControlled && testPg.serverTls)('the TLS-only role needs TLS', async () => {
      await expect(one(pgConfig({ role: tlsOnly }), 'SELECT 1')).rejects.toThrow(/no encryption|pg_hba/);
      const row = await one(pgConfig({ role: tlsOnly, tls: true }), 'SELECT system_user AS how');
      expect(row.how).toBe(`scram-sha-256:${tlsOnly.user}`);
    });
  });

  describe('freshDatabase', () => {
    let db: FreshDatabase;
    beforeAll(async () => { db = await freshDatabase('harness smoke'); });
    afterAll(async () => { await db.drop(); });

    it('creates an isolated database reachable by name and URL', async () => {
      expect(db.name).toMatch(/^helios_harness_smoke_[0-9a-f]{8}$/);
      expect((await one(pgConfig({ database: db.name }), 'SELECT current_database() AS d')).d).toBe(db.name);
      expect((await one({ connectionString: db.url }, 'SELECT current_database() AS d')).d).toBe(db.name);
    });
  });
});
