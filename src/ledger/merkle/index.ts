export { EMPTY_ROOT, HASH_SIZE, emptyRoot, leafHash, nodeHash, rootFromLeafHashes } from './hash.ts';
export { MerkleFrontier, type MerkleFrontierJSON, type SubtreeCallback } from './frontier.ts';
export {
  consistencyProof,
  consistencyProofRanges,
  inclusionProof,
  inclusionProofRanges,
  rootAt,
  subtreeRoot,
  type HashSource,
  type LeafHashSource,
} from './proof.ts';
export {
  MerkleProofError,
  assertConsistency,
  assertInclusion,
  consistencyProofLength,
  inclusionProofLength,
  verifyConsistency,
  verifyInclusion,
  type MerkleProofErrorCode,
} from './verify.ts';
