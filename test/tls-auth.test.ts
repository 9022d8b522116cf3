// TLS on both hops of the proxy, and authentication passed through it to the real server:
// client TLS terminated by the proxy (pg and libpq's psql, verify-full), GSSENCRequest refused,
// upstream TLS by sslmode, and each auth method of the test roles end to end.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { UpstreamTarget } from '../proxy/options.ts';
import { freshDatabase, type FreshDatabase } from './harness/db.ts';
import { testPg, type TestRole } from './harness/pg.ts';
import { startTestProxy, type TestProxy } from './support/proxy.ts';
import { GSSENC_REQUEST_CODE, RawConnection, SSL_REQUEST_CODE } from './support/raw-wire.ts';

const PSQL = '/usr/bin/psql';

let db: FreshDatabase;
const opened: pg.Client[] = [];
const proxies: TestProxy[] = [];

beforeAll(async () => {
  db = await freshDatabase('tls_auth');
});

afterEach(async () => {
  await Promise.allSettled(opened.splice(0).map((c) => c.end()));
});

afterAll(async () => {
  await Promise.allSettled(proxies.splice(0).map((p) => p.close()));
  await db?.drop();
});

async function proxyWith(opts: Parameters<typeof startTestProxy>[0]): Promise<TestProxy> {
  const p = await startTestProxy(opts);
  proxies.push(p);
  return p;
}

type ClientOptions = Omit<pg.ClientConfig, 'host' | 'port'> & { role?: TestRole };

/** A connected pg client through `p`; the superuser unless `role` is given. */
async function connect(p: TestProxy, opts: ClientOptions = {}): Promise<pg.Client> {
  const { role, ...rest } = opts;
  const c = new pg.Client({
    ...p.connection,
    database: db.name,
    ...(role && { user: role.user, password: role.password }),
    ...rest,
  });
  c.on('error', () => {});
  opened.push(c);
  await c.connect();
  return c;
}

/** Connects, runs one query, disconnects; resolves with the first row. */
async function one(p: TestProxy, sql: string, opts: ClientOptions = {}): Promise<Record<string, unknown>> {
  const c = await connect(p, opts);
  try {
    return (await c.query(sql)).rows[0] as Record<string, unknown>;
  } finally {
    await c.end();
  }
}

async function failure(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a failure');
}

const tlsToProxy = (): pg.ClientConfig['ssl'] => ({ ca: testPg.caCert, servername: 'localhost', rejectUnauthorized: true });

interface PsqlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs psql (libpq) with a conninfo string; PG* variables from the environment are dropped. */
function psql(conninfo: Record<string, string | number>, sql: string, password: string): Promise<PsqlResult> {
  const conn = Object.entries(conninfo)
    .map(([k, v]) => `${k}='${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`)
    .join(' ');
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  env.PGPASSWORD = password;
  env.PGCONNECT_TIMEOUT = '20';
  return new Promise((resolve) => {
    execFile(PSQL, ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', conn, '-c', sql], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: stdout.trim(), stderr: stderr.trim() });
    });
  });
}

/** libpq settings to reach `p` with TLS verified against the test CA by host name. */
const psqlVerifyFull = (p: TestProxy, user: string, extra: Record<string, string> = {}) => ({
  host: 'localhost',
  hostaddr: '127.0.0.1',
  port: p.port,
  user,
  dbname: db.name,
  sslmode: 'verify-full',
  sslrootcert: testPg.caCertPath,
  gssencmode: 'disable',
  ...extra,
});

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

function peerFingerprint(c: pg.Client): string | undefined {
  const stream = (c as unknown as { connection: { stream: { getPeerCertificate?: () => { fingerprint256?: string } } } }).connection.stream;
  return stream.getPeerCertificate?.().fingerprint256;
}

// ---- client side: TLS terminated by the proxy ------------------------------------------------

