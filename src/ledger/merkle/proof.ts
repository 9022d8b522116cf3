// Proof generation, RFC 9162 §2.1.3.1 (inclusion) and §2.1.4.1 (consistency).
//
// PATH(m, D[n]) for 0 <= m < n, with k the largest power of two smaller than n:
//   PATH(0, {d(0)}) = {}
//   PATH(m, D[n])   = PATH(m, D[0:k]) : MTH(D[k:n])      if m < k
//   PATH(m, D[n])   = PATH(m - k, D[k:n]) : MTH(D[0:k])  if m >= k
// PROOF(m, D[n]) = SUBPROOF(m, D[n], true) for 0 < m < n, where
//   SUBPROOF(m, D[m], true)  = {}
//   SUBPROOF(m, D[m], false) = {MTH(D[m])}
//   SUBPROOF(m, D[n], b)     = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])          if m <= k
//   SUBPROOF(m, D[n], b)     = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])  if m > k
// (":" appends; the deepest component comes first.)
//
// Cost: every component is the MTH of a disjoint leaf range, so one proof reads O(n) leaf hashes
// and performs O(n) node hashes with O(log n) memory, without any stored interior nodes.
// A source that caches perfect-subtree roots can supply them via `subtreeRoot`: each component
// range is either a perfect subtree or a right-edge range made of at most log2(n) perfect
// subtrees, so a proof then costs O(log^2 n) cache lookups and node hashes instead of O(n).
// A cache that only holds subtrees of `subtreeMinSize` leaves or more leaves each range's last
// few perfect subtrees (fewer than subtreeMinSize leaves together) to be folded from leaf hashes.
import { EMPTY_ROOT, assertSize, isPow2, largestPow2Below, nodeHash } from './hash.ts';
import { MerkleFrontier } from './frontier.ts';

type MaybePromise<T> = T | Promise<T>;

export interface HashSource {
  /** Leaf hash (SHA-256(0x00 || entry)) of leaf `index`. */
  leafHash(index: number): MaybePromise<Uint8Array>;
  /** Optional batched read of leaf hashes [start, end). */
  leafHashes?(start: number, end: number): MaybePromise<readonly Uint8Array[]>;
  /**
   * Optional cache of perfect subtree roots: MTH(D[start:end]) where end - start is a power of two
   * and start is a multiple of it. Return undefined when not cached.
   */
  subtreeRoot?(start: number, end: number): MaybePromise<Uint8Array | undefined>;
  /**
   * Smallest perfect subtree (a power of two, in leaves) worth asking `subtreeRoot` for; smaller
   * ranges are folded from leaf hashes. Default 1.
   */
  subtreeMinSize?: number;
}

/** An in-memory array of leaf hashes, or any HashSource. */
export type LeafHashSource = HashSource | readonly Uint8Array[];

const BATCH = 8192;

