// Inclusion and consistency proofs served from the stored leaf hashes, checked with the RFC 9162
// verifiers against roots from an independent in-memory frontier, and row-entry lookup.
import { beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/control-schema.ts';
import { encodeLeaf, type LeafEntry } from '../src/ledger/leaf.ts';
import { leafHash, MerkleFrontier, verifyConsistency, verifyInclusion } from '../src/ledger/merkle/index.ts';
import { DbHashSource, findEntries, findEntry, LedgerProofError, proveConsistency, proveInclusion } from '../src/ledger/proofs.ts';
import { appendLeaves } from '../src/ledger/store.ts';
import { useFreshDatabase } from './harness/db.ts';

const fx = useFreshDatabase('ledger_proofs');
const TOTAL = 1100;

/** Statement entries, with a row-change entry every 10th position (3 keys of public.accounts, lsn per change). */
const entry = (i: number): LeafEntry =>
  i % 10 === 3
    ? { kind: 'row', fields: { table: 'public.accounts', op: 'update', key: { id: i % 3, region: 'eu' }, lsn: `0/${(0x1000 + i).toString(16).toUpperCase()}`, new: { balance: i } } }
    : { kind: 'action', fields: { n: i, text: `SELECT ${i}` } };

/** Root of the first `size` leaves, from an in-memory frontier over independently computed leaf hashes. */
const roots = new Map<number, Buffer>();
const hashes: Buffer[] = [];

beforeAll(async () => {
  await migrate(fx.client);
  const f = new MerkleFrontier();
  roots.set(0, f.root());
  for (let i = 0; i < TOTAL; i++) {
    hashes.push(leafHash(encodeLeaf(i, entry(i))));
    f.append(hashes[i]!);
    roots.set(i + 1, f.root());
  }
  // Uneven batches so that the stored head passes through sizes that are not powers of two.
  for (const [from, to] of [[0, 1], [1, 7], [7, 512], [512, 513], [513, 1000], [1000, TOTAL]] as const) {
    await appendLeaves(fx.client, Array.from({ length: to - from }, (_, k) => entry(from + k)));
  }
});

const bufs = (hex: string[]): Buffer[] => hex.map((h) => Buffer.from(h, 'hex'));

describe('ledger proofs from the database', () => {
  it('DbHashSource serves the stored leaf hashes in order across chunk boundaries, and refuses a range beyond the log', async () => {
    const src = new DbHashSource(fx.client, 100);
    const got = await src.leafHashes(250, 731);
    expect(got.length).toBe(481);
    expect(got.every((h, i) => h.equals(hashes[250 + i]!))).toBe(true);
    expect(Buffer.from(await src.leafHash(0)).equals(hashes[0]!)).toBe(true);
    await expect(src.leafHashes(TOTAL - 1, TOTAL + 1)).rejects.toThrow(/entry 1100 is not stored/);
  });

  it('inclusion proofs verify against the frontier root, for several tree sizes and positions', async () => {
    const sizes = [1, 2, 3, 7, 8, 9, 100, 511, 512, 513, 1000, 1023, TOTAL];
    let checked = 0;
    for (const size of sizes) {
      for (const id of new Set([0, 1, Math.floor(size / 2), size - 2, size - 1].filter((x) => x >= 0 && x < size))) {
        const p = await proveInclusion(fx.client, id, size, 97);
        expect(p).toMatchObject({ id, size, leafHash: hashes[id]!.toString('hex'), root: roots.get(size)!.toString('hex') });
        expect(verifyInclusion(id, size, hashes[id]!, bufs(p.proof), roots.get(size)!)).toBe(true);
        // The same proof does not verify for a neighbour's leaf or another size's root.
        if (size > 1) expect(verifyInclusion(id, size, hashes[(id + 1) % size]!, bufs(p.proof), roots.get(size)!)).toBe(false);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  it('without a size, proves against the stored head', async () => {
    const p = await proveInclusion(fx.client, 417);
    expect(p.size).toBe(TOTAL);
    expect(p.root).toBe(roots.get(TOTAL)!.toString('hex'));
    expect(verifyInclusion(417, TOTAL, hashes[417]!, bufs(p.proof), roots.get(TOTAL)!)).toBe(true);
  });

  it('refuses entries outside the tree and sizes beyond the head', async () => {
    await expect(proveInclusion(fx.client, 10, 10)).rejects.toBeInstanceOf(LedgerProofError);
    await expect(proveInclusion(fx.client, 0, TOTAL + 1)).rejects.toThrow(/beyond the ledger's 1100 entries/);
    await expect(proveConsistency(fx.client, 5, TOTAL + 1)).rejects.toThrow(/beyond/);
    await expect(proveConsistency(fx.client, 0, 5)).rejects.toThrow(RangeError);
  });

  it('consistency proofs verify against the frontier roots, for several size pairs', async () => {
    const pairs: [number, number][] = [
      [1, 2], [1, TOTAL], [2, 3], [3, 7], [7, 8], [8, 9], [100, 511], [511, 512], [512, 513], [513, 1000], [1000, TOTAL], [777, 1023], [TOTAL, TOTAL], [64, 64],
    ];
    for (const [m, n] of pairs) {
      const c = await proveConsistency(fx.client, m, n, 128);
      expect(c.rootM).toBe(roots.get(m)!.toString('hex'));
      expect(c.rootN).toBe(roots.get(n)!.toString('hex'));
      expect(verifyConsistency(m, n, roots.get(m)!, roots.get(n)!, bufs(c.proof))).toBe(true);
      if (m < n) expect(verifyConsistency(m, n, roots.get(m === 1 ? 2 : m - 1)!, roots.get(n)!, bufs(c.proof))).toBe(false);
    }
  });

  it('findEntry locates a row-change entry by table, key and lsn, and its inclusion proof verifies', async () => {
    const id = 413; // 413 % 10 === 3: a row entry with key {id: 413 % 3 = 2, region: 'eu'}
    const lsn = `0/${(0x1000 + id).toString(16).toUpperCase()}`;
    // Key member order does not matter (jsonb equality).
    const found = await findEntry(fx.client, { table: 'public.accounts', key: { region: 'eu', id: 2 }, lsn });
    expect(found).toMatchObject({ id, leafHash: hashes[id]!.toString('hex'), entry: { kind: 'row', lsn, table: 'public.accounts', new: { balance: id } } });
    const p = await proveInclusion(fx.client, found!.id);
    expect(verifyInclusion(id, p.size, Buffer.from(found!.leafHash, 'hex'), bufs(p.proof), Buffer.from(p.root, 'hex'))).toBe(true);

    // Without an lsn: the latest change of that row; findEntries lists all of them in id order.
    const all = await findEntries(fx.client, { table: 'public.accounts', key: { id: 2, region: 'eu' } });
    const expected = Array.from({ length: TOTAL }, (_, i) => i).filter((i) => i % 10 === 3 && i % 3 === 2);
    expect(all.map((e) => e.id)).toEqual(expected);
    expect((await findEntry(fx.client, { table: 'public.accounts', key: { id: 2, region: 'eu' } }))?.id).toBe(expected.at(-1));

    // A partial key, another table or another lsn matches nothing.
    expect(await findEntry(fx.client, { table: 'public.accounts', key: { id: 2 }, lsn })).toBeNull();
    expect(await findEntry(fx.client, { table: 'public.other', key: { id: 2, region: 'eu' }, lsn })).toBeNull();
    expect(await findEntry(fx.client, { table: 'public.accounts', key: { id: 2, region: 'eu' }, lsn: '0/1' })).toBeNull();
  });
});
