// RFC 9162 §2.1.1 Merkle Tree Hash (MTH) with SHA-256 (the hash used by RFC 9162 logs).
//   MTH({})        = SHA-256()                     (empty string)
//   MTH({d(0)})    = SHA-256(0x00 || d(0))         (leaf hash)
//   MTH(D[n])      = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
//                    where k is the largest power of two smaller than n (k < n <= 2k).
// The 0x00 / 0x01 domain-separation prefixes make leaf and interior hashes distinct,
// which is what rules out second-preimage attacks between leaves and nodes.
import { createHash, hash as oneShotHash } from 'node:crypto';

export const HASH_SIZE = 32;

const LEAF_PREFIX = 0x00;
const NODE_PREFIX = 0x01;

type OneShot = (algorithm: string, data: Uint8Array, outputEncoding: 'buffer') => Buffer;
// crypto.hash (Node >= 20.12 / 21.7) skips the Hash object; fall back to createHash elsewhere.
const sha256: (data: Uint8Array) => Buffer =
  typeof oneShotHash === 'function'
    ? (data) => (oneShotHash as unknown as OneShot)('sha256', data, 'buffer')
    : (data) => createHash('sha256').update(data).digest();

/** MTH of the empty tree: SHA-256 of the empty string (e3b0c442…b855). */
export const EMPTY_ROOT: Buffer = sha256(new Uint8Array(0));

export function emptyRoot(): Buffer {
  return Buffer.from(EMPTY_ROOT);
}

/** Leaf hash: SHA-256(0x00 || data). */
export function leafHash(data: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(1 + data.length);
  buf[0] = LEAF_PREFIX;
  buf.set(data, 1);
  return sha256(buf);
}

// Interior-node input is always 65 bytes; one scratch buffer is reused (hashing is synchronous).
const nodeScratch = Buffer.alloc(1 + 2 * HASH_SIZE);
nodeScratch[0] = NODE_PREFIX;

/** Interior node hash: SHA-256(0x01 || left || right). Both children must be 32-byte hashes. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) {
    throw new RangeError(`nodeHash: children must be ${HASH_SIZE} bytes`);
  }
  nodeScratch.set(left, 1);
  nodeScratch.set(right, 1 + HASH_SIZE);
  return sha256(nodeScratch);
}

/** Largest power of two strictly smaller than n (n >= 2). Arithmetic, not bit ops: sizes may exceed 2^32. */
export function largestPow2Below(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

export function isPow2(n: number): boolean {
  return n >= 1 && largestPow2Below(n * 2) === n;
}

export function assertSize(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative safe integer, got ${n}`);
}

/**
 * MTH of the first n leaf hashes (default: all), straight from the RFC 9162 §2.1.1 recursion.
 * O(n) hashes, O(log n) recursion depth.
 */
export function rootFromLeafHashes(hashes: readonly Uint8Array[], n: number = hashes.length): Buffer {
  assertSize('n', n);
  if (n > hashes.length) throw new RangeError(`n (${n}) exceeds the number of leaf hashes (${hashes.length})`);
  if (n === 0) return emptyRoot();
  return mth(hashes, 0, n);
}

function mth(hashes: readonly Uint8Array[], lo: number, hi: number): Buffer {
  const n = hi - lo;
  if (n === 1) {
    const h = hashes[lo]!;
    if (h.length !== HASH_SIZE) throw new RangeError(`leaf hash ${lo} is not ${HASH_SIZE} bytes`);
    return Buffer.from(h);
  }
  const k = largestPow2Below(n);
  return nodeHash(mth(hashes, lo, lo + k), mth(hashes, lo + k, hi));
}
