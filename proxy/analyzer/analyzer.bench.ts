// Micro-benchmark of the statement analyzer: npx tsx proxy/analyzer/analyzer.bench.ts
//
// Prints µs per analyzeQuery call for the cases that decide proxy throughput under
// `pgbench -S`: the same text again (exact hit), the same statement with a new literal each
// time (masked-key hit; before literal masking this was a miss), a new statement each time
// (miss: parse, fingerprint, normalize), and extended-protocol text with $1 (exact hit).

import { LiteralMasker } from './literal-mask.ts';
import { createAnalyzer, type StatementAnalyzer } from './index.ts';

const ROUNDS = 7;

const pgbench = (aid: number) => `SELECT abalance FROM pgbench_accounts WHERE aid = ${aid};`;

/** Median over rounds of µs per call of `run(i)` for i in [0, ops). */
function measure(ops: number, run: (i: number) => void): number {
  for (let i = 0; i < Math.min(ops, 2000); i++) run(i);
  const perOp: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) run(i);
    perOp.push(Number(process.hrtime.bigint() - start) / 1000 / ops);
  }
  perOp.sort((a, b) => a - b);
  return perOp[ROUNDS >> 1]!;
}

function report(name: string, microseconds: number): void {
  console.log(`${name.padEnd(58)} ${microseconds.toFixed(3).padStart(9)} µs/op`);
}

async function main(): Promise<void> {
  const analyzer: StatementAnalyzer = await createAnalyzer({ cacheSize: 5000 });
  const ops = 100_000;
  // Texts are decoded from bytes beforehand, as the proxy gets them off the wire: flat strings,
  // a new string object per message even when the text repeats. Only the analyzer is timed.
  const wire = (texts: (i: number) => string): string[] => Array.from({ length: ops }, (_, i) => Buffer.from(texts(i)).toString());
  const same = wire(() => pgbench(12345));
  const literals = wire((i) => pgbench(1 + ((i * 7919) % 100_000)));
  const commented = wire((i) => `/*traceparent='00-4bf92f3577b34da6-00f067aa0ba902b7-01'*/ ${literals[i]}`);
  const extended = wire(() => 'SELECT abalance FROM pgbench_accounts WHERE aid = $1');

  report('exact hit (same text every time)', measure(ops, (i) => analyzer.analyzeQuery(same[i]!)));
  report('masked-key hit (new literal each time, pgbench -S)', measure(ops, (i) => analyzer.analyzeQuery(literals[i]!)));
  report('masked-key hit, with a sqlcommenter comment', measure(ops, (i) => analyzer.analyzeQuery(commented[i]!)));
  report('exact hit, extended protocol text ($1)', measure(ops, (i) => analyzer.analyzeStatement(extended[i]!)));

  // A different statement each time; the column name keeps the key apart.
  const missOps = 5_000;
  let generation = 0;
  report(
    'miss (new statement: parse + fingerprint + normalize)',
    measure(missOps, (i) => analyzer.analyzeQuery(`SELECT abalance FROM pgbench_accounts WHERE aid_${generation++}_${i} = 12345;`)),
  );

  const masker = new LiteralMasker();
  report('LiteralMasker.mask alone (pgbench -S text)', measure(ops, (i) => masker.mask(literals[i]!)));
  console.log(analyzer.stats());
}

await main();
