// npm run bench:idle — RSS of the proxy process holding N idle client sessions, each a real
// session (startup, auth, one query) with its own upstream connection. Goal: <= 200 MB at 1,000.
//
// Flags: --connections N (1000) | --batch N (50) | --targets pipe,passthrough,plugins
//        --auth trust|scram-sha-256|md5 (embedded server)
// Env:   HELIOS_BENCH_PG_URL=postgres://... (needs max_connections >= connections + 10)
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { newClient, type ConnInfo } from './lib/conn.ts';
import { cleanupAll, shuttingDown } from './lib/processes.ts';
import { table } from './lib/report.ts';
import { readRss, type Rss } from './lib/proc-stats.ts';
import { AUTH_METHODS, startBenchServer } from './lib/server.ts';
import { startTarget, type TargetName } from './lib/targets.ts';

const GOAL_MB = 200;
const GOAL_TARGETS: readonly string[] = ['passthrough', 'plugins']; // pipe is only the reference
const KNOWN = ['pipe', 'passthrough', 'plugins'] as const;

const { values: flags } = parseArgs({
  options: {
    connections: { type: 'string', default: '1000' }, batch: { type: 'string', default: '50' },
    targets: { type: 'string', default: KNOWN.join(',') }, auth: { type: 'string', default: 'trust' },
  },
});
const connections = Number(flags.connections);
const batch = Number(flags.batch);
const wanted = pick(flags.targets!, KNOWN);
const [auth] = pick(flags.auth!, AUTH_METHODS);

interface Row { target: string; opened: number; before?: Rss; held?: Rss; status: 'PASS' | 'MISS' | 'ref' | 'fail'; note?: string }

async function main(): Promise<void> {
  const server = await startBenchServer({ maxConnections: connections + 100, auth: auth! });
  console.log(`server: ${server.origin}, max_connections ${server.maxConnections}`);
  if (server.maxConnections < connections + 10) {
    throw new Error(`server max_connections is ${server.maxConnections}; ${connections} proxied sessions need at least ${connections + 10}`);
  }
  const rows: Row[] = [];
  for (const name of wanted) {
    rows.push(await measure(name, server.conn, server.auth));
    if (shuttingDown()) return;
  }

  const mb = (r?: Rss, k: keyof Rss = 'rssMb') => (r ? r[k].toFixed(1) : '-');
  console.log(`\nproxy process memory, ${connections} idle sessions (MB = MiB; goal <= ${GOAL_MB} MB for ${GOAL_TARGETS.join(', ')})`);
  const cols = ['sessions', 'rss before', 'rss held', 'peak', 'KB/session', 'goal'];
  console.log(table(rows.map((r) => r.target), cols, (t, c) => {
    const r = rows.find((x) => x.target === t)!;
    switch (c) {
      case 'sessions': return String(r.opened);
      case 'rss before': return mb(r.before);
      case 'rss held': return mb(r.held);
      case 'peak': return mb(r.held, 'peakMb');
      case 'KB/session': return r.before && r.held && r.opened ? (((r.held.rssMb - r.before.rssMb) * 1024) / r.opened).toFixed(0) : '-';
      default: return r.status;
    }
  }, 'target'));
  const notes = rows.filter((r) => r.note).map((r) => `- ${r.target}: ${r.note}`);
  if (notes.length) console.log(`\nnotes\n${notes.join('\n')}`);
  console.log(JSON.stringify({ bench: 'idle', connections, goalMb: GOAL_MB, auth: server.auth, results: rows }));
}

async function measure(name: TargetName, server: ConnInfo, authMethod: (typeof AUTH_METHODS)[number]): Promise<Row> {
  let target;
  try {
    target = await startTarget(name, server, authMethod, connections);
  } catch (err) {
    return { target: name, opened: 0, status: 'fail', note: `failed to start: ${(err as Error).message}` };
  }
  const pid = target.child!.pid;
  const clients: pg.Client[] = [];
  const row: Row = { target: name, opened: 0, status: 'fail' };
  try {
    await new Promise((r) => setTimeout(r, 1000)); // let start-up garbage settle before the baseline
    row.before = readRss(pid);
    // Batches keep the 2-core machine from a thousand simultaneous forks + handshakes.
    for (let i = 0; i < connections; i += batch) {
      const group = Array.from({ length: Math.min(batch, connections - i) }, () => newClient(target.conn, 30_000));
      clients.push(...group);
      await Promise.all(group.map(async (c) => { await c.connect(); await c.query('SELECT 1'); }));
      row.opened = clients.length;
      if (row.opened % 250 < batch) console.log(`${name}: ${row.opened}/${connections} sessions, rss ${readRss(pid).rssMb.toFixed(1)} MB`);
    }
    await new Promise((r) => setTimeout(r, 2000)); // idle, as the goal says
    row.held = readRss(pid);
    await assertUpstreams(server, connections);
    row.status = GOAL_TARGETS.includes(name) ? (row.held.rssMb <= GOAL_MB ? 'PASS' : 'MISS') : 'ref';
  } catch (err) {
    row.note = `after ${row.opened} sessions: ${(err as Error).message}`;
  } finally {
    for (let i = 0; i < clients.length; i += batch) {
      await Promise.all(clients.slice(i, i + batch).map((c) => c.end().catch(() => {})));
    }
    await target.stop();
  }
  return row;
}

/** Every proxied session must hold its own server backend, or the figure means nothing. */
async function assertUpstreams(server: ConnInfo, want: number): Promise<void> {
  const c = newClient(server);
  try {
    await c.connect();
    const r = await c.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`);
    const n = Number(r.rows[0]!.n);
    if (n < want) throw new Error(`server shows ${n} client backends, expected >= ${want}`);
  } finally {
    await c.end().catch(() => {});
  }
}

function pick<T extends string>(list: string, known: readonly T[]): T[] {
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = names.filter((n) => !known.includes(n as T));
  if (bad.length) throw new Error(`unknown value(s): ${bad.join(', ')}; known: ${known.join(', ')}`);
  return names as T[];
}

let code = 0;
try {
  await main();
} catch (err) {
  console.error(`bench:idle failed: ${(err as Error).message}`);
  code = 1;
} finally {
  await cleanupAll();
}
process.exit(code);
