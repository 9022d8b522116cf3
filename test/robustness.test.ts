// The proxy under hostile or failing peers: garbage from clients (before and after startup),
// truncated frames, an upstream that dies or refuses, and draining. After each blow the proxy
// must still serve: a client connected before keeps working and new clients connect.
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useFreshDatabase } from './harness/db.ts';
import { pgConfig, testPg } from './harness/pg.ts';
import { startKillableRelay, type KillableRelay } from './support/killable-relay.ts';
import { startTestProxy, type TestProxy } from './support/proxy.ts';
import {
  errorsIn, feFrame, hijackedSession, parseBackendFrames, queryFrame, rawConnect, startupPacket, waitUntil, within,
} from './support/wire-capture.ts';

const MODES = ['none', 'all'] as const;
const ONE_MIB = 1 << 20;
/** Bound for anything that should happen promptly; a hang fails the test instead of timing it out silently. */
const BOUND_MS = 15_000;

const fx = useFreshDatabase('robustness');

function through(proxy: TestProxy): pg.ClientConfig {
  return { ...proxy.connection, database: fx.db.name };
}

async function connect(config: pg.ClientConfig): Promise<pg.Client> {
  const c = new pg.Client(config);
  await c.connect();
  return c;
}

/** Opens a client through the proxy, runs a query, closes it. */
async function freshClientWorks(proxy: TestProxy): Promise<void> {
  const c = await connect(through(proxy));
  try {
    const { rows } = await c.query<{ n: number; db: string }>('SELECT 41 + 1 AS n, current_database() AS db');
    expect(rows).toEqual([{ n: 42, db: fx.db.name }]);
  } finally {
    await c.end();
  }
}

async function bystanderWorks(c: pg.Client, tag: string): Promise<void> {
  const { rows } = await c.query<{ v: string }>('SELECT $1::text AS v', [tag]);
  expect(rows).toEqual([{ v: tag }]);
}

/** The backend's state in pg_stat_activity, or null when it is gone. */
async function backendState(pid: number): Promise<{ state: string | null; query: string; wait_event_type: string | null } | null> {
  const { rows } = await fx.client.query('SELECT state, query, wait_event_type FROM pg_stat_activity WHERE pid = $1', [pid]);
  return (rows[0] as { state: string | null; query: string; wait_event_type: string | null } | undefined) ?? null;
}

async function waitBackendGone(pid: number): Promise<void> {
  await waitUntil(async () => (await backendState(pid)) === null, `backend ${pid} to exit`, 200, 50);
}

async function waitBackendRunning(pid: number, fragment: string): Promise<void> {
  await waitUntil(async () => {
    const s = await backendState(pid);
    return s !== null && s.state === 'active' && s.query.includes(fragment);
  }, `backend ${pid} to run ${fragment}`);
}

async function backendPidOf(c: pg.Client): Promise<number> {
  const { rows } = await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return rows[0]!.pid;
}

/** A port nothing listens on (bound then released). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Waits for a pg.Client's 'error' event (a FATAL the server or proxy sent while it was idle). */
function nextClientError(c: pg.Client): Promise<Error & { code?: string }> {
  return new Promise((resolve) => c.once('error', resolve));
}

function clientEnded(c: pg.Client): Promise<void> {
  return new Promise((resolve) => c.once('end', () => resolve()));
}

