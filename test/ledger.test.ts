// The audit ledger's store against the real server: dense appends with the frontier in the same
// transaction, append-only for ordinary roles, and the tamper matrix with a superuser acting
// behind the sidecar's back: what local verification finds at the exact position, and what only a
// signed checkpoint held outside the database finds.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/control-schema.ts';
import { CheckpointSigner } from '../src/ledger/checkpoint/index.ts';
import { encodeLeaf, type LeafEntry } from '../src/ledger/leaf.ts';
import { leafHash, MerkleFrontier, rootFromLeafHashes } from '../src/ledger/merkle/index.ts';
import { appendLeaves, readHead, verifyAgainstCheckpoint, verifyLocal } from '../src/ledger/store.ts';
import { useFreshDatabase } from './harness/db.ts';
import { pgConfig } from './harness/pg.ts';
import { snapshotLedger, statementLeaves, tamper as tamperAs } from './support/ledger-tamper.ts';

const fx = useFreshDatabase('ledger');
const dir = mkdtempSync(join(tmpdir(), 'helios-ledger-'));
const ORIGIN = 'heliosdb.test/ledger';

const leaves = statementLeaves;
const tamper = (sql: string, params: unknown[] = []) => tamperAs(fx.client, sql, params);
const snapshot = () => snapshotLedger(fx.client);

let signer: CheckpointSigner;
let witnessed: string;

beforeAll(async () => {
  await migrate(fx.client);
  signer = CheckpointSigner.open(join(dir, 'keys'), ORIGIN);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ledger store', () => {
  it('appends densely with the frontier in the same transaction; the root is the RFC 9162 root of the leaves', async () => {
    const a = await appendLeaves(fx.client, leaves(0, 700));
    const b = await appendLeaves(fx.client, leaves(700, 300));
    expect([a.first, a.size, b.first, b.size]).toEqual([0, 700, 700, 1000]);
    const all = [...leaves(0, 700), ...leaves(700, 300)].map((l, i) => leafHash(encodeLeaf(i, l)));
    expect(b.root.equals(rootFromLeafHashes(all))).toBe(true);
    expect((await readHead(fx.client)).size).toBe(1000);
    const v = await verifyLocal(fx.client, 256);
    expect(v).toMatchObject({ ok: true, entries: 1000, stateSize: 1000, firstBad: null, nodes: { checked: 3, firstBad: null } });
    // A checkpoint signed now and held outside the database (here: the signer's own state, as a witness would hold it).
    witnessed = signer.sign(b.size, b.root, () => true);
  });

  it('a failed append leaves neither a gap nor a half-written batch', async () => {
    const bad: LeafEntry[] = [...leaves(1000, 5), { kind: 'nonsense' as 'row', fields: {} }];
    await expect(appendLeaves(fx.client, bad)).rejects.toThrow();
    expect((await readHead(fx.client)).size).toBe(1000);
    const ok = await appendLeaves(fx.client, leaves(1000, 5));
    expect(ok.first).toBe(1000);
    expect((await verifyLocal(fx.client)).ok).toBe(true);
  });

  it('refuses UPDATE, DELETE and TRUNCATE from ordinary sessions', async () => {
    const role = `ledger_app_${process.pid}`;
    await fx.client.query(`CREATE ROLE ${role} LOGIN PASSWORD 'pw'`);
    await fx.client.query(`GRANT USAGE ON SCHEMA helios TO ${role}; GRANT SELECT, INSERT, UPDATE, DELETE ON helios.ledger_entries TO ${role}`);
    const app = new pg.Client({ ...pgConfig({ database: fx.db.name }), user: role, password: 'pw' });
    await app.connect();
    try {
      await expect(app.query("UPDATE helios.ledger_entries SET leaf = 'x' WHERE id = 1")).rejects.toMatchObject({ code: '55000' });
      await expect(app.query('DELETE FROM helios.ledger_entries WHERE id = 1')).rejects.toMatchObject({ code: '55000' });
      await expect(app.query('TRUNCATE helios.ledger_entries')).rejects.toMatchObject({ code: '42501' });
      // The owner is refused by the trigger too.
      await expect(fx.client.query('TRUNCATE helios.ledger_entries')).rejects.toMatchObject({ code: '55000' });
    } finally {
      await app.end();
    }
  });
});

