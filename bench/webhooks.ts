// bench:webhooks — committed changes to delivered webhooks, end to end: PostgreSQL (embedded,
// wal_level=logical) -> `helios proxy` (change capture, outbox, delivery workers) -> a minimal
// Node receiver answering 204 in its own process. It measures the receiver's own ceiling first,
// then inserts at a fixed rate (commit-to-delivery latency) and then flat out (deliveries per
// second, one event per request), printing slot lag and queue depth each second.
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { migrate } from '../src/control-schema.ts';
import { HttpSender, deliveryTarget } from '../src/webhooks/http-sender.ts';
import { Signer } from '../src/webhooks/signing.ts';
import { newClient, toUrl, type ConnInfo } from './lib/conn.ts';
import { freePort } from './lib/net.ts';
import { cleanupAll, spawnChild } from './lib/processes.ts';
import { startBenchServer } from './lib/server.ts';
import { REPO_ROOT } from './lib/targets.ts';

const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : d;
};
const quick = process.argv.includes('--quick');
const RATE = arg('rate', 1000);
const FIXED_SECONDS = arg('seconds', quick ? 5 : 20);
const FLAT = arg('flat', quick ? 30_000 : 200_000);
const CEILING_SECONDS = quick ? 2 : 5;
const SECRET = 'whsec_' + Buffer.alloc(32, 9).toString('base64');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Report {
  count: number;
  firstAt: number;
  lastAt: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

function ask(receiver: ChildProcess, reset = false): Promise<Report> {
  return new Promise((resolve) => {
    receiver.once('message', (m) => resolve(m as Report));
    receiver.send({ report: true, reset });
  });
}

const ms = (v: number | null) => (v === null ? '-' : `${v.toFixed(1)} ms`);

async function main(): Promise<void> {
  const server = await startBenchServer({ maxConnections: 100, auth: 'trust', logical: true });
  console.log(`server: ${server.origin}`);
  const admin = newClient(server.conn);
  await admin.connect();
  await admin.query('CREATE DATABASE hooks');
  await admin.end();
  const conn: ConnInfo = { ...server.conn, database: 'hooks' };
  const db = newClient(conn, 60_000);
  await db.connect();
  await migrate(db);
  await db.query('CREATE TABLE bench_events (id bigserial PRIMARY KEY, account int NOT NULL, payload text NOT NULL)');

  const receiver = fork(join(REPO_ROOT, 'bench/lib/bench-receiver-main.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { url } = await new Promise<{ url: string }>((resolve) => receiver.once('message', (m) => resolve(m as { url: string })));

  // 1. The receiver's own ceiling: signed single-event POSTs from this process, 128 in flight.
  {
    const sender = new HttpSender({ connections: 64, timeoutMs: 5000 });
    const signer = new Signer([SECRET]);
    const target = deliveryTarget(url);
    const body = JSON.stringify({ type: 'row.insert', timestamp: new Date().toISOString(), data: { id: '0/0:0', table: 'public.bench_events', new: { id: 1, payload: 'x'.repeat(64) }, commit_time: new Date().toISOString() } });
    await ask(receiver, true);
    const until = Date.now() + CEILING_SECONDS * 1000;
    let n = 0;
    await Promise.all(Array.from({ length: 128 }, async () => {
      while (Date.now() < until) {
        await sender.send(target, body, signer.headers(`0/0:${n++}`, Math.floor(Date.now() / 1000), body));
      }
    }));
    await sender.closeAll();
    const r = await ask(receiver, true);
    console.log(`receiver ceiling: ${Math.round(r.count / ((r.lastAt - r.firstAt) / 1000))} requests/s (signed POSTs from one Node process, 128 in flight)`);
    ceiling = r.count / ((r.lastAt - r.firstAt) / 1000);
  }

  // 2. The sidecar.
  await db.query(`SELECT * FROM helios.create_webhook('bench', $1, ARRAY['public.bench_events'], ARRAY['insert'], NULL, $2, 1, NULL, 8)`, [url, SECRET]);
  const port = await freePort();
  const httpPort = await freePort();
  const sidecar = spawnChild('helios proxy', process.execPath, [join(REPO_ROOT, 'bin', 'helios.js'), 'proxy',
    '--upstream', toUrl(conn), '--listen', `127.0.0.1:${port}`, '--http', `127.0.0.1:${httpPort}`, '--plugins', 'none', '--log-level', 'warn'], {
    cwd: REPO_ROOT,
    env: { ...process.env, HELIOS_CDC_SLOT: 'helios_bench' },
  });
  for (let i = 0; ; i++) {
    const { rows } = await db.query("SELECT active FROM pg_replication_slots WHERE slot_name = 'helios_bench'");
    if (rows[0]?.active) break;
    if (i > 300) throw new Error(`the sidecar did not start streaming:\n${sidecar.output().slice(-2000)}`);
    await sleep(100);
  }
  const sample = async () => {
    const { rows } = await db.query<{ lag: string | null; pending: string }>(
      `SELECT (SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) FROM pg_replication_slots WHERE slot_name = 'helios_bench')::text AS lag,
              (SELECT count(*) FROM helios.webhook_outbox WHERE state = 'pending')::text AS pending`,
    );
    return { lag: Number(rows[0]!.lag ?? 0), pending: Number(rows[0]!.pending) };
  };
  const waitDelivered = async (total: number, label: string, print: boolean) => {
    const started = Date.now();
    let last = -1;
    let stalled = Date.now();
    for (;;) {
      const r = await ask(receiver);
      if (print) {
        const s = await sample();
        console.log(`  ${label} t=${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s  delivered ${String(r.count).padStart(7)} / ${total}  slot lag ${(s.lag / 1024).toFixed(0).padStart(6)} KiB  outbox pending ${s.pending}`);
      }
      if (r.count >= total) return r;
      if (r.count !== last) {
        last = r.count;
        stalled = Date.now();
      } else if (Date.now() - stalled > 60_000) throw new Error(`deliveries stalled at ${r.count} of ${total}:\n${sidecar.output().slice(-2000)}`);
      await sleep(print ? 1000 : 100);
    }
  };

  // Warm-up: connections, JIT, plans.
  await db.query("INSERT INTO bench_events (account, payload) SELECT g % 100, repeat('w', 64) FROM generate_series(1, 2000) g");
  await waitDelivered(2000, 'warm-up', false);
  await ask(receiver, true);

  // 3. Fixed rate: RATE events/s in 100 transactions per second.
  const perTick = Math.max(1, Math.round(RATE / 100));
  const ticks = FIXED_SECONDS * 100;
  const t0 = performance.now();
  for (let i = 0; i < ticks; i++) {
    const due = t0 + i * 10;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    await db.query(`INSERT INTO bench_events (account, payload) SELECT g % 100, repeat('f', 64) FROM generate_series(1, ${perTick}) g`);
  }
  const fixedSent = ticks * perTick;
  const fixedRate = fixedSent / ((performance.now() - t0) / 1000);
  const fixed = await waitDelivered(fixedSent, 'fixed', process.argv.includes('--verbose'));
  console.log(`\nfixed rate: ${Math.round(fixedRate)} events/s for ${FIXED_SECONDS} s (${perTick} rows per transaction, 100 transactions/s): commit-to-delivery p50 ${ms(fixed.p50)}, p95 ${ms(fixed.p95)}, p99 ${ms(fixed.p99)}, max ${ms(fixed.max)}`);
  // Where the time went, from the outbox's own timestamps: commit to stored (capture), stored to delivered (workers).
  const split = await db.query<{ q: string; capture: number; delivery: number }>(
    `SELECT q::text, percentile_cont(q) WITHIN GROUP (ORDER BY extract(epoch FROM created_at - commit_time) * 1000) AS capture,
            percentile_cont(q) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - created_at) * 1000) AS delivery
     FROM helios.webhook_outbox, unnest(ARRAY[0.5, 0.95, 0.99]) AS q WHERE body LIKE '%"payload":"ffff%' GROUP BY q ORDER BY q`,
  );
  console.log(`  of which commit -> outbox ${split.rows.map((r) => `p${Number(r.q) * 100} ${r.capture.toFixed(1)} ms`).join(', ')}; outbox -> delivered ${split.rows.map((r) => `p${Number(r.q) * 100} ${r.delivery.toFixed(1)} ms`).join(', ')}`);
  await ask(receiver, true);

  // 4. Flat out: FLAT events inserted as fast as PostgreSQL takes them, 1,000 per transaction.
  console.log(`\nflat out: ${FLAT} events, one per request (batching off)`);
  const f0 = Date.now();
  const inserting = (async () => {
    for (let done = 0; done < FLAT; done += 1000) {
      await db.query(`INSERT INTO bench_events (account, payload) SELECT g % 100, repeat('z', 64) FROM generate_series(1, ${Math.min(1000, FLAT - done)}) g`);
    }
    return Date.now();
  })();
  const flat = await waitDelivered(FLAT, 'flat', true);
  const insertedAt = await inserting;
  const endToEnd = FLAT / ((flat.lastAt - f0) / 1000);
  const deliveryRate = flat.count / ((flat.lastAt - flat.firstAt) / 1000);
  console.log(`  inserted in ${((insertedAt - f0) / 1000).toFixed(1)} s (${Math.round(FLAT / ((insertedAt - f0) / 1000))} rows/s)`);
  console.log(`  end to end: ${Math.round(endToEnd)} events/s (first insert to last delivery); deliveries ${Math.round(deliveryRate)}/s (first to last delivery)`);
  console.log(`  commit-to-delivery p50 ${ms(flat.p50)}, p95 ${ms(flat.p95)}, p99 ${ms(flat.p99)} (includes queueing behind the backlog)`);

  console.log('\ngoals');
  console.log(`${deliveryRate >= 10_000 ? 'PASS' : 'MISS'}  >= 10,000 deliveries/s sustained, one event per request (${Math.round(deliveryRate)}/s; receiver ceiling ${Math.round(ceiling)}/s)`);
  console.log(`${fixed.p99 !== null && fixed.p99 < 100 ? 'PASS' : 'MISS'}  p99 < 100 ms at ${RATE} events/s (${ms(fixed.p99)})`);
  console.log(JSON.stringify({
    bench: 'webhooks', receiverCeiling: Math.round(ceiling), fixed: { rate: Math.round(fixedRate), seconds: FIXED_SECONDS, p50: fixed.p50, p95: fixed.p95, p99: fixed.p99 },
    flat: { events: FLAT, endToEndPerSecond: Math.round(endToEnd), deliveriesPerSecond: Math.round(deliveryRate), p50: flat.p50, p95: flat.p95, p99: flat.p99 },
  }));
  receiver.kill();
  await sidecar.stop();
  await db.end();
}

let ceiling = 0;
try {
  await main();
} finally {
  await cleanupAll();
}
