// The CDC webhook crash test: a generator commits row changes in mixed transaction sizes (one
// larger than logical_decoding_work_mem, UPDATEs and DELETEs of the same keys) while the sidecar
// is SIGKILLed again and again (some kills right after the receiver answered 2xx, before the
// sidecar could record it), PostgreSQL restarts once, and a receiver in its own process answers
// 500s, times out or is slow at random. Afterwards: every change arrived (unique event ids equal
// the expected set), duplicates are byte-identical, per-row order held, and the slot's confirmed
// position, sampled every 100 ms, never passed the durable checkpoint.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrate } from '../../src/control-schema.ts';
import { verifyLocal } from '../../src/ledger/store.ts';
import { parseLsn } from '../../src/cdc/lsn.ts';
import { newClient, toUrl, type ConnInfo } from './conn.ts';
import { freePort } from './net.ts';
import { spawnChild, type Child } from './processes.ts';
import { startBenchServer, type BenchServer } from './server.ts';
import { REPO_ROOT } from './targets.ts';

export interface CrashOptions {
  changes: number;
  kills: number;
  /** Rows the big transaction writes (each ~200 bytes; the database's logical_decoding_work_mem is 64 kB). */
  bigTransactionRows: number;
  keys: number;
  seed: number;
  log: (line: string) => void;
  /** Give up waiting for the last deliveries after this long without progress. */
  stallMs: number;
}

export interface CrashReport {
  changes: number;
  transactions: number;
  kills: number;
  killsAfter2xx: number;
  postgresRestarts: number;
  deliveries: number;
  uniqueEvents: number;
  duplicates: number;
  duplicateMismatches: number;
  missing: number;
  unexpected: number;
  orderViolations: number;
  slotSamples: number;
  slotViolations: number;
  /** Audit ledger entries of the table's row changes, distinct changes among them, and whether the log verifies. */
  ledgerRows: number;
  ledgerDistinct: number;
  ledgerVerified: boolean;
  seconds: number;
}

interface Expected {
  op: 'insert' | 'update' | 'delete';
  id: number;
  v: number;
}