describe('client TLS terminated by the proxy', () => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await proxyWith({ tls: { cert: testPg.proxyCert, key: testPg.proxyKey } });
  });

  it('accepts pg with verify-full against the test CA, presenting the proxy certificate', async () => {
    const c = await connect(proxy, { ssl: tlsToProxy(), application_name: 'tls-pg-verify-full' });
    expect(peerFingerprint(c)).toBe(fingerprint(testPg.proxyCert));
    expect((await c.query('SELECT current_user AS who')).rows[0].who).toBe(testPg.user);
    const rows = (await c.query('SHOW helios.clients')).rows.filter((r) => r.application_name === 'tls-pg-verify-full');
    expect(rows).toHaveLength(1);
    expect(rows[0].tls).toBe('true');
  });

  it('reports plaintext clients of the same proxy with tls false', async () => {
    const c = await connect(proxy, { ssl: false, application_name: 'tls-pg-plain' });
    const row = (await c.query('SHOW helios.clients')).rows.find((r) => r.application_name === 'tls-pg-plain');
    expect(row?.tls).toBe('false');
  });

  it('accepts psql with sslmode=verify-full and a host name check', async () => {
    const r = await psql(psqlVerifyFull(proxy, testPg.user, { application_name: 'tls-psql' }), 'SELECT current_user', testPg.password);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(testPg.user);
    const shown = await psql(psqlVerifyFull(proxy, testPg.user, { application_name: 'tls-psql' }), 'SHOW helios.clients', testPg.password);
    expect(shown.code).toBe(0);
    // -A -t: unaligned rows, "|" between columns: id|user|database|application_name|client_addr|tls|...
    const mine = shown.stdout.split('\n').map((l) => l.split('|')).filter((cols) => cols[3] === 'tls-psql');
    expect(mine).toHaveLength(1);
    expect(mine[0]![5]).toBe('true');
  });

  it('fails psql verify-full when the root certificate does not vouch for the proxy', async () => {
    const wrongRoot = join(testPg.tmpDir, `tls-auth-wrong-root-${process.pid}.crt`);
    // The server CA is the test CA in the embedded/container modes; the proxy's own leaf is no CA at all.
    await writeFile(wrongRoot, testPg.proxyCert);
    const r = await psql(psqlVerifyFull(proxy, testPg.user, { sslrootcert: wrongRoot }), 'SELECT 1', testPg.password).finally(() => rm(wrongRoot, { force: true }));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/certificate verify failed|SSL error/i);
  });

  it('refuses a client that requires TLS when the proxy does not terminate TLS', async () => {
    const plain = await proxyWith({});
    const err = await failure(connect(plain, { ssl: tlsToProxy() }));
    expect(err.message).toBe('The server does not support SSL connections');
    const r = await psql(psqlVerifyFull(plain, testPg.user, { sslmode: 'require' }), 'SELECT 1', testPg.password);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/server does not support SSL, but SSL was required/);
    // The same proxy still serves plaintext clients.
    expect((await one(plain, 'SELECT 1 AS ok')).ok).toBe(1);
  });

  it('answers GSSENCRequest with N, and a normal startup follows on the same socket', async () => {
    const plain = await proxyWith({});
    const raw = await RawConnection.connect('127.0.0.1', plain.port);
    try {
      raw.sendRequestCode(GSSENC_REQUEST_CODE);
      expect(await raw.readByte()).toBe('N');
      expect(raw.buffered).toBe(0);
      const s = await raw.startup({ user: testPg.user, password: testPg.password, database: db.name });
      expect(s.status).toBe('I');
      const r = await raw.query('SELECT 41 + 1');
      expect(r.rows).toEqual([['42']]);
      expect(r.status).toBe('I');
    } finally {
      await raw.terminate();
    }
  });

  it('answers GSSENCRequest with N and then SSLRequest with S on a TLS proxy (libpq\'s gssencmode=prefer order)', async () => {
    const raw = await RawConnection.connect('127.0.0.1', proxy.port);
    let secure: RawConnection | null = null;
    try {
      raw.sendRequestCode(GSSENC_REQUEST_CODE);
      expect(await raw.readByte()).toBe('N');
      raw.sendRequestCode(SSL_REQUEST_CODE);
      expect(await raw.readByte()).toBe('S');
      secure = await raw.startTls({ ca: testPg.caCert, servername: 'localhost' });
      await secure.startup({ user: testPg.user, password: testPg.password, database: db.name, application_name: 'tls-raw-gss-then-ssl' });
      const r = await secure.query("SELECT 'over tls'");
      expect(r.rows).toEqual([['over tls']]);
      const shown = await secure.query('SHOW helios.clients');
      const mine = shown.rows.filter((row) => row[3] === 'tls-raw-gss-then-ssl');
      expect(mine).toHaveLength(1);
      expect(mine[0]![5]).toBe('true');
    } finally {
      if (secure) await secure.terminate();
      else raw.destroy();
    }
  });
});