describe.each(MODES)('robustness with plugins %s', (plugins) => {
  let proxy: TestProxy;
  let bystander: pg.Client;

  beforeAll(async () => {
    // A small frame limit so that "oversized" is cheap to send.
    proxy = await startTestProxy({ plugins, maxMessageBytes: ONE_MIB });
    bystander = await connect(through(proxy));
    bystander.on('error', () => {});
  });

  afterAll(async () => {
    await bystander?.end().catch(() => {});
    await proxy?.close();
  });

  describe('garbage after startup', () => {
    const cases: Array<[string, () => Buffer]> = [
      ['an invalid type byte 0x01', () => feFrame(0x01, Buffer.alloc(0))],
      ['a Query with length 2', () => Buffer.from([0x51, 0, 0, 0, 2])],
      ['a Query with length beyond maxMessageBytes', () => {
        const b = Buffer.alloc(5 + 64);
        b[0] = 0x51;
        b.writeInt32BE(ONE_MIB * 2, 1);
        return b;
      }],
      ['a Sync (small message) with length 20000', () => {
        const b = Buffer.alloc(5);
        b[0] = 0x53;
        b.writeInt32BE(20_000, 1);
        return b;
      }],
      ['a valid Query then an invalid type byte in the same write', () => Buffer.concat([queryFrame('SELECT 1'), feFrame(0x01)])],
    ];

    it.each(cases)('%s: FATAL 08P01, connection closed, others unharmed', async (_name, garbage) => {
      await bystanderWorks(bystander, 'before');
      const errorsBefore = proxy.view.stats().protocolErrors;
      const s = await hijackedSession(through(proxy));
      s.write(garbage());
      const data = await within(s.closed, BOUND_MS, 'proxy closing the connection');
      const errors = errorsIn(data);
      expect(errors.map((e) => [e.severity, e.code])).toEqual([['FATAL', '08P01']]);
      expect(errors[0]!.message).toMatch(/invalid (frontend message type|message length)/);
      // The ErrorResponse is the last thing sent.
      const frames = parseBackendFrames(data).frames;
      expect(frames.at(-1)!.type).toBe('E');
      expect(proxy.view.stats().protocolErrors).toBe(errorsBefore + 1);
      await waitBackendGone(s.backendPid);
      await bystanderWorks(bystander, 'after');
      await freshClientWorks(proxy);
    });
  });

  describe('garbage during startup', () => {
    async function rejected(bytes: Buffer, end = false): Promise<Buffer> {
      const s = await rawConnect(proxy.port);
      s.socket.write(bytes);
      if (end) s.socket.end();
      return within(s.closed, BOUND_MS, 'proxy closing the startup connection');
    }

    it('HTTP instead of a startup packet: FATAL 08P01 and close', async () => {
      const data = await rejected(Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'));
      expect(errorsIn(data).map((e) => [e.severity, e.code, e.message])).toEqual([['FATAL', '08P01', 'invalid length of startup packet']]);
      await bystanderWorks(bystander, 'after http');
      await freshClientWorks(proxy);
    });

    it('random bytes with a plausible length: rejected, no session created', async () => {
      const b = Buffer.from([0, 0, 0, 16, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8]);
      const data = await rejected(b);
      const errors = errorsIn(data);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.severity).toBe('FATAL');
      expect(errors[0]!.code).toBe('0A000');
      expect(errors[0]!.message).toMatch(/unsupported frontend protocol/);
      await bystanderWorks(bystander, 'after random');
      await freshClientWorks(proxy);
    });

    it('a startup packet longer than 10000 bytes: FATAL 08P01 before it is read', async () => {
      const big = startupPacket({ user: testPg.user, database: fx.db.name, application_name: 'x'.repeat(10_050) });
      expect(big.length).toBeGreaterThan(10_000);
      const data = await rejected(big);
      expect(errorsIn(data).map((e) => [e.severity, e.code, e.message])).toEqual([['FATAL', '08P01', 'invalid length of startup packet']]);
      await freshClientWorks(proxy);
    });

    it('a startup packet with only its length word (10001) is refused without waiting for the rest', async () => {
      const b = Buffer.alloc(4);
      b.writeInt32BE(10_001, 0);
      const data = await rejected(b);
      expect(errorsIn(data).map((e) => e.code)).toEqual(['08P01']);
    });

    it('a truncated startup packet followed by close: the proxy closes its side, no session', async () => {
      const active = proxy.view.stats().clientsActive;
      const accepted = proxy.view.stats().clientsAccepted;
      const packet = startupPacket({ user: testPg.user, database: fx.db.name });
      const data = await rejected(packet.subarray(0, packet.length - 5), true);
      expect(data.length).toBe(0);
      expect(proxy.view.stats().clientsAccepted).toBe(accepted + 1);
      expect(proxy.view.stats().clientsActive).toBe(active);
      await bystanderWorks(bystander, 'after truncated startup');
      await freshClientWorks(proxy);
    });

    it('an SSLRequest with extra bytes in the same write: refused as unencrypted data after SSL request', async () => {
      const ssl = Buffer.alloc(8);
      ssl.writeInt32BE(8, 0);
      ssl.writeInt32BE(80877103, 4);
      const startup = startupPacket({ user: testPg.user, database: fx.db.name });
      const data = await rejected(Buffer.concat([ssl, startup]));
      const frames = parseBackendFrames(data, true).frames;
      // Never an 'S' (that would start a TLS handshake over bytes already sent in plain text).
      expect(frames.map((f) => f.type)).not.toContain('ssl:S');
      const errors = errorsIn(data, true);
      expect(errors.map((e) => [e.severity, e.code, e.message])).toEqual([['FATAL', '08P01', 'received unencrypted data after SSL request']]);
      await bystanderWorks(bystander, 'after ssl');
      await freshClientWorks(proxy);
    });

    it('a client that sends nothing is closed with FATAL 08P01 after connectTimeoutMs', async () => {
      const p = await startTestProxy({ plugins, connectTimeoutMs: 300 });
      try {
        const s = await rawConnect(p.port);
        const data = await within(s.closed, BOUND_MS, 'silent client to be timed out');
        expect(errorsIn(data).map((e) => [e.severity, e.code, e.message])).toEqual([['FATAL', '08P01', 'timeout waiting for startup packet']]);
        expect(p.view.stats().protocolErrors).toBe(1);
        await freshClientWorks(p);
      } finally {
        await p.close();
      }
    });

    it('a client that left during startup is not counted as a startup timeout later', async () => {
      const p = await startTestProxy({ plugins, connectTimeoutMs: 300 });
      try {
        // A leaves half-way through its startup packet (a TCP health check does the same, with no bytes at all).
        const a = await rawConnect(p.port);
        const packet = startupPacket({ user: testPg.user, database: fx.db.name });
        a.socket.end(packet.subarray(0, 10));
        expect((await within(a.closed, BOUND_MS, 'A to be closed')).length).toBe(0);
        const gone = await rawConnect(p.port);
        gone.socket.end();
        await within(gone.closed, BOUND_MS, 'empty connection to be closed');
        // B connects after both and stays silent: its timeout (same length) fires after theirs would have.
        const b = await rawConnect(p.port);
        const data = await within(b.closed, BOUND_MS, 'B to be timed out');
        expect(errorsIn(data).map((e) => e.code)).toEqual(['08P01']);
        // Only B was a protocol error.
        expect(p.view.stats().protocolErrors).toBe(1);
      } finally {
        await p.close();
      }
    });

    it('a startup packet rejected at once is counted as one protocol error, not again when its timer fires', async () => {
      const p = await startTestProxy({ plugins, connectTimeoutMs: 300 });
      try {
        const a = await rawConnect(p.port);
        a.socket.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
        expect(errorsIn(await within(a.closed, BOUND_MS, 'A to be rejected')).map((e) => e.code)).toEqual(['08P01']);
        expect(p.view.stats().protocolErrors).toBe(1);
        // B connects after A was rejected and stays silent: its timeout fires after A's timer would have.
        const b = await rawConnect(p.port);
        expect(errorsIn(await within(b.closed, BOUND_MS, 'B to be timed out')).map((e) => e.code)).toEqual(['08P01']);
        expect(p.view.stats().protocolErrors).toBe(2);
      } finally {
        await p.close();
      }
    });

    it('an SSLRequest alone is answered N and the same connection can then start up', async () => {
      const ssl = Buffer.alloc(8);
      ssl.writeInt32BE(8, 0);
      ssl.writeInt32BE(80877103, 4);
      const s = await rawConnect(proxy.port);
      s.socket.write(ssl);
      await waitUntil(() => s.received().length >= 1, 'SSL answer');
      expect(s.received().toString('latin1', 0, 1)).toBe('N');
      s.socket.write(startupPacket({ user: testPg.user, database: fx.db.name }));
      // The server's first answer to the startup packet: an authentication request (or AuthenticationOk).
      await waitUntil(() => parseBackendFrames(s.received(), true).frames.length >= 2 || s.isClosed(), 'answer to the startup packet');
      expect(parseBackendFrames(s.received(), true).frames[1]!.type).toBe('R');
      s.destroy();
      await freshClientWorks(proxy);
    });
  });

  describe('truncated frames', () => {
    const cases: Array<[string, number]> = [
      ['a small Query (first 7 bytes)', 0],
      ['a 200 kB Query (first half)', 200_000],
    ];

    it.each(cases)('%s then close: backend gone, proxy unharmed', async (_name, pad) => {
      await bystanderWorks(bystander, 'before');
      const active = proxy.view.stats().clientsActive;
      const s = await hijackedSession(through(proxy));
      expect(proxy.view.stats().clientsActive).toBe(active + 1);
      const sql = pad > 0 ? `SELECT length('${'y'.repeat(pad)}')` : 'SELECT 1';
      const q = queryFrame(sql);
      const cut = pad > 0 ? q.length >> 1 : 7;
      await new Promise<void>((r) => s.socket.write(q.subarray(0, cut), () => r()));
      // Let the half frame reach the proxy (and, when it streams, the server) before closing.
      await waitUntil(() => proxy.view.clients().some((c) => c.bytesIn >= cut), 'proxy to read the half frame');
      s.destroy();
      await waitBackendGone(s.backendPid);
      await waitUntil(() => proxy.view.stats().clientsActive === active, 'session to be closed');
      await bystanderWorks(bystander, 'after');
      await freshClientWorks(proxy);
    });
  });

  describe('an upstream that goes away', () => {
    it('pg_terminate_backend during pg_sleep(30): the client gets the server\'s own FATAL 57P01, nothing else', async () => {
      const s = await hijackedSession(through(proxy));
      const from = s.received().length;
      s.write(queryFrame('SELECT pg_sleep(30)'));
      await waitBackendRunning(s.backendPid, 'pg_sleep(30)');
      const { rows } = await fx.client.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [s.backendPid]);
      expect(rows[0]!.ok).toBe(true);
      const data = await within(s.closed, BOUND_MS, 'connection to close after the backend was terminated');
      const errors = errorsIn(data.subarray(from));
      expect(errors.map((e) => [e.severity, e.code])).toEqual([['FATAL', '57P01']]);
      expect(errors[0]!.message).toMatch(/terminating connection due to administrator command/);
      await bystanderWorks(bystander, 'after terminate');
      await freshClientWorks(proxy);
    });

    it('pg_terminate_backend seen through node-postgres: the query fails with 57P01', async () => {
      const c = await connect(through(proxy));
      c.on('error', () => {});
      const pid = await backendPidOf(c);
      const running = c.query('SELECT pg_sleep(30)');
      running.catch(() => {});
      await waitBackendRunning(pid, 'pg_sleep(30)');
      await fx.client.query('SELECT pg_terminate_backend($1)', [pid]);
      const err = await within(running.then(() => null, (e: Error & { code?: string }) => e), BOUND_MS, 'query to fail');
      expect(err).not.toBeNull();
      expect(err!.code).toBe('57P01');
      await c.end().catch(() => {});
    });

    describe('through a relay that gets killed', () => {
      let relay: KillableRelay;
      let relayed: TestProxy;

      beforeAll(async () => {
        relay = await startKillableRelay({ host: testPg.host, port: testPg.port });
        relayed = await startTestProxy({ plugins, upstream: { host: relay.host, port: relay.port } });
      });

      afterAll(async () => {
        await relayed?.close();
        await relay?.close();
      });

      it('the client gets FATAL 08006 (node-postgres), and the same proxy serves new clients after', async () => {
        const c = await connect(through(relayed));
        c.on('error', () => {});
        const pid = await backendPidOf(c);
        const running = c.query('SELECT pg_sleep(30)');
        running.catch(() => {});
        await waitBackendRunning(pid, 'pg_sleep(30)');
        expect(relay.killAll()).toBeGreaterThanOrEqual(1);
        const err = await within(running.then(() => null, (e: Error & { code?: string }) => e), BOUND_MS, 'query to fail');
        expect(err).not.toBeNull();
        expect(err!.code).toBe('08006');
        expect(err!.message).toMatch(/server closed the connection/);
        await c.end().catch(() => {});
        await fx.client.query('SELECT pg_terminate_backend($1)', [pid]);
        // Same proxy, same listener: the relay accepts again and so does the proxy.
        const accepted = relay.accepted;
        await freshClientWorks(relayed);
        expect(relay.accepted).toBe(accepted + 1);
        await waitUntil(() => relayed.view.stats().clientsActive === 0, 'relayed sessions to close');
        expect(relayed.view.stats().serversActive).toBe(0);
      });

      it('raw: exactly one ErrorResponse FATAL 08006 then close', async () => {
        const s = await hijackedSession(through(relayed));
        const from = s.received().length;
        s.write(queryFrame('SELECT pg_sleep(30)'));
        await waitBackendRunning(s.backendPid, 'pg_sleep(30)');
        relay.killAll();
        const data = await within(s.closed, BOUND_MS, 'connection to close after the relay died');
        const errors = errorsIn(data.subarray(from));
        expect(errors.map((e) => [e.severity, e.code])).toEqual([['FATAL', '08006']]);
        expect(errors[0]!.message).toMatch(/server closed the connection/);
        await fx.client.query('SELECT pg_terminate_backend($1)', [s.backendPid]);
        await freshClientWorks(relayed);
      });
    });

    it('an upstream that refuses connections: FATAL 08001 with a clear message; the proxy keeps accepting', async () => {
      const port = await closedPort();
      const refusing = await startTestProxy({ plugins, upstream: { host: '127.0.0.1', port } });
      try {
        for (let i = 0; i < 2; i++) {
          const err = await connect(through(refusing)).then(
            (c) => {
              void c.end();
              return null;
            },
            (e: Error & { code?: string; severity?: string }) => e,
          );
          expect(err).not.toBeNull();
          expect(err!.code).toBe('08001');
          expect(err!.severity).toBe('FATAL');
          expect(err!.message).toContain(`127.0.0.1:${port}`);
          expect(err!.message).toMatch(/could not connect to server/);
          expect(err!.message).toMatch(/ECONNREFUSED/);
        }
        expect(refusing.view.stats().upstreamConnectErrors).toBe(2);
        await waitUntil(() => refusing.view.stats().clientsActive === 0, 'failed sessions to close');
        expect(refusing.view.stats().serversActive).toBe(0);
        // Pointed at a live server, the same listener serves.
        refusing.reload({ upstream: { host: testPg.host, port: testPg.port, sslmode: 'disable' } });
        await freshClientWorks(refusing);
      } finally {
        await refusing.close();
      }
    });
  });

  describe('drain', () => {
    it('a running query gets its result, then 57P01; an idle client is closed at once; new connections are refused', async () => {
      const p = await startTestProxy({ plugins });
      const lock = await connect(pgConfig({ database: fx.db.name }));
      const busy = await connect(through(p));
      const idle = await connect(through(p));
      try {
        busy.on('error', () => {});
        idle.on('error', () => {});
        const busyPid = await backendPidOf(busy);
        const idlePid = await backendPidOf(idle);
        // Hold the query inside pg_sleep(1)'s statement until drain has started: the lock makes that certain.
        await lock.query('SELECT pg_advisory_lock(424242)');
        const busyError = nextClientError(busy);
        const busyEnded = clientEnded(busy);
        const idleError = nextClientError(idle);
        const running = busy.query<{ locked: string; slept: string }>(
          'SELECT pg_advisory_lock(424242)::text AS locked, pg_sleep(1)::text AS slept');
        running.catch(() => {});
        await waitUntil(async () => (await backendState(busyPid))?.wait_event_type === 'Lock', 'busy query to wait on the lock');

        const drained = p.drain(30_000);
        // The idle one goes now...
        const ie = await within(idleError, BOUND_MS, 'idle client to be closed');
        expect(ie.code).toBe('57P01');
        await waitBackendGone(idlePid);
        // ...the busy one stays while its query runs.
        expect(p.view.clients().map((c) => c.state)).toEqual(['active']);
        // New connections are refused.
        const refused = await connect(through(p)).then(
          (c) => {
            void c.end();
            return null;
          },
          (e: Error & { code?: string }) => e,
        );
        expect(refused).not.toBeNull();
        expect(['ECONNREFUSED', '57P03']).toContain(refused!.code);

        await lock.query('SELECT pg_advisory_unlock(424242)');
        const { rows } = await within(running, BOUND_MS, 'busy query to finish');
        expect(rows).toEqual([{ locked: '', slept: '' }]);
        const be = await within(busyError, BOUND_MS, 'busy client to be closed after its result');
        expect(be.code).toBe('57P01');
        await within(busyEnded, BOUND_MS, 'busy client connection to end');
        await within(drained, BOUND_MS, 'drain to finish');
        expect(p.view.stats().clientsActive).toBe(0);
        await waitBackendGone(busyPid);
      } finally {
        await lock.end();
        await busy.end().catch(() => {});
        await idle.end().catch(() => {});
        await p.close();
      }
    });

    it('a client in a transaction block is not idle: it may finish the transaction, then is closed', async () => {
      const p = await startTestProxy({ plugins });
      const c = await connect(through(p));
      c.on('error', () => {});
      try {
        const closedWith = nextClientError(c);
        await c.query('BEGIN');
        await c.query('CREATE TEMP TABLE drain_tx (v int)');
        const drained = p.drain(30_000);
        // Still open: the transaction can go on and commit.
        await c.query('INSERT INTO drain_tx VALUES (1)');
        const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM drain_tx');
        expect(rows).toEqual([{ n: 1 }]);
        await c.query('COMMIT');
        expect((await within(closedWith, BOUND_MS, 'client to be closed after COMMIT')).code).toBe('57P01');
        await within(drained, BOUND_MS, 'drain to finish');
      } finally {
        await c.end().catch(() => {});
        await p.close();
      }
    });

    it('with a short timeout it force-closes a client in pg_sleep(30) with 57P01', async () => {
      const p = await startTestProxy({ plugins });
      const c = await connect(through(p));
      c.on('error', () => {});
      try {
        const pid = await backendPidOf(c);
        const ended = clientEnded(c);
        const running = c.query('SELECT pg_sleep(30)');
        running.catch(() => {});
        await waitBackendRunning(pid, 'pg_sleep(30)');
        await within(p.drain(300), BOUND_MS, 'drain with a 300 ms timeout');
        const err = await within(running.then(() => null, (e: Error & { code?: string }) => e), BOUND_MS, 'query to fail');
        expect(err).not.toBeNull();
        expect(err!.code).toBe('57P01');
        await within(ended, BOUND_MS, 'client connection to end');
        expect(p.view.stats().clientsActive).toBe(0);
        expect(p.view.stats().serversActive).toBe(0);
      } finally {
        await c.end().catch(() => {});
        await p.close();
      }
    });

    it('a force-closed statement is stopped on the server, not left to run on and commit', async () => {
      // The client is told "terminating connection" (57P01): its autocommit INSERT must not commit afterwards.
      const table = `drain_force_${plugins}`;
      await fx.client.query(`CREATE TABLE ${table} (v int)`);
      const p = await startTestProxy({ plugins });
      const c = await connect(through(p));
      c.on('error', () => {});
      try {
        const pid = await backendPidOf(c);
        const running = c.query(`INSERT INTO ${table} SELECT 1 FROM pg_sleep(3)`);
        running.catch(() => {});
        await waitBackendRunning(pid, 'pg_sleep(3)');
        await within(p.drain(300), BOUND_MS, 'drain with a 300 ms timeout');
        const err = await within(running.then(() => null, (e: Error & { code?: string }) => e), BOUND_MS, 'query to fail');
        expect(err?.code).toBe('57P01');
        // Bounded wait for the backend to go, however it goes; then the row must not be there.
        await waitBackendGone(pid);
        const { rows } = await fx.client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
        expect(rows).toEqual([{ n: 0 }]);
      } finally {
        await c.end().catch(() => {});
        await p.close();
      }
    });
  });
});
