// CancelRequest through the proxy: clients get the proxy's own (pid, key) in BackendKeyData, a
// cancel is honoured only when both match a live session, and it cancels that session's query
// alone. A CancelRequest gets no answer: the other side just closes the connection.
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useFreshDatabase } from './harness/db.ts';
import { testPg } from './harness/pg.ts';
import { startTestProxy, type TestProxy } from './support/proxy.ts';
import { RawClient, dataRowText, fields, msg, sendCancel, types, type Frame, type StartupResult } from './support/raw-client.ts';

const fx = useFreshDatabase('cancel');

/** Waits until the server backend `pid` is executing a statement containing `fragment`. */
async function waitRunning(pid: number, fragment: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await fx.client.query("select 1 from pg_stat_activity where pid = $1 and state = 'active' and position($2 in query) > 0", [pid, fragment]);
    if (r.rowCount === 1) return;
    await new Promise((res) => setTimeout(res, 25));
  }
  throw new Error(`backend ${pid} never started running "${fragment}"`);
}

/** The ErrorResponse SQLSTATE among frames, or undefined. */
function sqlstate(frames: Frame[]): string | undefined {
  const e = frames.find((f) => f.type === 'E');
  return e ? fields(e.body).get('C') : undefined;
}

/** A key of the same length with one bit flipped. */
function wrongKey(key: Buffer): Buffer {
  const k = Buffer.from(key);
  k[k.length - 1]! ^= 0x01;
  return k;
}