// ---- server side: TLS from the proxy to the server -------------------------------------------

const SSL_IN_USE = 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()';

describe.runIf(testPg.serverTls)('upstream TLS', () => {
  const verifyFull = (extra: Partial<UpstreamTarget> = {}): Partial<UpstreamTarget> => ({
    sslmode: 'verify-full',
    ca: testPg.serverCaCert ?? undefined,
    ...extra,
  });

  it('verify-full against the server CA (by address, and by host name) encrypts the hop', async () => {
    const byAddress = await proxyWith({ upstream: verifyFull() });
    expect((await one(byAddress, SSL_IN_USE)).ssl).toBe(true);
    const byName = await proxyWith({ upstream: verifyFull({ servername: 'localhost' }) });
    expect((await one(byName, SSL_IN_USE)).ssl).toBe(true);
    const c = await connect(byName, { application_name: 'upstream-tls-view' });
    const id = (await c.query('SHOW helios.clients')).rows.find((r) => r.application_name === 'upstream-tls-view')!.id;
    const server = (await c.query('SHOW helios.servers')).rows.find((r) => r.session_id === id);
    expect(server?.tls).toBe('true');
  });

  it('sslmode=require encrypts without verifying; sslmode=disable does not encrypt', async () => {
    const required = await proxyWith({ upstream: { sslmode: 'require' } });
    expect((await one(required, SSL_IN_USE)).ssl).toBe(true);
    const disabled = await proxyWith({ upstream: { sslmode: 'disable' } });
    expect((await one(disabled, SSL_IN_USE)).ssl).toBe(false);
  });

  it('verify-full with a CA that did not sign the server fails the client cleanly, and the proxy serves on', async () => {
    const good = { host: testPg.host, port: testPg.port, ...verifyFull() } as UpstreamTarget;
    const p = await proxyWith({ upstream: good });
    const before = await connect(p, { application_name: 'upstream-survivor' });
    expect((await before.query(SSL_IN_USE)).rows[0].ssl).toBe(true);

    p.reload({ upstream: { ...good, ca: testPg.proxyCert } });
    const err = await failure(connect(p, { application_name: 'upstream-wrong-ca' }));
    expect(err.code).toBe('08001');
    expect(err.message).toMatch(/SSL error with server .*(certificate|verify)/i);
    const again = await failure(connect(p));
    expect(again.code).toBe('08001');

    // Sessions already connected are untouched, and new ones work once the CA is right again.
    expect((await before.query('SELECT 1 AS ok')).rows[0].ok).toBe(1);
    const stats = (await before.query('SHOW helios.stats')).rows[0];
    expect(Number(stats.upstream_connect_errors)).toBe(2);
    p.reload({ upstream: good });
    expect((await one(p, SSL_IN_USE)).ssl).toBe(true);
  });

  it.runIf(testPg.rolesCreated)('lets the TLS-only role in only when the upstream hop is encrypted', async () => {
    const role = testPg.roles.tlsOnly;
    const encrypted = await proxyWith({ upstream: verifyFull() });
    const row = await one(encrypted, `SELECT current_user AS who, system_user AS how, (${SSL_IN_USE}) AS ssl`, { role });
    expect(row.who).toBe(role.user);
    expect(row.ssl).toBe(true);
    if (testPg.hbaControlled) {
      expect(row.how).toBe(`scram-sha-256:${role.user}`);
      const plain = await proxyWith({ upstream: { sslmode: 'disable' } });
      const err = await failure(connect(plain, { role }));
      expect(err.code).toBe('28000');
      expect(err.message).toMatch(/no encryption/);
    }
  });
});

