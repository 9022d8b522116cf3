// bench:ledger — the audit ledger's costs: pgbench -S through `helios proxy --plugins ledger`
// against `--plugins none` (every statement appended, batched), raw appends per second into the
// helios schema, the time to verify N entries (TypeScript and SQL), inclusion proof generation
// and verification times, and consistency proof generation time.
import { performance } from 'node:perf_hooks';
import { migrate } from '../src/control-schema.ts';
import { encodeLeaf, type LeafEntry } from '../src/ledger/leaf.ts';
import { leafHash, MerkleFrontier, verifyConsistency, verifyInclusion } from '../src/ledger/merkle/index.ts';
import { proveConsistency, proveInclusion } from '../src/ledger/proofs.ts';
import { appendLeaves, verifyLocal } from '../src/ledger/store.ts';
import { newClient, type ConnInfo } from './lib/conn.ts';
import { initTables, requirePgbench, runSelect } from './lib/pgbench.ts';
import { cleanupAll } from './lib/processes.ts';
import { startBenchServer } from './lib/server.ts';
import { startProxy, type TargetName } from './lib/targets.ts';

const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : d;
};
const quick = process.argv.includes('--quick');
const ENTRIES = arg('entries', quick ? 100_000 : 1_000_000);
const ROUNDS = arg('rounds', quick ? 1 : 5);
const SECONDS = arg('seconds', quick ? 5 : 8);
const BATCH = 5000;

/** A row-change entry as change capture writes it (row hashes, not data). */
const rowChange = (i: number): LeafEntry => ({
  kind: 'row',
  fields: {
    table: 'public.pgbench_accounts', op: 'update', key: { aid: i }, new: 'a3f1c2'.padEnd(64, '0'), old: null,
    lsn: `0/${(0x1000000 + i * 128).toString(16).toUpperCase()}`, xid: 1000 + Math.floor(i / 10), index: i % 10, time: '2026-11-25T00:00:00.000000Z',
  },
});

