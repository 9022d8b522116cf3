// Interior nodes in helios.ledger_nodes: written in the transaction of the entries that complete
// them, and used by the proofs, which must equal the proofs computed from every leaf hash in memory
// whether the nodes are all there, partly removed or absent. A wrong node only makes the proofs
// that use it fail to verify.
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/control-schema.ts';
import { encodeLeaf, type LeafEntry } from '../src/ledger/leaf.ts';
import { consistencyProof, consistencyProofRanges, inclusionProof, inclusionProofRanges, leafHash, MerkleFrontier, nodeHash, rootFromLeafHashes, verifyConsistency, verifyInclusion } from '../src/ledger/merkle/index.ts';
import { proveConsistency, proveInclusion } from '../src/ledger/proofs.ts';
import { appendLeaves, NODE_LEVEL_STEP, readHead, verifyLocal } from '../src/ledger/store.ts';
import { useFreshDatabase } from './harness/db.ts';
import { snapshotLedger, statementLeaves, tamper as tamperAs } from './support/ledger-tamper.ts';

const fx = useFreshDatabase('ledger_nodes');
const tamper = (sql: string, params: unknown[] = []) => tamperAs(fx.client, sql, params);

const TOTAL = 70_000;
// Around the stored levels' boundaries (256 and 65,536 leaves), and the head.
const SIZES = [1, 2, 255, 256, 257, 511, 512, 513, 767, 1000, 4096, 5000, 12_345, 32_768, 65_535, 65_536, 65_537, 65_792, 66_000, 69_999, TOTAL];

const hashes: Buffer[] = [];
const roots = new Map<number, Buffer>();
/** Node rows after each append, with the size reached. */
const counts: { size: number; rows: number }[] = [];

/** Perfect aligned subtrees of the stored levels inside [0, size). */
function expectedNodeCount(size: number): number {
  let n = 0;
  for (let level = NODE_LEVEL_STEP; 2 ** level <= size; level += NODE_LEVEL_STEP) n += Math.floor(size / 2 ** level);
  return n;
}

const hex = (bs: readonly Uint8Array[]): string[] => bs.map((b) => Buffer.from(b).toString('hex'));
const bufs = (hs: readonly string[]): Buffer[] => hs.map((h) => Buffer.from(h, 'hex'));

/** A client that counts the statements sent through it and the rows they return. */
function counting(client: pg.Client): { client: pg.Client; queries: number; rows: number } {
  const c = {
    queries: 0,
    rows: 0,
    client: {
      query: async (...args: unknown[]) => {
        c.queries++;
        const r = await (client.query as (...a: unknown[]) => Promise<pg.QueryResult>).apply(client, args);
        c.rows += r.rows.length;
        return r;
      },
    } as unknown as pg.Client,
  };
  return c;
}

async function nodeRows(): Promise<number> {
  return Number((await fx.client.query('SELECT count(*) AS n FROM helios.ledger_nodes')).rows[0].n);
}

/** Indexes worth proving in a tree of `size`: the edges and the stored levels' boundaries. */
const indexesFor = (size: number): number[] =>
  [...new Set([0, 1, 255, 256, 257, 65_535, 65_536, Math.floor(size / 2), Math.floor(size / 3) * 2, size - 2, size - 1])].filter((i) => i >= 0 && i < size);

// In-memory proofs: each component straight from the RFC 9162 §2.1.1 recursion over the array of
// leaf hashes, memoized, since hundreds of proofs share their large components.
const memo = new Map<string, Buffer>();
function mth(lo: number, hi: number): Buffer {
  if (hi - lo < 256) return rootFromLeafHashes(hashes.slice(lo, hi));
  const key = `${lo}:${hi}`;
  let h = memo.get(key);
  if (!h) {
    let k = 1;
    while (k * 2 < hi - lo) k *= 2;
    memo.set(key, (h = nodeHash(mth(lo, lo + k), mth(lo + k, hi))));
  }
  return h;
}
function inMemory(kind: 'inclusion' | 'consistency', a: number, b: number): string[] {
  return hex((kind === 'inclusion' ? inclusionProofRanges(a, b) : consistencyProofRanges(a, b)).map((r) => mth(r.lo, r.hi)));
}

/** Every inclusion proof of ids(size) for every size in `sizes` equals the in-memory one and verifies. */
async function expectInclusionProofs(sizes = SIZES, ids = indexesFor): Promise<void> {
  for (const size of sizes) {
    for (const id of ids(size).filter((i) => i < size)) {
      const p = await proveInclusion(fx.client, id, size);
      expect(p.root).toBe(roots.get(size)!.toString('hex'));
      expect(p.proof).toEqual(inMemory('inclusion', id, size));
      expect(verifyInclusion(id, size, hashes[id]!, bufs(p.proof), roots.get(size)!)).toBe(true);
    }
  }
}