// ---- authentication passed through ------------------------------------------------------------

describe.runIf(testPg.rolesCreated)('authentication passthrough', () => {
  const { trust, cleartext, md5, scram } = testPg.roles;
  // system_user is "<method>:<identity>" (NULL under trust); the Authentication request the client got names the method too.
  const cases: Array<[string, TestRole, string | null, number]> = [
    ['trust', trust, null, 0],
    ['cleartext password', cleartext, `password:${cleartext.user}`, 3],
    ['md5', md5, `md5:${md5.user}`, 5],
    ['scram-sha-256', scram, `scram-sha-256:${scram.user}`, 10],
  ];
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await proxyWith({});
  });

  it.each(cases)('%s: pg logs in with the right password', async (_name, role, systemUser) => {
    const row = await one(proxy, 'SELECT current_user AS who, system_user AS how', { role });
    expect(row.who).toBe(role.user);
    if (testPg.hbaControlled) expect(row.how).toBe(systemUser);
  });

  it.each(cases)('%s: the server\'s authentication request reaches a raw client unchanged', async (_name, role, systemUser, request) => {
    const raw = await RawConnection.connect('127.0.0.1', proxy.port);
    try {
      const s = await raw.startup({ user: role.user, password: role.password, database: db.name });
      if (testPg.hbaControlled) {
        expect(s.authRequests[0]).toBe(request);
        expect(s.authRequests.at(-1)).toBe(0);
        if (request === 10) {
          expect(s.saslMechanisms).toEqual(['SCRAM-SHA-256']);
          expect(s.authRequests).toEqual([10, 11, 12, 0]);
        }
      }
      const r = await raw.query('SELECT current_user, system_user');
      expect(r.rows).toEqual([[role.user, testPg.hbaControlled ? systemUser : r.rows[0]![1]!]]);
    } finally {
      await raw.terminate();
    }
  });

  it.each(cases.filter(([, r]) => r.method !== 'trust'))('%s: a wrong password fails with 28P01 from the server', async (_name, role) => {
    const err = await failure(connect(proxy, { role: { ...role, password: 'wrong' } }));
    expect(err.code).toBe('28P01');
    expect(err.message).toMatch(/password authentication failed for user "helios_/);
    const raw = await RawConnection.connect('127.0.0.1', proxy.port);
    try {
      await expect(raw.startup({ user: role.user, password: 'wrong', database: db.name })).rejects.toMatchObject({ code: '28P01' });
    } finally {
      raw.destroy();
    }
    // The proxy is fine afterwards.
    expect((await one(proxy, 'SELECT current_user AS who', { role })).who).toBe(role.user);
  });

  it.runIf(testPg.hbaControlled)('trust: any password is accepted because the server never asks', async () => {
    const row = await one(proxy, 'SELECT current_user AS who', { role: { ...trust, password: 'anything' } });
    expect(row.who).toBe(trust.user);
  });

  it('each method also works through psql (libpq)', async () => {
    for (const [, role, systemUser] of cases) {
      const r = await psql({ host: '127.0.0.1', port: proxy.port, user: role.user, dbname: db.name, sslmode: 'disable', gssencmode: 'disable' },
        'SELECT current_user, system_user', role.password);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(`${role.user}|${testPg.hbaControlled ? (systemUser ?? '') : r.stdout.split('|')[1]}`);
    }
  });
});