function isPromise<T>(v: MaybePromise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/** MTH(D[lo:hi]) for 0 <= lo < hi, using the source. */
export async function subtreeRoot(source: LeafHashSource, lo: number, hi: number): Promise<Buffer> {
  if (hi <= lo) throw new RangeError('subtreeRoot: empty range');
  if (Array.isArray(source)) return foldRange(source as readonly Uint8Array[], lo, hi);
  const src = source as HashSource;
  if (!src.subtreeRoot) return foldSource(src, lo, hi);
  const min = Math.max(1, src.subtreeMinSize ?? 1);
  return cachedRoot(src, min, lo, hi);
}

/**
 * MTH(D[lo:hi]) over a source with a subtree cache. A perfect aligned range is one tree node: the
 * cache answers it or the range is folded from its leaves in one batched read (descending instead
 * would cost a read per leaf). Any other range of at least `min` leaves splits as in §2.1.1 at the
 * largest power of two below its size, whose left part is perfect (and aligned in every proof
 * component, which all start at a multiple of their largest perfect part).
 */
async function cachedRoot(src: HashSource, min: number, lo: number, hi: number): Promise<Buffer> {
  const n = hi - lo;
  if (n < min) return foldSource(src, lo, hi);
  if (isPow2(n)) {
    if (lo % n === 0) {
      const r = src.subtreeRoot!(lo, hi);
      const cached = isPromise(r) ? await r : r;
      return cached ? Buffer.from(cached) : foldSource(src, lo, hi);
    }
    // Unaligned: no tree node covers it, but its pieces the size of lo's alignment are nodes, worth
    // asking for only when they are at least `min` leaves.
    if (lo % min !== 0) return foldSource(src, lo, hi);
  }
  const k = largestPow2Below(n);
  return nodeHash(await cachedRoot(src, min, lo, lo + k), await cachedRoot(src, min, lo + k, hi));
}

/** MTH(D[lo:hi]) folded from the source's leaf hashes, in batches when it can read them so. */
async function foldSource(src: HashSource, lo: number, hi: number): Promise<Buffer> {
  const f = new MerkleFrontier();
  if (src.leafHashes) {
    for (let s = lo; s < hi; s += BATCH) {
      const e = Math.min(hi, s + BATCH);
      const r = src.leafHashes(s, e);
      const batch = isPromise(r) ? await r : r;
      if (batch.length !== e - s) throw new RangeError(`leafHashes(${s}, ${e}) returned ${batch.length} hashes`);
      for (const h of batch) f.append(h);
    }
  } else {
    for (let i = lo; i < hi; i++) {
      const r = src.leafHash(i);
      f.append(isPromise(r) ? await r : r);
    }
  }
  return f.root();
}

function foldRange(hashes: readonly Uint8Array[], lo: number, hi: number): Buffer {
  if (hi > hashes.length) throw new RangeError(`leaf ${hi - 1} is beyond the ${hashes.length} available leaf hashes`);
  const f = new MerkleFrontier();
  for (let i = lo; i < hi; i++) f.append(hashes[i]!);
  return f.root();
}

/** A leaf range [lo, hi) whose MTH is one proof component. */
interface Range {
  lo: number;
  hi: number;
}

/** Component ranges of PATH(index, D[size]) in proof order. */
export function inclusionProofRanges(index: number, size: number): Range[] {
  assertSize('size', size);
  assertSize('index', index);
  if (index >= size) throw new RangeError(`index (${index}) must be < size (${size})`);
  const topDown: Range[] = [];
  let lo = 0;
  let n = size;
  let m = index;
  while (n > 1) {
    const k = largestPow2Below(n);
    if (m < k) {
      topDown.push({ lo: lo + k, hi: lo + n });
      n = k;
    } else {
      topDown.push({ lo, hi: lo + k });
      lo += k;
      m -= k;
      n -= k;
    }
  }
  return topDown.reverse();
}

/** Component ranges of PROOF(m, D[n]) in proof order; [] when m === n. */
export function consistencyProofRanges(m: number, n: number): Range[] {
  assertSize('m', m);
  assertSize('n', n);
  if (m > n) throw new RangeError(`m (${m}) must be <= n (${n})`);
  if (m === n) return [];
  if (m === 0) throw new RangeError('consistency with the empty tree needs no proof (RFC 9162 requires 0 < m < n)');
  const topDown: Range[] = [];
  let lo = 0;
  let size = n;
  let mm = m;
  let b = true;
  for (;;) {
    if (mm === size) {
      if (!b) topDown.push({ lo, hi: lo + size });
      break;
    }
    const k = largestPow2Below(size);
    if (mm <= k) {
      topDown.push({ lo: lo + k, hi: lo + size });
      size = k;
    } else {
      topDown.push({ lo, hi: lo + k });
      lo += k;
      mm -= k;
      size -= k;
      b = false;
    }
  }
  return topDown.reverse();
}

async function materialize(ranges: Range[], source: LeafHashSource): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const r of ranges) out.push(await subtreeRoot(source, r.lo, r.hi));
  return out;
}

/** Inclusion proof (audit path) for leaf `index` in the tree of the first `size` leaves. */
export async function inclusionProof(index: number, size: number, source: LeafHashSource): Promise<Buffer[]> {
  return materialize(inclusionProofRanges(index, size), source);
}

/** Consistency proof between the trees of the first m and first n leaves (0 < m <= n). */
export async function consistencyProof(m: number, n: number, source: LeafHashSource): Promise<Buffer[]> {
  return materialize(consistencyProofRanges(m, n), source);
}

/** MTH(D[size]) from a source. */
export async function rootAt(size: number, source: LeafHashSource): Promise<Buffer> {
  assertSize('size', size);
  return size === 0 ? Buffer.from(EMPTY_ROOT) : subtreeRoot(source, 0, size);
}