const PAIRS: [number, number][] = [[1, TOTAL], [255, 256], [256, 257], [257, 65_537], [1000, 65_536], [65_535, 65_536], [65_536, 65_537], [12_345, 69_999], [65_792, TOTAL], [TOTAL - 1, TOTAL]];

async function expectConsistencyProofs(pairs = PAIRS): Promise<void> {
  for (const [m, n] of pairs) {
    const c = await proveConsistency(fx.client, m, n);
    expect([c.rootM, c.rootN]).toEqual([roots.get(m)!.toString('hex'), roots.get(n)!.toString('hex')]);
    expect(c.proof).toEqual(inMemory('consistency', m, n));
    expect(verifyConsistency(m, n, roots.get(m)!, roots.get(n)!, bufs(c.proof))).toBe(true);
  }
}

// Without its nodes, a proof over a large subtree reads all of its leaf hashes: fewer of those.
const FEW_IDS = (size: number): number[] => [...new Set([0, size - 1])];
const FEW_PAIRS = PAIRS.filter(([, n]) => n <= 65_537);

beforeAll(async () => {
  await migrate(fx.client);
  const leaves = statementLeaves(0, TOTAL);
  const f = new MerkleFrontier();
  const wanted = new Set([...SIZES, ...PAIRS.flat()]);
  for (let i = 0; i < TOTAL; i++) {
    hashes.push(leafHash(encodeLeaf(i, leaves[i]!)));
    f.append(hashes[i]!);
    if (wanted.has(i + 1)) roots.set(i + 1, f.root());
  }
  // Uneven batches first, so that appends complete 256-leaf subtrees mid-batch and at batch edges.
  const cuts = [0, 1, 255, 257, 5000];
  for (let s = 10_000; s <= TOTAL; s += 5000) cuts.push(s);
  for (let k = 1; k < cuts.length; k++) {
    const head = await appendLeaves(fx.client, leaves.slice(cuts[k - 1], cuts[k]));
    counts.push({ size: head.size, rows: await nodeRows() });
  }
}, 120_000);

