// Proof verification, RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency).
// The walk over (fn, sn) depends only on the sizes, never on hash values, so a valid proof for
// given sizes has exactly one possible length; any extra or missing element is rejected.
// Sizes are JS numbers up to 2^53 - 1, so shifts are done arithmetically.
import { EMPTY_ROOT, HASH_SIZE, isPow2, nodeHash } from './hash.ts';

export type MerkleProofErrorCode =
  | 'invalid-size' // not a non-negative safe integer
  | 'index-out-of-range' // leaf_index >= tree_size
  | 'size-order' // first > second
  | 'empty-tree' // consistency from size 0 to a non-empty tree (RFC 9162 requires 0 < first)
  | 'bad-hash-length' // a leaf hash, root or proof element is not 32 bytes
  | 'wrong-proof-length' // too many or too few proof elements for the sizes
  | 'root-mismatch'; // the recomputed root differs from the supplied one

export class MerkleProofError extends Error {
  override readonly name = 'MerkleProofError';
  constructor(
    readonly code: MerkleProofErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const half = (x: number): number => Math.floor(x / 2);
const odd = (x: number): boolean => x % 2 === 1;

function checkSize(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new MerkleProofError('invalid-size', `${name} must be a non-negative safe integer`);
}

function checkHash(name: string, h: Uint8Array): void {
  if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
    throw new MerkleProofError('bad-hash-length', `${name} must be ${HASH_SIZE} bytes`);
  }
}

const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);

/** Number of elements in a valid inclusion proof for leaf `index` of a tree of `size` (index < size). */
export function inclusionProofLength(index: number, size: number): number {
  let fn = index;
  let sn = size - 1;
  let len = 0;
  while (sn > 0) {
    if (!odd(fn) && fn === sn) {
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    }
    fn = half(fn);
    sn = half(sn);
    len++;
  }
  return len;
}

/** Number of elements in a valid consistency proof for 0 < m < n. */
export function consistencyProofLength(m: number, n: number): number {
  let fn = m - 1;
  let sn = n - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let steps = 0;
  while (sn > 0) {
    if (!odd(fn) && fn === sn) {
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    }
    fn = half(fn);
    sn = half(sn);
    steps++;
  }
  // The path walked has steps + 1 entries; when m is a power of two its first entry is first_hash itself.
  return isPow2(m) ? steps : steps + 1;
}

/**
 * RFC 9162 §2.1.3.2. Throws MerkleProofError (with a `code`) unless `proof` proves that `leafHash`
 * is leaf `index` of the tree of `size` leaves whose MTH is `root`.
 */
export function assertInclusion(index: number, size: number, leafHash: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): void {
  checkSize('size', size);
  checkSize('index', index);
  if (index >= size) throw new MerkleProofError('index-out-of-range', `leaf index ${index} >= tree size ${size}`);
  checkHash('leaf hash', leafHash);
  checkHash('root', root);
  proof.forEach((p, i) => checkHash(`proof[${i}]`, p));
  const want = inclusionProofLength(index, size);
  if (proof.length !== want) {
    throw new MerkleProofError('wrong-proof-length', `inclusion proof has ${proof.length} elements, expected ${want}`);
  }
  let fn = index;
  let sn = size - 1;
  let r: Uint8Array = leafHash;
  for (const p of proof) {
    if (sn === 0) throw new MerkleProofError('wrong-proof-length', 'inclusion proof too long');
    if (odd(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new MerkleProofError('wrong-proof-length', 'inclusion proof too short');
  if (!bytesEqual(r, root)) throw new MerkleProofError('root-mismatch', 'computed root does not match');
}

/** Boolean form of assertInclusion. */
export function verifyInclusion(index: number, size: number, leafHash: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  try {
    assertInclusion(index, size, leafHash, proof, root);
    return true;
  } catch (e) {
    if (e instanceof MerkleProofError) return false;
    throw e;
  }
}

/**
 * RFC 9162 §2.1.4.2 for 0 < m < n. Beyond the RFC's domain:
 * - m === n: consistent iff the proof is empty and the roots are equal; for m === n === 0 both roots
 *   must also be MTH({}) = SHA-256(""), the only possible root of the empty tree.
 * - m === 0 < n: rejected ('empty-tree'); the empty tree is a prefix of every tree, so a "proof" proves nothing.
 * - m > n: rejected ('size-order').
 */
export function assertConsistency(m: number, n: number, rootM: Uint8Array, rootN: Uint8Array, proof: readonly Uint8Array[]): void {
  checkSize('m', m);
  checkSize('n', n);
  if (m > n) throw new MerkleProofError('size-order', `first size ${m} > second size ${n}`);
  if (m === n) {
    if (proof.length !== 0) throw new MerkleProofError('wrong-proof-length', 'sizes are equal but the proof is not empty');
    if (!bytesEqual(rootM, rootN)) throw new MerkleProofError('root-mismatch', 'sizes are equal but roots differ');
    if (m === 0 && !bytesEqual(rootM, EMPTY_ROOT)) throw new MerkleProofError('root-mismatch', 'root of the empty tree must be SHA-256("")');
    return;
  }
  if (m === 0) throw new MerkleProofError('empty-tree', 'consistency proof from the empty tree');
  checkHash('first root', rootM);
  checkHash('second root', rootN);
  proof.forEach((p, i) => checkHash(`proof[${i}]`, p));
  // Step 1: an empty consistency_path fails.
  if (proof.length === 0) throw new MerkleProofError('wrong-proof-length', 'empty consistency proof');
  const want = consistencyProofLength(m, n);
  if (proof.length !== want) {
    throw new MerkleProofError('wrong-proof-length', `consistency proof has ${proof.length} elements, expected ${want}`);
  }
  // Step 2: if first is an exact power of two, first_hash is the first path entry.
  const path: readonly Uint8Array[] = isPow2(m) ? [rootM, ...proof] : proof;
  // Steps 3-4.
  let fn = m - 1;
  let sn = n - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5.
  let fr: Uint8Array = path[0]!;
  let sr: Uint8Array = path[0]!;
  // Step 6.
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) throw new MerkleProofError('wrong-proof-length', 'consistency proof too long');
    if (odd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 7.
  if (sn !== 0) throw new MerkleProofError('wrong-proof-length', 'consistency proof too short');
  if (!bytesEqual(fr, rootM)) throw new MerkleProofError('root-mismatch', 'computed first root does not match');
  if (!bytesEqual(sr, rootN)) throw new MerkleProofError('root-mismatch', 'computed second root does not match');
}

/** Boolean form of assertConsistency. */
export function verifyConsistency(m: number, n: number, rootM: Uint8Array, rootN: Uint8Array, proof: readonly Uint8Array[]): boolean {
  try {
    assertConsistency(m, n, rootM, rootN, proof);
    return true;
  } catch (e) {
    if (e instanceof MerkleProofError) return false;
    throw e;
  }
}