describe.runIf(testPg.rolesCreated && testPg.serverTls)('SCRAM through a TLS-terminating proxy with upstream TLS', () => {
  const { scram } = testPg.roles;
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await proxyWith({
      tls: { cert: testPg.proxyCert, key: testPg.proxyKey },
      upstream: { sslmode: 'verify-full', ca: testPg.serverCaCert ?? undefined },
    });
  });

  it('pg (TLS to the proxy, verify-full) logs in with SCRAM and both hops are encrypted', async () => {
    const row = await one(proxy, `SELECT current_user AS who, system_user AS how, (${SSL_IN_USE}) AS ssl`, { role: scram, ssl: tlsToProxy() });
    expect(row.who).toBe(scram.user);
    expect(row.ssl).toBe(true);
    if (testPg.hbaControlled) expect(row.how).toBe(`scram-sha-256:${scram.user}`);
  });

  it('passes the server\'s SASL mechanisms through unchanged, -PLUS included', async () => {
    const raw = await RawConnection.connect('127.0.0.1', proxy.port);
    raw.sendRequestCode(SSL_REQUEST_CODE);
    expect(await raw.readByte()).toBe('S');
    const secure = await raw.startTls({ ca: testPg.caCert, servername: 'localhost' });
    try {
      const s = await secure.startup({ user: scram.user, password: scram.password, database: db.name });
      if (testPg.hbaControlled) expect(s.saslMechanisms).toEqual(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']);
      expect((await secure.query('SELECT current_user')).rows).toEqual([[scram.user]]);
    } finally {
      await secure.terminate();
    }
  });

  // tls-server-end-point binds SCRAM to the hash of the certificate the client saw. Through a
  // proxy that is the proxy's certificate, which the server cannot match unless the proxy
  // presents the server's own certificate and key.
  it('psql with the default channel_binding=prefer fails when the proxy presents its own certificate', async () => {
    const r = await psql(psqlVerifyFull(proxy, scram.user), 'SELECT 1', scram.password);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/channel binding|SCRAM/i);
  });

  it('psql and pg bind the channel when the proxy presents the server\'s certificate', async () => {
    const pair = testPg.serverKeyPair;
    expect(pair).not.toBeNull();
    const sameCert = await proxyWith({ tls: { cert: pair!.cert, key: pair!.key }, upstream: { sslmode: 'verify-full', ca: testPg.serverCaCert ?? undefined } });
    const r = await psql(psqlVerifyFull(sameCert, scram.user, { channel_binding: 'require' }), `SELECT current_user, (${SSL_IN_USE})`, scram.password);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${scram.user}|t`);
    const row = await one(sameCert, 'SELECT current_user AS who', { role: scram, ssl: tlsToProxy(), enableChannelBinding: true } as ClientOptions);
    expect(row.who).toBe(scram.user);
  });

  it('psql with channel_binding=disable logs in (verify-full to the proxy)', async () => {
    const r = await psql(psqlVerifyFull(proxy, scram.user, { channel_binding: 'disable' }), `SELECT current_user, (${SSL_IN_USE})`, scram.password);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${scram.user}|t`);
  });

  it('psql with the default channel_binding=prefer logs in when only the client hop is TLS', async () => {
    const clientTlsOnly = await proxyWith({ tls: { cert: testPg.proxyCert, key: testPg.proxyKey }, upstream: { sslmode: 'disable' } });
    const r = await psql(psqlVerifyFull(clientTlsOnly, scram.user), `SELECT current_user, (${SSL_IN_USE})`, scram.password);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${scram.user}|f`);
  });

  it('psql with channel_binding=require is refused cleanly when the certificates differ', async () => {
    const r = await psql(psqlVerifyFull(proxy, scram.user, { channel_binding: 'require' }), 'SELECT 1', scram.password);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/channel binding/);
  });
});
