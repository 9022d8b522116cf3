// helios.verify_ledger() (sql/migrations/0004_ledger.sql) recomputes the log inside the server; it
// must reach the same verdict, position, reason and roots as the TypeScript verifyLocal, on a clean
// log and on logs tampered with by a superuser behind the sidecar's back.
import { beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/control-schema.ts';
import { encodeLeaf } from '../src/ledger/leaf.ts';
import { leafHash, MerkleFrontier } from '../src/ledger/merkle/index.ts';
import { appendLeaves, verifyLocal } from '../src/ledger/store.ts';
import { useFreshDatabase } from './harness/db.ts';
import { snapshotLedger, statementLeaves, tamper as tamperAs } from './support/ledger-tamper.ts';

const fx = useFreshDatabase('ledger_verify_sql');

const leaves = statementLeaves;
const tamper = (sql: string, params: unknown[] = []) => tamperAs(fx.client, sql, params);
const snapshot = () => snapshotLedger(fx.client);

interface SqlVerdict {
  ok: boolean;
  entries: string;
  first_bad: string | null;
  reason: string | null;
  computed_root: Buffer;
  state_root: Buffer;
}

/** Runs both verifiers and expects the same verdict; returns it. */
async function bothAgree(): Promise<{ ok: boolean; position: number | null; reason: string | null }> {
  const { rows } = await fx.client.query<SqlVerdict>('SELECT * FROM helios.verify_ledger()');
  expect(rows).toHaveLength(1);
  const sql = rows[0]!;
  const ts = await verifyLocal(fx.client, 128);
  expect({
    ok: sql.ok,
    entries: Number(sql.entries),
    position: sql.first_bad === null ? null : Number(sql.first_bad),
    reason: sql.reason,
    computedRoot: sql.computed_root.toString('hex'),
    stateRoot: sql.state_root.toString('hex'),
  }).toEqual({
    ok: ts.ok,
    entries: ts.entries,
    position: ts.firstBad?.position ?? null,
    reason: ts.firstBad?.reason ?? null,
    computedRoot: ts.computedRoot,
    stateRoot: ts.stateRoot,
  });
  return { ok: sql.ok, position: sql.first_bad === null ? null : Number(sql.first_bad), reason: sql.reason };
}

beforeAll(async () => {
  await migrate(fx.client);
});

describe('helios.verify_ledger()', () => {
  it('agrees on the empty ledger (no state row: the root of the empty tree)', async () => {
    expect(await bothAgree()).toEqual({ ok: true, position: null, reason: null });
  });

  it('agrees on clean logs of several sizes, including powers of two and their neighbours', async () => {
    let size = 0;
    for (const next of [1, 2, 3, 4, 5, 8, 63, 64, 65, 511, 512, 513, 1005]) {
      await appendLeaves(fx.client, leaves(size, next - size));
      size = next;
      expect(await bothAgree()).toEqual({ ok: true, position: null, reason: null });
    }
  });

  describe('on tampered logs', () => {
    let restore: () => Promise<void>;
    beforeAll(async () => {
      restore = await snapshot();
    });

    it('an updated entry', async () => {
      await tamper('UPDATE helios.ledger_entries SET leaf = $1 WHERE id = 417', [encodeLeaf(417, { kind: 'action', fields: { forged: true } })]);
      expect(await bothAgree()).toMatchObject({ ok: false, position: 417, reason: expect.stringMatching(/was changed/) });
      await restore();
    });

    it('an updated entry with its leaf hash recomputed (narrowed to the perfect subtree holding it)', async () => {
      const forged = encodeLeaf(700, { kind: 'action', fields: { forged: true } });
      await tamper('UPDATE helios.ledger_entries SET leaf = $1, leaf_hash = $2 WHERE id = 700', [forged, leafHash(forged)]);
      expect(await bothAgree()).toMatchObject({ ok: false, position: 512, reason: expect.stringMatching(/entries 512 to 767 no longer hash/) });
      await restore();
    });

    it('a deleted middle entry', async () => {
      await tamper('DELETE FROM helios.ledger_entries WHERE id = 500');
      expect(await bothAgree()).toMatchObject({ ok: false, position: 500, reason: expect.stringMatching(/entry 500 is missing/) });
      await restore();
    });

    it('reordered entries', async () => {
      await tamper('UPDATE helios.ledger_entries SET id = 999999 WHERE id = 200');
      await tamper('UPDATE helios.ledger_entries SET id = 200 WHERE id = 201');
      await tamper('UPDATE helios.ledger_entries SET id = 201 WHERE id = 999999');
      expect(await bothAgree()).toMatchObject({ ok: false, position: 200, reason: expect.stringMatching(/stored at 200 says it belongs at 201/) });
      await restore();
    });

    it('a leaf that is not a ledger leaf', async () => {
      await tamper('UPDATE helios.ledger_entries SET leaf = $1, leaf_hash = $2 WHERE id = 3', [Buffer.from('junk'), leafHash(Buffer.from('junk'))]);
      expect(await bothAgree()).toMatchObject({ ok: false, position: 3, reason: expect.stringMatching(/no position/) });
      await restore();
    });

    it('a removed tail without a rewritten state', async () => {
      await tamper('DELETE FROM helios.ledger_entries WHERE id >= 900');
      expect(await bothAgree()).toMatchObject({ ok: false, position: 900, reason: 'the log state says 1005 entries, 900 are stored' });
      await restore();
    });

    it('a rewritten state root', async () => {
      await tamper("UPDATE helios.ledger_state SET root = sha256('forged'::bytea)");
      expect(await bothAgree()).toMatchObject({ ok: false, position: 0, reason: expect.stringMatching(/differs from the stored state root/) });
      await restore();
    });

    it('a removed tail with a rewritten state passes both (only a checkpoint held elsewhere catches it)', async () => {
      const { rows } = await fx.client.query<{ leaf: Buffer }>('SELECT leaf FROM helios.ledger_entries WHERE id < 900 ORDER BY id');
      const f = new MerkleFrontier();
      for (const r of rows) f.append(leafHash(r.leaf));
      await tamper('DELETE FROM helios.ledger_entries WHERE id >= 900');
      await tamper('UPDATE helios.ledger_state SET size = $1, frontier = $2, root = $3', [900, JSON.stringify(f.toJSON()), f.root()]);
      expect(await bothAgree()).toEqual({ ok: true, position: null, reason: null });
      await restore();
      expect(await bothAgree()).toEqual({ ok: true, position: null, reason: null });
    });
  });
});