describe('tamper matrix (a superuser behind the sidecar\'s back)', () => {
  let restore: () => Promise<void>;
  beforeAll(async () => {
    restore = await snapshot();
  });

  it('an updated entry is found locally, at its position', async () => {
    await tamper('UPDATE helios.ledger_entries SET leaf = $1 WHERE id = 417', [encodeLeaf(417, { kind: 'action', fields: { forged: true } })]);
    expect((await verifyLocal(fx.client)).firstBad).toMatchObject({ position: 417, reason: expect.stringMatching(/was changed/) });
    await restore();
  });

  it('an updated entry with its leaf hash recomputed is found locally: the root no longer matches', async () => {
    const forged = encodeLeaf(417, { kind: 'action', fields: { forged: true } });
    await tamper('UPDATE helios.ledger_entries SET leaf = $1, leaf_hash = $2 WHERE id = 417', [forged, leafHash(forged)]);
    const v = await verifyLocal(fx.client);
    expect(v.ok).toBe(false);
    // Narrowed to the perfect subtree holding it: [0, 512) of the 1,005 entries.
    expect(v.firstBad).toMatchObject({ position: 0, reason: expect.stringMatching(/entries 0 to 511 no longer hash/) });
    await restore();
  });

  it('a deleted middle entry is found locally, at its position', async () => {
    await tamper('DELETE FROM helios.ledger_entries WHERE id = 500');
    expect((await verifyLocal(fx.client)).firstBad).toMatchObject({ position: 500, reason: expect.stringMatching(/entry 500 is missing/) });
    await restore();
  });

  it('reordered entries are found locally, at the first moved position', async () => {
    await tamper('UPDATE helios.ledger_entries SET id = 999999 WHERE id = 200');
    await tamper('UPDATE helios.ledger_entries SET id = 200 WHERE id = 201');
    await tamper('UPDATE helios.ledger_entries SET id = 201 WHERE id = 999999');
    expect((await verifyLocal(fx.client)).firstBad).toMatchObject({ position: 200, reason: expect.stringMatching(/stored at 200 says it belongs at 201/) });
    await restore();
  });

  it('a removed tail with a rewritten state passes local verification; only the witnessed checkpoint catches it', async () => {
    const keep = 900;
    // The attacker rewrites the state to a consistent shorter log.
    const { rows } = await fx.client.query<{ leaf: Buffer }>('SELECT leaf FROM helios.ledger_entries WHERE id < $1 ORDER BY id', [keep]);
    const f = new MerkleFrontier();
    for (const r of rows) f.append(leafHash(r.leaf));
    await tamper('DELETE FROM helios.ledger_entries WHERE id >= $1', [keep]);
    await tamper('UPDATE helios.ledger_state SET size = $1, frontier = $2, root = $3', [keep, JSON.stringify(f.toJSON()), f.root()]);
    expect((await verifyLocal(fx.client)).ok).toBe(true);
    const v = await verifyAgainstCheckpoint(fx.client, witnessed, signer.verifiers(), ORIGIN);
    expect(v).toMatchObject({ ok: false, size: 1000, reason: expect.stringMatching(/only 900 contiguous entries are stored/) });
    await restore();
  });

  it('a full rewrite with every hash recomputed passes local verification; only the witnessed checkpoint catches it', async () => {
    const { rows } = await fx.client.query<{ id: string; leaf: Buffer }>('SELECT id, leaf FROM helios.ledger_entries ORDER BY id');
    const f = new MerkleFrontier();
    const ids: string[] = [];
    const data: Buffer[] = [];
    const hashes: Buffer[] = [];
    for (const r of rows) {
      const forged = Number(r.id) === 10 ? encodeLeaf(10, { kind: 'action', fields: { rewritten: true } }) : r.leaf;
      ids.push(r.id);
      data.push(forged);
      hashes.push(leafHash(forged));
      f.append(leafHash(forged));
    }
    await tamper('UPDATE helios.ledger_entries e SET leaf = x.leaf, leaf_hash = x.h FROM unnest($1::bigint[], $2::bytea[], $3::bytea[]) AS x(id, leaf, h) WHERE e.id = x.id', [ids, data, hashes]);
    await tamper('UPDATE helios.ledger_state SET frontier = $1, root = $2', [JSON.stringify(f.toJSON()), f.root()]);
    const local = await verifyLocal(fx.client);
    expect(local.ok).toBe(true);
    // Unless the rewrite also recomputed the stored interior nodes, the one over entry 10 names it.
    expect(local.nodes.firstBad).toMatchObject({ level: 8, start: 0 });
    const v = await verifyAgainstCheckpoint(fx.client, witnessed, signer.verifiers(), ORIGIN);
    expect(v).toMatchObject({ ok: false, reason: expect.stringMatching(/do not hash to the checkpoint's root/) });
    await restore();
    expect((await verifyAgainstCheckpoint(fx.client, witnessed, signer.verifiers(), ORIGIN)).ok).toBe(true);
  });
});