const SECRET = 'whsec_' + Buffer.alloc(32, 42).toString('base64');
const SLOT = 'helios_crash';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runCrash(o: CrashOptions): Promise<CrashReport> {
  const started = Date.now();
  const random = rng(o.seed);
  const server = await startBenchServer({ maxConnections: 100, auth: 'trust', logical: true });
  const dir = mkdtempSync(join(tmpdir(), 'helios-crash-'));
  const logFile = join(dir, 'received.jsonl');
  let receiver: ChildProcess | undefined;
  let sidecar: Child | undefined;
  const report: CrashReport = {
    changes: 0, transactions: 0, kills: 0, killsAfter2xx: 0, postgresRestarts: 0, deliveries: 0, uniqueEvents: 0, duplicates: 0,
    duplicateMismatches: 0, missing: 0, unexpected: 0, orderViolations: 0, slotSamples: 0, slotViolations: 0, ledgerRows: 0, ledgerDistinct: 0, ledgerVerified: false, seconds: 0,
  };
  let sampling = true;
  let sampler: Promise<void> | undefined;
  try {
    const conn: ConnInfo = { ...server.conn, database: 'crash' };
    const admin = newClient(server.conn);
    await admin.connect();
    await admin.query('CREATE DATABASE crash');
    // Small, so the big transaction is larger than the walsender keeps in memory (it spills to disk).
    await admin.query("ALTER DATABASE crash SET logical_decoding_work_mem = '64kB'");
    await admin.end();

    const db = newClient(conn);
    await db.connect();
    await migrate(db);
    await db.query('CREATE TABLE crash_items (id int PRIMARY KEY, v bigint NOT NULL, pad text)');
    // Deletes carry the old row, so each is told apart by the value it removed.
    await db.query('ALTER TABLE crash_items REPLICA IDENTITY FULL');

    receiver = fork(join(REPO_ROOT, 'test/support/webhook-receiver-main.ts'), ['--chaos', '0.05,0.02,0.05,300', '--log', logFile, '--secret', SECRET], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = await new Promise<{ url: string }>((resolve, reject) => {
      receiver!.once('message', (m) => resolve(m as { url: string }));
      receiver!.once('exit', () => reject(new Error('receiver exited')));
    });
    await db.query(`SELECT * FROM helios.create_webhook('crash', $1, ARRAY['public.crash_items'], ARRAY['insert','update','delete'], NULL, $2, 1, NULL, 100)`, [ready.url, SECRET]);

    const httpPort = await freePort();
    const startSidecar = async () => {
      const port = await freePort();
      sidecar = spawnChild('helios proxy', process.execPath, [join(REPO_ROOT, 'bin', 'helios.js'), 'proxy',
        '--upstream', toUrl(conn), '--listen', `127.0.0.1:${port}`, '--http', `127.0.0.1:${httpPort}`, '--plugins', 'none', '--log-level', 'warn'], {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          HELIOS_CDC_SLOT: SLOT,
          HELIOS_WEBHOOK_RETRY: '50ms,100ms,200ms,400ms,800ms,1s',
          HELIOS_WEBHOOK_LEASE: '5s',
          HELIOS_WEBHOOK_TIMEOUT: '1s',
          HELIOS_WEBHOOK_POLL: '200ms',
        },
      });
    };
    await startSidecar();
    // Changes committed before the slot exists are not captured: generate once it streams.
    for (let i = 0; ; i++) {
      const { rows } = await db.query('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [SLOT]);
      if (rows[0]?.active) break;
      if (i > 600) throw new Error(`the sidecar never started streaming:\n${sidecar!.output().slice(-1500)}`);
      await sleep(100);
    }

    // Slot confirmed position vs durable checkpoint, read in that order (the checkpoint only grows).
    sampler = (async () => {
      let c: pg.Client | undefined;
      while (sampling) {
        try {
          if (!c) {
            c = newClient(conn);
            c.on('error', () => {});
            await c.connect();
          }
          const slot = await c.query<{ l: string | null }>('SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE slot_name = $1', [SLOT]);
          const cp = await c.query<{ l: string }>('SELECT checkpoint_lsn::text AS l FROM helios.cdc_slots WHERE slot_name = $1', [SLOT]);
          const confirmed = slot.rows[0]?.l;
          const checkpoint = cp.rows[0]?.l;
          if (confirmed && checkpoint) {
            report.slotSamples++;
            if (parseLsn(confirmed) > parseLsn(checkpoint)) {
              report.slotViolations++;
              o.log(`slot confirmed ${confirmed} is past the checkpoint ${checkpoint}`);
            }
          }
        } catch {
          await c?.end().catch(() => {});
          c = undefined;
        }
        await sleep(100);
      }
      await c?.end().catch(() => {});
    })();

    // The killer: at random moments, and every third time right after the receiver's next 2xx.
    let pausedForRestart = false;
    const killer = (async () => {
      while (report.kills < o.kills) {
        await sleep(300 + random() * 1500);
        if (pausedForRestart) continue;
        const after2xx = report.kills % 3 === 2;
        if (after2xx) {
          const accepted = new Promise<boolean>((resolve) => {
            const t = setTimeout(() => resolve(false), 10_000);
            receiver!.once('message', () => {
              clearTimeout(t);
              resolve(true);
            });
          });
          receiver!.send({ arm: true });
          if (await accepted) report.killsAfter2xx++;
        }
        process.kill(sidecar!.pid, 'SIGKILL');
        await sidecar!.exited.catch(() => {});
        report.kills++;
        await startSidecar();
      }
    })();

    // The generator.
    const model = new Map<number, number>();
    const expected: Expected[] = [];
    let seq = 0;
    const bigAt = Math.floor(o.changes / 3);
    const restartAt = Math.floor(o.changes / 2);
    let bigDone = false;
    let restarted = false;
    let gen = db;
    // Spread over the kills, so they land while changes are being written and delivered.
    const paceMs = o.kills * 1500;
    const genStarted = Date.now();
    while (report.changes < o.changes) {
      const behind = genStarted + (report.changes / o.changes) * paceMs - Date.now();
      if (behind > 0) await sleep(behind);
      if (!restarted && report.changes >= restartAt) {
        pausedForRestart = true;
        o.log(`restarting PostgreSQL at ${report.changes} changes`);
        await gen.end().catch(() => {});
        await server.restart();
        report.postgresRestarts++;
        gen = newClient(conn);
        await gen.connect();
        restarted = true;
        pausedForRestart = false;
      }
      const big = !bigDone && report.changes >= bigAt;
      const r = random();
      const size = big ? o.bigTransactionRows : r < 0.7 ? 1 : r < 0.95 ? 2 + Math.floor(random() * 49) : 51 + Math.floor(random() * 450);
      const ops: Expected[] = [];
      const local = new Map<number, number | undefined>();
      const current = (id: number) => (local.has(id) ? local.get(id) : model.get(id));
      await gen.query('BEGIN');
      for (let i = 0; i < size; i++) {
        const id = 1 + Math.floor(random() * o.keys);
        const v = ++seq;
        const had = current(id);
        const pad = big ? 'p'.repeat(200) : null;
        if (had === undefined) {
          await gen.query('INSERT INTO crash_items (id, v, pad) VALUES ($1, $2, $3)', [id, v, pad]);
          ops.push({ op: 'insert', id, v });
          local.set(id, v);
        } else if (random() < 0.7) {
          await gen.query('UPDATE crash_items SET v = $2, pad = $3 WHERE id = $1', [id, v, pad]);
          ops.push({ op: 'update', id, v });
          local.set(id, v);
        } else {
          await gen.query('DELETE FROM crash_items WHERE id = $1', [id]);
          ops.push({ op: 'delete', id, v: had });
          local.set(id, undefined);
        }
      }
      await gen.query('COMMIT');
      if (big) bigDone = true;
      for (const [id, v] of local) {
        if (v === undefined) model.delete(id);
        else model.set(id, v);
      }
      expected.push(...ops);
      report.changes += ops.length;
      report.transactions++;
      if (report.transactions % 500 === 0) o.log(`generated ${report.changes} changes in ${report.transactions} transactions; ${report.kills} kills so far`);
    }
    await killer;
    await gen.end().catch(() => {});
    const db2 = newClient(conn);
    await db2.connect();
    o.log(`generated ${report.changes} changes; ${report.kills} kills; waiting for the last deliveries`);

    // Wait for every expected change to arrive (progress-based timeout).
    const read = () => {
      const text = (() => {
        try {
          return readFileSync(logFile, 'utf8');
        } catch {
          return '';
        }
      })();
      return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string; bodySha256: string; events: Array<{ id: string; op: string; key: { id: number }; new: { v: string | number } | null; old: { v: string | number } | null }> });
    };
    let last = -1;
    let lastChange = Date.now();
    let lastReport = Date.now();
    for (;;) {
      const ids = new Set(read().map((d) => d.id));
      if (ids.size >= expected.length) break;
      if (Date.now() - lastReport > 5000) {
        lastReport = Date.now();
        const ob = await db2.query<{ n: number; d: number; leased: number }>("SELECT count(*)::int AS n, count(*) FILTER (WHERE state = 'delivered')::int AS d, count(*) FILTER (WHERE lease_until > now())::int AS leased FROM helios.webhook_outbox").catch(() => ({ rows: [] as { n: number; d: number; leased: number }[] }));
        o.log(`received ${ids.size} of ${expected.length} events; outbox ${JSON.stringify(ob.rows[0] ?? {})}`);
      }
      if (ids.size !== last) {
        last = ids.size;
        lastChange = Date.now();
      }
      if (Date.now() - lastChange > o.stallMs) {
        const states = await db2.query("SELECT state, count(*)::int AS n, max(last_error) AS err FROM helios.webhook_outbox GROUP BY state").catch(() => ({ rows: [] }));
        o.log(`no progress for ${o.stallMs} ms at ${ids.size} of ${expected.length} events; outbox ${JSON.stringify(states.rows)}; sidecar:\n${sidecar?.output().slice(-1500)}`);
        break;
      }
      await sleep(250);
    }

    // The ledger's row entries commit in the same hand-off transactions as the outbox: one per change, none twice.
    const ledger = await db2.query<{ n: string; distinct: string }>(
      `SELECT count(*) AS n, count(DISTINCT (j->>'lsn', j->>'index')) AS distinct
         FROM (SELECT convert_from(substring(leaf FROM 10), 'UTF8')::jsonb AS j FROM helios.ledger_entries WHERE kind = 'row') e
        WHERE j->>'table' = 'public.crash_items'`,
    );
    report.ledgerRows = Number(ledger.rows[0]!.n);
    report.ledgerDistinct = Number(ledger.rows[0]!.distinct);
    report.ledgerVerified = (await verifyLocal(db2)).ok;
    await db2.end().catch(() => {});
    // Verification.
    const deliveries = read();
    report.deliveries = deliveries.length;
    const bodyById = new Map<string, string>();
    const firstSeen: Array<{ id: string; op: string; key: number; v: number }> = [];
    for (const d of deliveries) {
      const prev = bodyById.get(d.id);
      if (prev !== undefined) {
        report.duplicates++;
        if (prev !== d.bodySha256) report.duplicateMismatches++;
        continue;
      }
      bodyById.set(d.id, d.bodySha256);
      const e = d.events[0]!;
      const row = e.op === 'delete' ? e.old : e.new;
      firstSeen.push({ id: e.id, op: e.op, key: e.key.id, v: Number(row?.v) });
    }
    report.uniqueEvents = firstSeen.length;
    const want = new Map<string, number>();
    for (const x of expected) want.set(`${x.op}:${x.id}:${x.v}`, (want.get(`${x.op}:${x.id}:${x.v}`) ?? 0) + 1);
    for (const x of firstSeen) {
      const k = `${x.op}:${x.key}:${x.v}`;
      const n = want.get(k) ?? 0;
      if (n === 0) report.unexpected++;
      else want.set(k, n - 1);
    }
    for (const n of want.values()) report.missing += n;
    // Per key, first arrivals must follow the order the generator committed them in.
    const order = new Map<number, string[]>();
    for (const x of expected) (order.get(x.id) ?? order.set(x.id, []).get(x.id)!).push(`${x.op}:${x.v}`);
    const got = new Map<number, string[]>();
    for (const x of firstSeen) (got.get(x.key) ?? got.set(x.key, []).get(x.key)!).push(`${x.op}:${x.v}`);
    for (const [key, seqs] of got) {
      const exp = order.get(key) ?? [];
      let j = 0;
      for (const s of seqs) {
        const at = exp.indexOf(s, j);
        if (at < 0) report.orderViolations++;
        else j = at + 1;
      }
    }
    return report;
  } finally {
    sampling = false;
    await sampler?.catch(() => {});
    await sidecar?.stop(3000).catch(() => {});
    receiver?.kill();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
    report.seconds = (Date.now() - started) / 1000;
  }
}
