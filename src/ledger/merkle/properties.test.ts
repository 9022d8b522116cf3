// Property tests: generated proofs verify, and every mutation that changes what is being proven fails.
//
// Mutating a tree size does NOT always make an RFC 9162 proof fail: the verifier only knows sizes
// through the path shape, so e.g. the inclusion proof for (index 0, size 4) also verifies as
// (index 0, size 3) against the size-4 root (both paths are "left, left"; the size-4 root is
// simply treated as if it were a size-3 root). Sizes are authenticated by the signed tree head,
// not by the proof. The size-mutation properties therefore compare the verifier against an
// independent oracle built from the RFC's PATH/SUBPROOF definitions: a mutated statement verifies
// iff the hash expression it makes the verifier compute is, leaf for leaf, the true root.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MerkleFrontier,
  consistencyProof,
  consistencyProofRanges,
  inclusionProof,
  inclusionProofRanges,
  leafHash,
  rootFromLeafHashes,
  subtreeRoot,
  verifyConsistency,
  verifyInclusion,
  type HashSource,
} from './index.ts';

const MAX = 160;
// Distinct leaves: with equal leaves, moving an index can legitimately still prove inclusion.
const LEAVES = Array.from({ length: MAX }, (_, i) => leafHash(Buffer.from(`entry-${i}`)));
const ROOTS = Array.from({ length: MAX + 1 }, (_, n) => rootFromLeafHashes(LEAVES, n));

function largestPow2Below(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[lo:hi]) as a symbolic expression over leaf indices. */
function leafTree(lo: number, hi: number): string {
  if (hi - lo === 1) return `L${lo}`;
  const k = largestPow2Below(hi - lo);
  return `(${leafTree(lo, lo + k)},${leafTree(lo + k, hi)})`;
}

/** MTH(D[lo:hi]) built from the given parts (range -> symbolic value), or null if they do not tile it. */
function combine(lo: number, hi: number, parts: Map<string, string>): string | null {
  const p = parts.get(`${lo},${hi}`);
  if (p !== undefined) return p;
  if (hi - lo <= 1) return null;
  const k = largestPow2Below(hi - lo);
  const l = combine(lo, lo + k, parts);
  const r = combine(lo + k, hi, parts);
  return l === null || r === null ? null : `(${l},${r})`;
}

/** Would the proof for (i, n) verify as (i2, n2) against root(n)? */
function inclusionOracle(i: number, n: number, i2: number, n2: number): boolean {
  if (i2 >= n2) return false;
  const orig = inclusionProofRanges(i, n);
  const mut = inclusionProofRanges(i2, n2);
  if (orig.length !== mut.length) return false;
  // The verifier places proof element j where the mutated shape expects component j.
  const parts = new Map<string, string>([[`${i2},${i2 + 1}`, `L${i}`]]);
  mut.forEach((r, j) => parts.set(`${r.lo},${r.hi}`, leafTree(orig[j]!.lo, orig[j]!.hi)));
  return combine(0, n2, parts) === leafTree(0, n);
}

function isPow2(x: number): boolean {
  return x > 0 && largestPow2Below(2 * x) === x;
}

/** Would the proof for (m, n) verify as (m2, n2) against root(m), root(n)? */
function consistencyOracle(m: number, n: number, m2: number, n2: number): boolean {
  if (m2 === 0 || m2 >= n2) return false; // m2 === n2 requires an empty proof; ours never is (0 < m < n)
  const orig = consistencyProofRanges(m, n);
  const mut = consistencyProofRanges(m2, n2);
  if (orig.length !== mut.length) return false;
  const all = new Map<string, string>();
  const first = new Map<string, string>();
  if (isPow2(m2)) {
    all.set(`0,${m2}`, leafTree(0, m));
    first.set(`0,${m2}`, leafTree(0, m));
  }
  mut.forEach((r, j) => {
    const v = leafTree(orig[j]!.lo, orig[j]!.hi);
    all.set(`${r.lo},${r.hi}`, v);
    if (r.hi <= m2) first.set(`${r.lo},${r.hi}`, v);
  });
  return combine(0, m2, first) === leafTree(0, m) && combine(0, n2, all) === leafTree(0, n);
}

