// Incremental appender over the right frontier ("compact range" [0, size)) of an RFC 9162 tree.
//
// For size n the tree [0, n) decomposes uniquely into perfect subtrees, one per set bit of n,
// largest (leftmost) first: e.g. n = 13 = 8 + 4 + 1 -> roots of [0,8), [8,12), [12,13).
// Those popcount(n) <= 53 hashes are the whole state. Appending a leaf merges equal-sized
// perfect subtrees like a binary counter carry (amortized one node hash per append), and
// MTH(D[n]) folds the frontier right to left: because k in §2.1.1 is the largest power of two
// below n, MTH(D[n]) = H(0x01 || F[0] || MTH(rest)) recursively, with the smallest subtree last.
import { createHash } from 'node:crypto';
import { EMPTY_ROOT, HASH_SIZE, assertSize, leafHash as hashLeaf, nodeHash } from './hash.ts';

/** A perfect subtree completed by an append: MTH of leaves [start, start + 2^level). */
export type SubtreeCallback = (level: number, start: number, hash: Uint8Array) => void;

export interface MerkleFrontierJSON {
  /** Format version. */
  v: 1;
  /** Number of leaves appended; the next leaf has index `size`. */
  size: number;
  /** Roots of the perfect subtrees covering [0, size), largest first, lowercase hex. */
  hashes: string[];
  /** MTH(D[size]) in hex; checked on load when present. */
  root: string;
  /**
   * SHA-256("merkle-frontier/v1" || size as u64 big-endian || hashes) in hex; checked on load when
   * present. The root alone does not bind `size` (the fold over the same hashes ignores it), so this
   * catches a torn or corrupted record whose size would otherwise resume at the wrong index.
   * An integrity check against accidents, not an authenticator.
   */
  check: string;
}

function checksum(size: number, stack: readonly Buffer[]): string {
  const h = createHash('sha256').update('merkle-frontier/v1');
  const s = Buffer.alloc(8);
  s.writeBigUInt64BE(BigInt(size));
  h.update(s);
  for (const x of stack) h.update(x);
  return h.digest('hex');
}

function popcount(n: number): number {
  let c = 0;
  while (n > 0) {
    c += n % 2;
    n = Math.floor(n / 2);
  }
  return c;
}

export class MerkleFrontier {
  #size = 0;
  /** Perfect-subtree roots, largest first; length === popcount(size). */
  #stack: Buffer[] = [];

  get size(): number {
    return this.#size;
  }

  /**
   * Appends one leaf hash (SHA-256(0x00 || data)); returns the leaf's index.
   *
   * `onSubtree`, when given, is called for every perfect subtree this append completes, smallest
   * first: the leaf itself (level 0), then one per merge. Those are exactly the subtrees whose last
   * leaf is this one, i.e. the aligned ranges [start, start + 2^level) with start + 2^level = size;
   * a store that keeps some of them gets every node of a level as the tree grows past it.
   * `hash` is MTH(D[start:start + 2^level]) and must not be modified.
   */
  append(leafHash: Uint8Array, onSubtree?: SubtreeCallback): number {
    if (leafHash.length !== HASH_SIZE) throw new RangeError(`leaf hash must be ${HASH_SIZE} bytes`);
    const index = this.#size;
    if (index >= Number.MAX_SAFE_INTEGER) throw new RangeError('tree size limit reached');
    // Each trailing 1-bit of the old size is a perfect subtree of the same size as `cur`: merge.
    // The caller's buffer is copied only if it is stored as is (even index).
    let s = index;
    let cur: Uint8Array = leafHash;
    if (onSubtree === undefined) {
      while (s % 2 === 1) {
        cur = nodeHash(this.#stack.pop()!, cur);
        s = (s - 1) / 2;
      }
    } else {
      // A separate loop keeps the span bookkeeping off the common path. Arithmetic, not bit ops:
      // sizes may exceed 2^32.
      onSubtree(0, index, leafHash);
      let level = 0;
      let span = 1;
      while (s % 2 === 1) {
        cur = nodeHash(this.#stack.pop()!, cur);
        s = (s - 1) / 2;
        level++;
        span *= 2;
        onSubtree(level, index + 1 - span, cur);
      }
    }
    this.#stack.push(cur === leafHash ? Buffer.from(leafHash) : (cur as Buffer));
    this.#size = index + 1;
    return index;
  }

  /** Hashes `data` as a leaf and appends it; returns the leaf's index. */
  appendData(data: Uint8Array): number {
    return this.append(hashLeaf(data));
  }

  /** MTH(D[size]); O(log size) node hashes. */
  root(): Buffer {
    const st = this.#stack;
    if (st.length === 0) return Buffer.from(EMPTY_ROOT);
    let r = st[st.length - 1]!;
    for (let i = st.length - 2; i >= 0; i--) r = nodeHash(st[i]!, r);
    return st.length === 1 ? Buffer.from(r) : r;
  }

  /** The perfect-subtree roots, largest first (copies). */
  subtreeRoots(): Buffer[] {
    return this.#stack.map((h) => Buffer.from(h));
  }

  clone(): MerkleFrontier {
    const f = new MerkleFrontier();
    f.#size = this.#size;
    f.#stack = this.#stack.map((h) => Buffer.from(h));
    return f;
  }

  toJSON(): MerkleFrontierJSON {
    return {
      v: 1,
      size: this.#size,
      hashes: this.#stack.map((h) => h.toString('hex')),
      root: this.root().toString('hex'),
      check: checksum(this.#size, this.#stack),
    };
  }

  /**
   * Restores a frontier saved with toJSON(). The next append gets index `size`, so a process that
   * persists the frontier atomically with its last appended entry resumes with no gap and no duplicate.
   * Throws on any structural inconsistency or if the recorded root does not match.
   */
  static fromJSON(json: unknown): MerkleFrontier {
    const o = (typeof json === 'string' ? JSON.parse(json) : json) as Partial<MerkleFrontierJSON> | null;
    if (!o || typeof o !== 'object' || o.v !== 1) throw new TypeError('MerkleFrontier.fromJSON: unsupported format');
    const size = o.size as number;
    assertSize('size', size);
    if (!Array.isArray(o.hashes) || o.hashes.length !== popcount(size)) {
      throw new TypeError('MerkleFrontier.fromJSON: hash count must equal the number of set bits in size');
    }
    const stack = o.hashes.map((h) => {
      if (typeof h !== 'string' || !/^[0-9a-f]{64}$/i.test(h)) throw new TypeError('MerkleFrontier.fromJSON: bad hash');
      return Buffer.from(h, 'hex');
    });
    if (o.check !== undefined && o.check !== checksum(size, stack)) {
      throw new TypeError('MerkleFrontier.fromJSON: checksum mismatch (size or hashes corrupted)');
    }
    const f = new MerkleFrontier();
    f.#size = size;
    f.#stack = stack;
    if (o.root !== undefined) {
      if (typeof o.root !== 'string' || o.root.length !== 2 * HASH_SIZE || !f.root().equals(Buffer.from(o.root, 'hex'))) {
        throw new TypeError('MerkleFrontier.fromJSON: root does not match the stored frontier');
      }
    }
    return f;
  }
}