describe.each(['none', 'all'] as const)('cancel through the proxy with plugins %s', (mode) => {
  let proxy: TestProxy;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    proxy = await startTestProxy({ plugins: mode });
  });

  afterAll(async () => {
    for (const c of clients) c.destroy();
    await proxy?.close();
  });

  /** A raw session through the proxy, with its BackendKeyData and its server backend's pid. */
  async function session(minor = 0): Promise<{ client: RawClient; startup: StartupResult; serverPid: number }> {
    const { client, startup } = await RawClient.connect({
      host: proxy.connection.host, port: proxy.connection.port, user: testPg.user, password: testPg.password, database: fx.db.name, minor,
    });
    clients.push(client);
    const [[pid]] = await client.rows('select pg_backend_pid()');
    return { client, startup, serverPid: Number(pid) };
  }

  const cancel = (pid: number, key: Buffer) => sendCancel(proxy.connection.host, proxy.connection.port, pid, key);

  it('cancels a running query with postgres.js query.cancel()', async () => {
    const sql = postgres({ ...proxy.connection, database: fx.db.name, max: 1 });
    try {
      const [{ pid }] = await sql`select pg_backend_pid() as pid`;
      const q = sql`select pg_sleep(30) /*pgjs-cancel*/`;
      const outcome = q.then(() => null, (e: postgres.PostgresError) => e);
      // Cancelling before the query is sent is handled inside postgres.js; wait until the server runs it.
      await waitRunning(pid, 'pgjs-cancel');
      await q.cancel();
      const err = await outcome;
      expect(err?.code).toBe('57014');
      // The server raised it (postgres.js's own local cancel error has no routine).
      expect(err?.routine).toBe('ProcessInterrupts');
      expect((await sql`select 'usable' as u`)[0]!.u).toBe('usable');
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  it('cancels with a CancelRequest carrying the proxy’s BackendKeyData', async () => {
    const { client, startup, serverPid } = await session();
    client.send(msg.query('select pg_sleep(30) /*raw-cancel*/'));
    await waitRunning(serverPid, 'raw-cancel');
    await cancel(startup.pid, startup.key);
    const frames = await client.readyForQuery();
    expect(types(frames)).toBe('TEZ');
    expect(sqlstate(frames)).toBe('57014');
    expect(await client.rows('select 1')).toEqual([['1']]);
  });

  it('never shows clients the server’s pid in BackendKeyData', async () => {
    const { startup, serverPid } = await session();
    expect(startup.key.length).toBe(4);
    expect(startup.pid).not.toBe(serverPid);
    // The proxy itself knows which backend the session runs on.
    expect(proxy.view.servers().map((s) => s.backendPid)).toContain(serverPid);
  });

  it('ignores a CancelRequest with a wrong key, a made-up pid, or the server’s pid', async () => {
    const { client, startup, serverPid } = await session();
    client.send(msg.query("select pg_sleep(1.5), 'finished' /*bad-cancel*/"));
    await waitRunning(serverPid, 'bad-cancel');
    await cancel(startup.pid, wrongKey(startup.key));
    await cancel(startup.pid, Buffer.concat([startup.key, startup.key]));
    await cancel(startup.pid ^ 0x5a5a, startup.key);
    await cancel(serverPid, startup.key);
    const frames = await client.readyForQuery();
    expect(types(frames)).toBe('TDCZ');
    expect(dataRowText(frames[1]!.body)).toEqual(['', 'finished']);
  });

  it('cancels only the query of the session the key belongs to', async () => {
    const a = await session();
    const b = await session();
    // A's key while only B is busy: A is idle, B's query must finish.
    b.client.send(msg.query("select pg_sleep(1.5), 'b finished' /*b-only*/"));
    await waitRunning(b.serverPid, 'b-only');
    await cancel(a.startup.pid, a.startup.key);
    // Keys do not mix: A's pid with B's key, B's pid with A's key.
    await cancel(a.startup.pid, b.startup.key);
    await cancel(b.startup.pid, a.startup.key);
    const bFrames = await b.client.readyForQuery();
    expect(types(bFrames)).toBe('TDCZ');
    expect(dataRowText(bFrames[1]!.body)).toEqual(['', 'b finished']);
    expect(await a.client.rows('select 1')).toEqual([['1']]);

    // Both busy: A's key cancels A and leaves B's query running to the end.
    a.client.send(msg.query('select pg_sleep(30) /*a-both*/'));
    b.client.send(msg.query("select pg_sleep(1.5), 'b finished again' /*b-both*/"));
    await waitRunning(a.serverPid, 'a-both');
    await waitRunning(b.serverPid, 'b-both');
    await cancel(a.startup.pid, a.startup.key);
    const aFrames = await a.client.readyForQuery();
    expect(sqlstate(aFrames)).toBe('57014');
    const bAgain = await b.client.readyForQuery();
    expect(types(bAgain)).toBe('TDCZ');
    expect(dataRowText(bAgain[1]!.body)).toEqual(['', 'b finished again']);
  });

  it('cancels with protocol 3.2 long keys, and only with the whole key', async () => {
    const { client, startup, serverPid } = await session(2);
    expect(startup.key.length).toBe(32);
    client.send(msg.query("select pg_sleep(1.5), 'finished' /*long-bad*/"));
    await waitRunning(serverPid, 'long-bad');
    // A 3.0-sized prefix, a key one byte short, and one bit off must all be refused.
    await cancel(startup.pid, startup.key.subarray(0, 4));
    await cancel(startup.pid, startup.key.subarray(0, 31));
    await cancel(startup.pid, wrongKey(startup.key));
    const survived = await client.readyForQuery();
    expect(types(survived)).toBe('TDCZ');

    client.send(msg.query('select pg_sleep(30) /*long-good*/'));
    await waitRunning(serverPid, 'long-good');
    await cancel(startup.pid, startup.key);
    const frames = await client.readyForQuery();
    expect(sqlstate(frames)).toBe('57014');
    expect(await client.rows('select 32')).toEqual([['32']]);
  });
});

// libpq 17+ sends a CancelRequest inside TLS when its session used TLS; the proxy must take it
// there too, and reach the server over TLS when that is how it talks to it.
describe.runIf(testPg.serverTls)('cancel over TLS', () => {
  let proxy: TestProxy;
  const clients: RawClient[] = [];
  const tlsOpts = { ca: testPg.caCert, servername: 'localhost' };

  beforeAll(async () => {
    proxy = await startTestProxy({
      plugins: 'all',
      tls: { cert: testPg.proxyCert, key: testPg.proxyKey },
      upstream: { sslmode: 'verify-full', ca: testPg.serverCaCert ?? undefined, servername: 'localhost' },
    });
  });

  afterAll(async () => {
    for (const c of clients) c.destroy();
    await proxy?.close();
  });

  it('takes a CancelRequest sent inside TLS', async () => {
    const { client, startup } = await RawClient.connect({
      host: proxy.connection.host, port: proxy.connection.port, user: testPg.user, password: testPg.password, database: fx.db.name,
    });
    clients.push(client);
    const [[pid]] = await client.rows('select pg_backend_pid()');
    const [[ssl]] = await client.rows('select ssl::text from pg_stat_ssl where pid = pg_backend_pid()');
    expect(ssl).toBe('true');
    client.send(msg.query('select pg_sleep(30) /*tls-cancel*/'));
    await waitRunning(Number(pid), 'tls-cancel');
    await sendCancel(proxy.connection.host, proxy.connection.port, startup.pid, startup.key, { tls: tlsOpts });
    const frames = await client.readyForQuery();
    expect(sqlstate(frames)).toBe('57014');
  });

  it('cancels a postgres.js query on a TLS session', async () => {
    const sql = postgres({ ...proxy.connection, database: fx.db.name, max: 1, ssl: { ca: testPg.caCert, servername: 'localhost' }, connection: { application_name: 'pgjs-tls' } });
    try {
      const [{ pid }] = await sql`select pg_backend_pid() as pid`;
      const q = sql`select pg_sleep(30) /*pgjs-tls-cancel*/`;
      const outcome = q.then(() => null, (e: postgres.PostgresError) => e);
      await waitRunning(pid, 'pgjs-tls-cancel');
      await q.cancel();
      const err = await outcome;
      expect([err?.code, err?.routine]).toEqual(['57014', 'ProcessInterrupts']);
      expect(proxy.view.clients().find((c) => c.session.applicationName === 'pgjs-tls')?.session.tls).toBe(true);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });
});