describe('ledger interior nodes', () => {
  it('stores, with each append, every node of the stored levels that it completes, each the MTH of its range', async () => {
    expect(counts.map((c) => c.size).at(-1)).toBe(TOTAL);
    for (const c of counts) expect(c.rows).toBe(expectedNodeCount(c.size));
    expect(expectedNodeCount(TOTAL)).toBe(273 + 1);
    const { rows } = await fx.client.query<{ level: number; start: string; hash: Buffer }>('SELECT level, start, hash FROM helios.ledger_nodes ORDER BY level, start');
    for (const r of rows) {
      const start = Number(r.start);
      expect(r.level % NODE_LEVEL_STEP === 0 && r.level > 0).toBe(true);
      expect(r.hash.equals(rootFromLeafHashes(hashes.slice(start, start + 2 ** r.level)))).toBe(true);
    }
  });

  it('nodes are append-only like the entries: UPDATE, DELETE and TRUNCATE are refused, even to the owner', async () => {
    await expect(fx.client.query("UPDATE helios.ledger_nodes SET hash = sha256('x') WHERE level = 8 AND start = 0")).rejects.toMatchObject({ code: '55000' });
    await expect(fx.client.query('DELETE FROM helios.ledger_nodes WHERE level = 8 AND start = 0')).rejects.toMatchObject({ code: '55000' });
    await expect(fx.client.query('TRUNCATE helios.ledger_nodes')).rejects.toMatchObject({ code: '55000' });
    const { rows } = await fx.client.query("SELECT has_table_privilege('public', 'helios.ledger_nodes', 'DELETE') AS del");
    expect(rows[0].del).toBe(false);
    expect(await nodeRows()).toBe(expectedNodeCount(TOTAL));
  });

  it('inclusion proofs equal the in-memory ones and verify, for sizes and indexes around 256 and 65,536', async () => {
    // The memoized reference is the merkle module's proof over the array.
    for (const [id, size] of [[0, TOTAL], [65_536, 65_537], [300, 1000]] as const) {
      expect(inMemory('inclusion', id, size)).toEqual(hex(await inclusionProof(id, size, hashes)));
    }
    expect(inMemory('consistency', 12_345, TOTAL)).toEqual(hex(await consistencyProof(12_345, TOTAL, hashes)));
    await expectInclusionProofs();
  });

  it('consistency proofs equal the in-memory ones and verify', async () => {
    await expectConsistencyProofs();
  });

  it('a proof at the head reads O(log n) small results, not every leaf hash', async () => {
    for (const id of [0, 300, 40_000, 65_600, TOTAL - 1]) {
      const c = counting(fx.client);
      const p = await proveInclusion(c.client, id);
      expect(verifyInclusion(id, TOTAL, hashes[id]!, bufs(p.proof), roots.get(TOTAL)!)).toBe(true);
      expect(c.queries).toBeLessThan(40);
      expect(c.rows).toBeLessThan(1000);
    }
    const c = counting(fx.client);
    await proveConsistency(c.client, 12_345, TOTAL);
    expect(c.queries).toBeLessThan(80);
    expect(c.rows).toBeLessThan(2000);
  });

  describe('with nodes removed or wrong (a superuser behind the sidecar\'s back)', () => {
    let restore: () => Promise<void>;
    beforeAll(async () => {
      restore = await snapshotLedger(fx.client);
    });

    it('with some nodes deleted, proofs fall back to the leaf hashes and are still correct', async () => {
      await tamper('DELETE FROM helios.ledger_nodes WHERE (level = 16 AND start = 0) OR (level = 8 AND start IN (0, 256, 4096, 32768, 65536, 69376))');
      expect(await nodeRows()).toBe(expectedNodeCount(TOTAL) - 7);
      await expectInclusionProofs(SIZES.filter((n) => n <= 5000));
      await expectInclusionProofs([12_345, 32_768, 65_535, 65_537, TOTAL], FEW_IDS);
      await expectConsistencyProofs(FEW_PAIRS);
      // The missing level-16 node costs its range's leaf hashes, once.
      const c = counting(fx.client);
      await proveInclusion(c.client, TOTAL - 1);
      expect(c.rows).toBeGreaterThan(65_536);
      expect(c.rows).toBeLessThan(2 * 65_536);
      expect((await verifyLocal(fx.client)).nodes).toEqual({ checked: expectedNodeCount(TOTAL) - 7, firstBad: null });
      await restore();
    });

    it('with no nodes at all (entries written before nodes were stored), proofs are still correct', async () => {
      await tamper('DELETE FROM helios.ledger_nodes');
      await expectInclusionProofs([1, 256, 257, 4096, TOTAL], FEW_IDS);
      await expectConsistencyProofs(FEW_PAIRS);
      expect(await verifyLocal(fx.client)).toMatchObject({ ok: true, nodes: { checked: 0, firstBad: null } });
      await restore();
      expect((await verifyLocal(fx.client)).nodes).toEqual({ checked: expectedNodeCount(TOTAL), firstBad: null });
    });

    it('a wrong node makes the proofs that use it fail to verify, and local verification names it', async () => {
      await tamper('UPDATE helios.ledger_nodes SET hash = $1 WHERE level = 8 AND start = 512', [Buffer.alloc(32, 7)]);
      const root = roots.get(TOTAL)!;
      // Leaf 5's path holds MTH(D[512:1024]), folded from the nodes at 512 and 768.
      const bad = await proveInclusion(fx.client, 5);
      expect(bad.root).toBe(root.toString('hex'));
      expect(verifyInclusion(5, TOTAL, hashes[5]!, bufs(bad.proof), root)).toBe(false);
      // Leaf 600's path holds nothing that covers its own range.
      const good = await proveInclusion(fx.client, 600);
      expect(verifyInclusion(600, TOTAL, hashes[600]!, bufs(good.proof), root)).toBe(true);
      // PROOF(300, D[70000]) holds MTH(D[512:1024]) too.
      const c = await proveConsistency(fx.client, 300, TOTAL);
      expect(verifyConsistency(300, TOTAL, rootFromLeafHashes(hashes, 300), root, bufs(c.proof))).toBe(false);
      const v = await verifyLocal(fx.client, 10_000);
      expect(v.ok).toBe(true);
      expect(v.nodes.firstBad).toMatchObject({ level: 8, start: 512, reason: expect.stringMatching(/entries 512 to 767 differs/) });
      await restore();
    });

    it('after a removed tail, appends go on over the stale nodes, which local verification names', async () => {
      const keep = 69_000;
      const f = new MerkleFrontier();
      for (const h of hashes.slice(0, keep)) f.append(h);
      await tamper('DELETE FROM helios.ledger_entries WHERE id >= $1', [keep]);
      await tamper('UPDATE helios.ledger_state SET size = $1, frontier = $2, root = $3', [keep, JSON.stringify(f.toJSON()), f.root()]);
      let v = await verifyLocal(fx.client);
      expect(v.ok).toBe(true);
      // 68,864 = 269 * 256 is the first stored 256-leaf subtree ending past 69,000.
      expect(v.nodes.firstBad).toMatchObject({ level: 8, start: 68_864, reason: expect.stringMatching(/beyond the 69000 stored entries/) });

      const other: LeafEntry[] = Array.from({ length: TOTAL - keep }, (_, i) => ({ kind: 'action', fields: { n: keep + i, rewritten: true } }));
      const head = await appendLeaves(fx.client, other);
      expect(head.size).toBe(TOTAL);
      expect((await readHead(fx.client)).root.equals(roots.get(TOTAL)!)).toBe(false);
      v = await verifyLocal(fx.client);
      expect(v.ok).toBe(true);
      expect(v.nodes.firstBad).toMatchObject({ level: 8, start: 68_864, reason: expect.stringMatching(/differs/) });
      await restore();
    });
  });
});