const flipBit = (h: Buffer, bit: number): Buffer => {
  const c = Buffer.from(h);
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
};

const sizeAndIndex = fc.integer({ min: 1, max: MAX }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 })));
const consistencySizes = fc
  .integer({ min: 2, max: MAX })
  .chain((n) => fc.tuple(fc.integer({ min: 1, max: n - 1 }), fc.constant(n)));

describe('inclusion proofs (property)', () => {
  it('generated proofs verify and have the RFC component ranges', async () => {
    await fc.assert(
      fc.asyncProperty(sizeAndIndex, async ([n, i]) => {
        const proof = await inclusionProof(i, n, LEAVES);
        expect(proof.map((p) => p.toString('hex'))).toEqual(
          inclusionProofRanges(i, n).map((r) => rootFromLeafHashes(LEAVES.slice(r.lo, r.hi)).toString('hex')),
        );
        expect(verifyInclusion(i, n, LEAVES[i]!, proof, ROOTS[n]!)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('a different index always fails (distinct leaves)', async () => {
    await fc.assert(
      fc.asyncProperty(sizeAndIndex, fc.integer({ min: 0, max: MAX + 5 }), async ([n, i], i2) => {
        fc.pre(i2 !== i);
        const proof = await inclusionProof(i, n, LEAVES);
        expect(verifyInclusion(i2, n, LEAVES[i]!, proof, ROOTS[n]!)).toBe(false);
        expect(inclusionOracle(i, n, i2, n)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('a different size fails unless the path shape aliases the true root (oracle)', async () => {
    await fc.assert(
      fc.asyncProperty(sizeAndIndex, fc.integer({ min: 0, max: MAX + 5 }), async ([n, i], n2) => {
        fc.pre(n2 !== n);
        const proof = await inclusionProof(i, n, LEAVES);
        expect(verifyInclusion(i, n2, LEAVES[i]!, proof, ROOTS[n]!)).toBe(inclusionOracle(i, n, i, n2));
      }),
      { numRuns: 400 },
    );
    // The documented alias, and a non-alias.
    const p = await inclusionProof(0, 4, LEAVES);
    expect(verifyInclusion(0, 3, LEAVES[0]!, p, ROOTS[4]!)).toBe(true);
    expect(verifyInclusion(0, 3, LEAVES[0]!, p, ROOTS[3]!)).toBe(false);
    expect(verifyInclusion(0, 5, LEAVES[0]!, p, ROOTS[4]!)).toBe(false);
  });

  it('flipping any bit of any proof hash, the leaf or the root fails', async () => {
    await fc.assert(
      fc.asyncProperty(sizeAndIndex, fc.nat(), fc.integer({ min: 0, max: 255 }), async ([n, i], which, bit) => {
        const proof = await inclusionProof(i, n, LEAVES);
        const targets = proof.length + 2;
        const t = which % targets;
        if (t < proof.length) {
          const bad = proof.slice();
          bad[t] = flipBit(bad[t]!, bit);
          expect(verifyInclusion(i, n, LEAVES[i]!, bad, ROOTS[n]!)).toBe(false);
        } else if (t === proof.length) {
          expect(verifyInclusion(i, n, flipBit(LEAVES[i]!, bit), proof, ROOTS[n]!)).toBe(false);
        } else {
          expect(verifyInclusion(i, n, LEAVES[i]!, proof, flipBit(ROOTS[n]!, bit))).toBe(false);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('adding or removing a proof element fails', async () => {
    await fc.assert(
      fc.asyncProperty(sizeAndIndex, fc.nat(), fc.nat(), fc.boolean(), async ([n, i], pos, src, add) => {
        const proof = await inclusionProof(i, n, LEAVES);
        const bad = proof.slice();
        if (add || proof.length === 0) {
          // Insert either a copy of an existing element / the root / the leaf, or an arbitrary node.
          const pool = [...proof, ROOTS[n]!, LEAVES[i]!, LEAVES[(i + 1) % MAX]!];
          bad.splice(pos % (proof.length + 1), 0, pool[src % pool.length]!);
        } else {
          bad.splice(pos % proof.length, 1);
        }
        expect(verifyInclusion(i, n, LEAVES[i]!, bad, ROOTS[n]!)).toBe(false);
      }),
      { numRuns: 400 },
    );
  });

  it('index >= size and invalid sizes are rejected', () => {
    expect(verifyInclusion(1, 1, LEAVES[1]!, [], ROOTS[1]!)).toBe(false);
    expect(verifyInclusion(0, 0, LEAVES[0]!, [], ROOTS[0]!)).toBe(false);
    expect(verifyInclusion(-1, 4, LEAVES[0]!, [], ROOTS[4]!)).toBe(false);
    expect(verifyInclusion(0.5, 4, LEAVES[0]!, [], ROOTS[4]!)).toBe(false);
    expect(verifyInclusion(2 ** 64 - 1, 8, LEAVES[0]!, [], ROOTS[8]!)).toBe(false);
  });
});

describe('consistency proofs (property)', () => {
  it('generated proofs verify and have the RFC component ranges', async () => {
    await fc.assert(
      fc.asyncProperty(consistencySizes, async ([m, n]) => {
        const proof = await consistencyProof(m, n, LEAVES);
        expect(proof.map((p) => p.toString('hex'))).toEqual(
          consistencyProofRanges(m, n).map((r) => rootFromLeafHashes(LEAVES.slice(r.lo, r.hi)).toString('hex')),
        );
        expect(verifyConsistency(m, n, ROOTS[m]!, ROOTS[n]!, proof)).toBe(true);
        expect(consistencyOracle(m, n, m, n)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('m === n verifies with an empty proof and equal roots; m > n and m === 0 < n fail', async () => {
    for (let n = 1; n <= 20; n++) {
      expect(await consistencyProof(n, n, LEAVES)).toEqual([]);
      expect(verifyConsistency(n, n, ROOTS[n]!, ROOTS[n]!, [])).toBe(true);
      expect(verifyConsistency(n, n, ROOTS[n]!, ROOTS[n - 1]!, [])).toBe(false);
      expect(verifyConsistency(n, n - 1, ROOTS[n]!, ROOTS[n - 1]!, [])).toBe(false);
      expect(verifyConsistency(0, n, ROOTS[0]!, ROOTS[n]!, [])).toBe(false);
      expect(verifyConsistency(0, n, ROOTS[0]!, ROOTS[n]!, [ROOTS[n]!])).toBe(false);
    }
    expect(verifyConsistency(0, 0, ROOTS[0]!, ROOTS[0]!, [])).toBe(true);
    await expect(consistencyProof(0, 3, LEAVES)).rejects.toThrow(RangeError);
    await expect(consistencyProof(4, 3, LEAVES)).rejects.toThrow(RangeError);
  });

  it('different sizes fail unless the proof shape aliases both true roots (oracle)', async () => {
    await fc.assert(
      fc.asyncProperty(
        consistencySizes,
        fc.integer({ min: 0, max: MAX + 5 }),
        fc.integer({ min: 0, max: MAX + 5 }),
        fc.integer({ min: 0, max: 2 }),
        async ([m, n], x, y, mode) => {
          const m2 = mode === 1 ? m : x;
          const n2 = mode === 0 ? n : y;
          fc.pre(m2 !== m || n2 !== n);
          const proof = await consistencyProof(m, n, LEAVES);
          expect(verifyConsistency(m2, n2, ROOTS[m]!, ROOTS[n]!, proof)).toBe(consistencyOracle(m, n, m2, n2));
        },
      ),
      { numRuns: 600 },
    );
    const p = await consistencyProof(1, 4, LEAVES);
    expect(verifyConsistency(1, 3, ROOTS[1]!, ROOTS[4]!, p)).toBe(true); // documented alias
    expect(verifyConsistency(1, 3, ROOTS[1]!, ROOTS[3]!, p)).toBe(false);
  });

  it('flipping any bit of any proof hash or either root fails; swapped roots fail', async () => {
    await fc.assert(
      fc.asyncProperty(consistencySizes, fc.nat(), fc.integer({ min: 0, max: 255 }), async ([m, n], which, bit) => {
        const proof = await consistencyProof(m, n, LEAVES);
        const t = which % (proof.length + 2);
        if (t < proof.length) {
          const bad = proof.slice();
          bad[t] = flipBit(bad[t]!, bit);
          expect(verifyConsistency(m, n, ROOTS[m]!, ROOTS[n]!, bad)).toBe(false);
        } else if (t === proof.length) {
          expect(verifyConsistency(m, n, flipBit(ROOTS[m]!, bit), ROOTS[n]!, proof)).toBe(false);
        } else {
          expect(verifyConsistency(m, n, ROOTS[m]!, flipBit(ROOTS[n]!, bit), proof)).toBe(false);
        }
        expect(verifyConsistency(m, n, ROOTS[n]!, ROOTS[m]!, proof)).toBe(false);
      }),
      { numRuns: 400 },
    );
  });

  it('adding or removing a proof element fails', async () => {
    await fc.assert(
      fc.asyncProperty(consistencySizes, fc.nat(), fc.nat(), fc.boolean(), async ([m, n], pos, src, add) => {
        const proof = await consistencyProof(m, n, LEAVES);
        const bad = proof.slice();
        if (add) {
          const pool = [...proof, ROOTS[m]!, ROOTS[n]!, LEAVES[0]!];
          bad.splice(pos % (proof.length + 1), 0, pool[src % pool.length]!);
        } else {
          bad.splice(pos % proof.length, 1);
        }
        expect(verifyConsistency(m, n, ROOTS[m]!, ROOTS[n]!, bad)).toBe(false);
      }),
      { numRuns: 400 },
    );
  });
});

describe('hash sources', () => {
  // A sparse async store: per-leaf reads, batched reads, and a perfect-subtree cache.
  function makeSource(kind: 'leaf' | 'batch' | 'cache', leaves: Buffer[]): HashSource {
    const cache = new Map<string, Buffer>();
    const src: HashSource = { leafHash: async (i) => leaves[i]! };
    if (kind === 'batch') src.leafHashes = async (s, e) => leaves.slice(s, e);
    if (kind === 'cache') {
      src.subtreeRoot = (s, e) => {
        const key = `${s},${e}`;
        if (!cache.has(key) && e - s >= 4) cache.set(key, rootFromLeafHashes(leaves.slice(s, e)));
        return cache.get(key);
      };
    }
    return src;
  }

  it('async, batched and cached sources produce the same proofs as an array', async () => {
    await fc.assert(
      fc.asyncProperty(consistencySizes, fc.nat(), fc.constantFrom('leaf', 'batch', 'cache' as const), async ([m, n], j, kind) => {
        const src = makeSource(kind, LEAVES);
        const i = j % n;
        expect(await inclusionProof(i, n, src)).toEqual(await inclusionProof(i, n, LEAVES));
        expect(await consistencyProof(m, n, src)).toEqual(await consistencyProof(m, n, LEAVES));
      }),
      { numRuns: 150 },
    );
  });

  it('with a sparse cache of large subtrees only, proofs equal an array\'s, and misses fold leaves in batches', async () => {
    const leaves = Array.from({ length: 3000 }, (_, i) => leafHash(Buffer.from(`n${i}`)));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: leaves.length }), fc.nat(), fc.nat(), fc.integer({ min: 0, max: 3 }), async (n, j, mj, missEvery) => {
        const asked: [number, number][] = [];
        let batchedReads = 0;
        const src: HashSource = {
          subtreeMinSize: 64,
          leafHash: () => {
            throw new Error('a cached source must not be read one leaf at a time');
          },
          leafHashes: async (s, e) => {
            batchedReads++;
            return leaves.slice(s, e);
          },
          subtreeRoot: async (s, e) => {
            asked.push([s, e]);
            // Every few ranges missing, as if never stored or deleted.
            if (missEvery > 0 && (s / (e - s)) % (missEvery + 1) === missEvery) return undefined;
            return rootFromLeafHashes(leaves.slice(s, e));
          },
        };
        const i = j % n;
        expect(await inclusionProof(i, n, src)).toEqual(await inclusionProof(i, n, leaves));
        const m = 1 + (mj % n);
        expect(await consistencyProof(m, n, src)).toEqual(await consistencyProof(m, n, leaves));
        // Only perfect aligned ranges of at least subtreeMinSize leaves are asked for.
        for (const [s, e] of asked) {
          expect(e - s).toBeGreaterThanOrEqual(64);
          expect(Number.isInteger(Math.log2(e - s)) && s % (e - s) === 0).toBe(true);
        }
        // One read per component piece, never one per leaf: O(log n) pieces per proof.
        expect(batchedReads).toBeLessThanOrEqual(4 * 12 * 2);
      }),
      { numRuns: 200 },
    );
  });

  it('an empty cache gives the same roots as folding leaves, for ranges at any offset', async () => {
    const leaves = Array.from({ length: 700 }, (_, i) => leafHash(Buffer.from(`o${i}`)));
    const src: HashSource = { subtreeMinSize: 16, leafHash: async (i) => leaves[i]!, subtreeRoot: () => undefined };
    const cached: HashSource = { subtreeMinSize: 16, leafHash: async (i) => leaves[i]!, subtreeRoot: (s, e) => rootFromLeafHashes(leaves.slice(s, e)) };
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 699 }), fc.integer({ min: 1, max: 700 }), async (lo, len) => {
        const hi = Math.min(700, lo + len);
        const want = rootFromLeafHashes(leaves.slice(lo, hi));
        expect((await subtreeRoot(src, lo, hi)).equals(want)).toBe(true);
        expect((await subtreeRoot(cached, lo, hi)).equals(want)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('batched reads cross the batch boundary correctly', async () => {
    const leaves = Array.from({ length: 20_000 }, (_, i) => leafHash(Buffer.from(String(i))));
    const src = makeSource('batch', leaves);
    const root = rootFromLeafHashes(leaves);
    for (const i of [0, 8191, 8192, 16_385, 19_999]) {
      expect(verifyInclusion(i, leaves.length, leaves[i]!, await inclusionProof(i, leaves.length, src), root)).toBe(true);
    }
    const m = 12_345;
    const p = await consistencyProof(m, leaves.length, src);
    expect(verifyConsistency(m, leaves.length, rootFromLeafHashes(leaves, m), root, p)).toBe(true);
  });
});

describe('MerkleFrontier (property)', () => {
  const leavesFor = (n: number, salt = ''): Buffer[] => Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`${salt}${i}`)));

  it('root equals the recursive MTH for every prefix', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 600 }), fc.string(), (n, salt) => {
        const leaves = leavesFor(n, salt);
        const f = new MerkleFrontier();
        for (let i = 0; i < n; i++) {
          expect(f.append(leaves[i]!)).toBe(i);
          if (i % 37 === 0 || i === n - 1) expect(f.root().equals(rootFromLeafHashes(leaves, i + 1))).toBe(true);
        }
        expect(f.size).toBe(n);
        expect(f.root().equals(rootFromLeafHashes(leaves))).toBe(true);
        expect(f.subtreeRoots().length).toBe(n.toString(2).replace(/0/g, '').length);
      }),
      { numRuns: 120 },
    );
  });

  it('onSubtree reports each perfect aligned subtree once, when its last leaf is appended, with its MTH', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 600 }), fc.string(), (n, salt) => {
        const leaves = leavesFor(n, salt);
        const f = new MerkleFrontier();
        const plain = new MerkleFrontier();
        const seen = new Set<string>();
        for (let i = 0; i < n; i++) {
          const levels: number[] = [];
          f.append(leaves[i]!, (level, start, hash) => {
            levels.push(level);
            expect(start + 2 ** level).toBe(i + 1);
            expect(Buffer.from(hash).equals(rootFromLeafHashes(leaves.slice(start, start + 2 ** level)))).toBe(true);
            seen.add(`${level}:${start}`);
          });
          plain.append(leaves[i]!);
          // Smallest first: the leaf, then one per trailing 1-bit of i (the merges).
          expect(levels).toEqual(Array.from({ length: levels.length }, (_, k) => k));
          expect(levels.length).toBe(1 + (i.toString(2).match(/1*$/)![0].length));
        }
        expect(f.root().equals(plain.root())).toBe(true);
        expect(f.toJSON()).toEqual(plain.toJSON());
        // Every aligned perfect subtree inside [0, n), and nothing else.
        let expected = 0;
        for (let span = 1; span <= n; span *= 2) expected += Math.floor(n / span);
        expect(seen.size).toBe(expected);
      }),
      { numRuns: 120 },
    );
  });

  it('onSubtree reports starts beyond 2^32 exactly (arithmetic, not bit operations)', () => {
    const f = MerkleFrontier.fromJSON({ v: 1, size: 2 ** 33 - 1, hashes: Array.from({ length: 33 }, (_, k) => k.toString(16).padStart(64, '0')) });
    const got: [number, number][] = [];
    f.append(leafHash(Buffer.from('x')), (level, start) => got.push([level, start]));
    expect(got.length).toBe(34);
    expect(got[0]).toEqual([0, 2 ** 33 - 1]);
    expect(got[33]).toEqual([33, 0]);
    expect(got[32]).toEqual([32, 2 ** 32]);
  });

  it('JSON round-trip then further appends equals uninterrupted appends', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 400 }), (n1, n2) => {
        const leaves = leavesFor(n1 + n2);
        const whole = new MerkleFrontier();
        for (const h of leaves) whole.append(h);
        const first = new MerkleFrontier();
        for (const h of leaves.slice(0, n1)) first.append(h);
        const stored = JSON.stringify(first);
        const resumed = MerkleFrontier.fromJSON(JSON.parse(stored));
        expect(resumed.size).toBe(n1); // next index: no gap, no duplicate
        expect(resumed.root().equals(first.root())).toBe(true);
        for (const h of leaves.slice(n1)) resumed.append(h);
        expect(resumed.size).toBe(whole.size);
        expect(resumed.root().equals(whole.root())).toBe(true);
        expect(resumed.toJSON()).toEqual(whole.toJSON());
        expect(MerkleFrontier.fromJSON(stored).toJSON()).toEqual(first.toJSON());
      }),
      { numRuns: 150 },
    );
  });

  it('fromJSON rejects inconsistent or tampered state', () => {
    const f = new MerkleFrontier();
    for (const h of leavesFor(13)) f.append(h);
    const j = f.toJSON();
    expect(j.hashes.length).toBe(3); // 13 = 8 + 4 + 1
    expect(() => MerkleFrontier.fromJSON({ ...j, size: 14 })).toThrow(); // popcount(14) = 3: only the checksum catches it
    expect(() => MerkleFrontier.fromJSON({ ...j, size: 12 })).toThrow(); // popcount(12) = 2
    expect(() => MerkleFrontier.fromJSON({ ...j, hashes: [j.hashes[1], j.hashes[0], j.hashes[2]] })).toThrow();
    expect(() => MerkleFrontier.fromJSON({ ...j, hashes: j.hashes.map((h) => h.slice(2)) })).toThrow();
    expect(() => MerkleFrontier.fromJSON({ ...j, v: 2 })).toThrow();
    expect(() => MerkleFrontier.fromJSON({ ...j, size: -1 })).toThrow();
    expect(() => MerkleFrontier.fromJSON({ ...j, root: '00'.repeat(32) })).toThrow();
    expect(() => MerkleFrontier.fromJSON({ ...j, check: '00'.repeat(32) })).toThrow();
    const { root: _root, check: _check, ...bare } = j;
    expect(MerkleFrontier.fromJSON(bare).root().equals(f.root())).toBe(true);
    expect(MerkleFrontier.fromJSON({ ...bare, size: 14 }).size).toBe(14); // without a checksum, size is trusted
    expect(new MerkleFrontier().root().toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(() => new MerkleFrontier().append(Buffer.alloc(31))).toThrow(RangeError);
  });
});