async function main(): Promise<void> {
  requirePgbench();
  const server = await startBenchServer({ maxConnections: 100, auth: 'trust' });
  console.log(`server: ${server.origin}`);
  const admin = newClient(server.conn);
  await admin.connect();
  await admin.query('CREATE DATABASE ledger');
  await admin.end();
  const conn: ConnInfo = { ...server.conn, database: 'ledger' };
  const db = newClient(conn, 600_000);
  await db.connect();
  await migrate(db);

  // 1. Proxy throughput with every statement appended to the ledger, against a passthrough with the
  // ledger off; and the same with metrics on both sides, where statements are tracked anyway (as
  // under --plugins all), which isolates what the ledger itself adds; and the default plugin set
  // (all: cost and budgets too) with and without the ledger. Rounds alternate the order;
  // the figure is the median of the per-round ratios, as in bench:proxy.
  await initTables(conn, 10);
  const specs: [string, string, string[]][] = [
    ['none', 'none', ['--ledger', 'off']],
    ['ledger', 'ledger', []],
    ['metrics', 'metrics', ['--ledger', 'off']],
    ['metrics+ledger', 'metrics,ledger', []],
    ['all-ledger', 'all', ['--ledger', 'off']],
    ['all', 'all', []],
  ];
  const targets = [];
  for (const [name, plugins, extra] of specs) targets.push(await startProxy(name as TargetName, conn, plugins, extra));
  const tps: Record<string, number[]> = Object.fromEntries(specs.map(([n]) => [n, []]));
  for (const t of targets) await runSelect(t.conn, 'simple', { clients: 16, jobs: 2, seconds: 2 });
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of r % 2 ? [...targets].reverse() : targets) {
      const run = await runSelect(t.conn, 'simple', { clients: 16, jobs: 2, seconds: SECONDS });
      tps[t.name]!.push(run.tps);
      console.log(`  [round ${r + 1}] ${t.name.padEnd(15)} ${Math.round(run.tps)} tps`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const paired = (a: string, b: string) => median(tps[a]!.map((x, i) => x / tps[b]![i]!));
  const ratio = paired('ledger', 'none');
  const ownRatio = paired('metrics+ledger', 'metrics');
  const defaultRatio = paired('all', 'all-ledger');
  const logged = (await db.query(
    "SELECT count(*) AS leaves, sum(jsonb_array_length(convert_from(substring(leaf FROM 10), 'UTF8')::jsonb -> 'statements' -> 'at')) AS statements FROM helios.ledger_entries WHERE kind = 'statements'",
  )).rows[0];
  console.log(`\nproxy, pgbench -S 16 clients, simple protocol, median of ${ROUNDS} paired rounds:`);
  console.log(`  ledger ${Math.round(median(tps.ledger!))} tps vs none ${Math.round(median(tps.none!))} tps = ${ratio.toFixed(3)}x`);
  console.log(`  metrics+ledger ${Math.round(median(tps['metrics+ledger']!))} tps vs metrics ${Math.round(median(tps.metrics!))} tps = ${ownRatio.toFixed(3)}x (the ledger's own cost once statements are tracked)`);
  console.log(`  all ${Math.round(median(tps.all!))} tps vs all but the ledger ${Math.round(median(tps['all-ledger']!))} tps = ${defaultRatio.toFixed(3)}x (the default plugin set, with and without the ledger)`);
  console.log(`  ${logged.statements} statements appended in ${logged.leaves} entries (${Math.round(median(tps.ledger!))} statements/s)`);
  for (const t of targets) await t.stop();

  // 2. Raw appends: leaf encoding, hashing and the frontier alone, then into the helios schema.
  {
    const f = new MerkleFrontier();
    const t0 = performance.now();
    for (let i = 0; i < ENTRIES; i++) f.append(leafHash(encodeLeaf(i, rowChange(i))));
    f.root();
    const s = (performance.now() - t0) / 1000;
    console.log(`\nin memory: ${ENTRIES} leaves encoded, hashed and appended to the frontier in ${s.toFixed(2)} s (${Math.round(ENTRIES / s)}/s)`);
  }
  const base = Number((await db.query('SELECT count(*) AS n FROM helios.ledger_entries')).rows[0].n);
  const t0 = performance.now();
  for (let done = 0; done < ENTRIES; done += BATCH) {
    await appendLeaves(db, Array.from({ length: Math.min(BATCH, ENTRIES - done) }, (_, i) => rowChange(done + i)));
    if ((done / BATCH) % 40 === 0) process.stdout.write(`  appended ${done} of ${ENTRIES}\r`);
  }
  const appendS = (performance.now() - t0) / 1000;
  const rawRate = ENTRIES / appendS;
  console.log(`raw appends into PostgreSQL: ${ENTRIES} in ${appendS.toFixed(1)} s = ${Math.round(rawRate)}/s (batches of ${BATCH}, one transaction each)`);
  const size = base + ENTRIES;

  // 3. Verification of the whole log.
  let t = performance.now();
  const v = await verifyLocal(db);
  const verifyS = (performance.now() - t) / 1000;
  t = performance.now();
  const sql = await db.query('SELECT ok FROM helios.verify_ledger()');
  const verifySqlS = (performance.now() - t) / 1000;
  console.log(`verify ${size} entries: ${verifyS.toFixed(1)} s in TypeScript (ok: ${v.ok}), ${verifySqlS.toFixed(1)} s in SQL helios.verify_ledger() (ok: ${sql.rows[0].ok})`);

  // 4. Inclusion proofs.
  const samples = quick ? 3 : 5;
  let genMs = 0;
  let verMs = 0;
  for (let i = 0; i < samples; i++) {
    const id = Math.floor(((i + 0.5) / samples) * size);
    t = performance.now();
    const p = await proveInclusion(db, id);
    genMs += performance.now() - t;
    const lh = Buffer.from(p.leafHash, 'hex');
    const proof = p.proof.map((h) => Buffer.from(h, 'hex'));
    const root = Buffer.from(p.root, 'hex');
    t = performance.now();
    for (let k = 0; k < 1000; k++) if (!verifyInclusion(id, p.size, lh, proof, root)) throw new Error('proof did not verify');
    verMs += (performance.now() - t) / 1000;
  }
  const nodeRows = Number((await db.query('SELECT count(*) AS n FROM helios.ledger_nodes')).rows[0].n);
  const how = `O(log n) small reads: ${nodeRows} interior nodes stored, one per aligned subtree of 256, 65,536, … leaves; leaf hashes only below 256`;
  console.log(`inclusion proof at size ${size}: generated in ${(genMs / samples).toFixed(1)} ms (${how}), verified in ${((verMs / samples) * 1000).toFixed(1)} µs`);

  // 5. Consistency proofs, from a third of the log to all of it (the old root is recomputed too).
  const m = Math.floor(size / 3);
  let consMs = 0;
  for (let i = 0; i < samples; i++) {
    t = performance.now();
    const c = await proveConsistency(db, m - i, size);
    consMs += performance.now() - t;
    if (!verifyConsistency(m - i, size, Buffer.from(c.rootM, 'hex'), Buffer.from(c.rootN, 'hex'), c.proof.map((h) => Buffer.from(h, 'hex')))) throw new Error('consistency proof did not verify');
  }
  console.log(`consistency proof ${m} -> ${size}: generated in ${(consMs / samples).toFixed(1)} ms (root at ${m} included; ${how})`);

  console.log('\ngoals');
  console.log(`${ratio >= 0.9 ? 'PASS' : 'MISS'}  ledger costs under 10% of a bare passthrough's throughput (${ratio.toFixed(3)}x against none; ${ownRatio.toFixed(3)}x against metrics alone)`);
  console.log(`${defaultRatio >= 0.9 ? 'PASS' : 'MISS'}  ledger costs under 10% of the default proxy's throughput (${defaultRatio.toFixed(3)}x: all against all but the ledger)`);
  console.log(`${rawRate >= 50_000 ? 'PASS' : 'MISS'}  raw appends >= 50,000/s (${Math.round(rawRate)}/s)`);
  console.log(`${size >= 1_000_000 ? (verifyS < 10 ? 'PASS' : 'MISS') : 'n/a '}  verify 1M entries in under 10 s (${verifyS.toFixed(1)} s for ${size})`);
  console.log(JSON.stringify({ bench: 'ledger', proxyRatio: ratio, ledgerOwnRatio: ownRatio, defaultRatio, tps, rawAppendsPerSecond: Math.round(rawRate), entries: size, verifySeconds: verifyS, verifySqlSeconds: verifySqlS, proofGenerateMs: genMs / samples, proofVerifyMicros: (verMs / samples) * 1000, consistencyProofGenerateMs: consMs / samples, ledgerNodes: nodeRows }));
  await db.end();
}

try {
  await main();
} finally {
  await cleanupAll();
}
