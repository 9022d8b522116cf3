// The full CDC webhook crash run: >= 100k changes, >= 20 SIGKILLs of the sidecar, one PostgreSQL
// restart, a chaotic receiver process. Prints what arrived against what was committed.
import { runCrash } from './lib/cdc-crash.ts';
import { cleanupAll } from './lib/processes.ts';

const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : d;
};
const t0 = Date.now();
const changes = arg('changes', 100_000);
const kills = arg('kills', 24);
try {
  const r = await runCrash({ changes, kills, bigTransactionRows: arg('big', 5000), keys: arg('keys', 5000), seed: arg('seed', 1), stallMs: 120_000, log: (l) => console.log(`  [${((Date.now() - t0) / 1000).toFixed(1)} s] ${l}`) });
  const ok = r.missing === 0 && r.unexpected === 0 && r.duplicateMismatches === 0 && r.orderViolations === 0 && r.slotViolations === 0 && r.uniqueEvents === r.changes && r.ledgerRows === r.changes && r.ledgerDistinct === r.changes && r.ledgerVerified;
  console.log(`\nchanges committed      ${r.changes} in ${r.transactions} transactions (one of ${arg('big', 5000)} rows > logical_decoding_work_mem 64kB)`);
  console.log(`sidecar SIGKILLs       ${r.kills} (${r.killsAfter2xx} right after a 2xx), PostgreSQL restarts ${r.postgresRestarts}`);
  console.log(`deliveries received    ${r.deliveries}: ${r.uniqueEvents} unique event ids, ${r.duplicates} duplicates (${r.duplicateMismatches} with a different body)`);
  console.log(`missing / unexpected   ${r.missing} / ${r.unexpected}`);
  console.log(`per-row order breaks   ${r.orderViolations}`);
  console.log(`slot samples           ${r.slotSamples}, confirmed past the checkpoint: ${r.slotViolations}`);
  console.log(`audit ledger           ${r.ledgerRows} row entries, ${r.ledgerDistinct} distinct changes, verifies: ${r.ledgerVerified}`);
  console.log(`${ok ? 'PASS' : 'FAIL'} in ${r.seconds.toFixed(0)} s`);
  console.log(JSON.stringify({ bench: 'webhooks-crash', ...r, pass: ok }));
  process.exitCode = ok ? 0 : 1;
} finally {
  await cleanupAll();
}
