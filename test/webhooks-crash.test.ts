// The CDC webhook crash test with CI-sized numbers (bench/webhooks-crash.ts runs the full one):
// SIGKILLs of the sidecar at random moments and right after a 2xx, one PostgreSQL restart, a
// chaotic receiver in its own process; nothing lost, duplicates identical, per-row order kept,
// and the slot never confirmed past the durable checkpoint; the audit ledger's row entries, written
// in the same hand-offs, hold every change exactly once.
import { describe, expect, it } from 'vitest';
import { runCrash } from '../bench/lib/cdc-crash.ts';

describe('CDC webhooks under crashes', () => {
  it('loses nothing, repeats identically, keeps per-row order and never confirms past the checkpoint', async () => {
    const lines: string[] = [];
    const r = await runCrash({ changes: 4000, kills: 8, bigTransactionRows: 1500, keys: 300, seed: 7, stallMs: 60_000, log: (l) => lines.push(l) });
    const detail = `${JSON.stringify(r)}\n${lines.slice(-10).join('\n')}`;
    expect(r.changes, detail).toBeGreaterThanOrEqual(4000);
    expect(r.kills, detail).toBe(8);
    expect(r.killsAfter2xx, detail).toBeGreaterThan(0);
    expect(r.postgresRestarts, detail).toBe(1);
    expect(r.missing, detail).toBe(0);
    expect(r.unexpected, detail).toBe(0);
    expect(r.uniqueEvents, detail).toBe(r.changes);
    expect(r.duplicateMismatches, detail).toBe(0);
    expect(r.orderViolations, detail).toBe(0);
    expect(r.slotSamples, detail).toBeGreaterThan(50);
    expect(r.slotViolations, detail).toBe(0);
    // The audit ledger, fed by the same hand-offs: every change once, and a log that verifies.
    expect(r.ledgerRows, detail).toBe(r.changes);
    expect(r.ledgerDistinct, detail).toBe(r.changes);
    expect(r.ledgerVerified, detail).toBe(true);
  }, 600_000);
});
