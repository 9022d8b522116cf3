// Test helper (not used by production code): a real log, a MerkleFrontier for the root and the leaf
// hashes for proofs, signing through CheckpointSigner, plus a way to sign forks with the same key.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointSigner, parseCheckpoint, parseSignerKey, signCheckpoint, type Checkpoint } from '../checkpoint/index.ts';
import { MerkleFrontier, consistencyProof, leafHash, verifyConsistency } from '../merkle/index.ts';
import { noteText } from './state.ts';

export interface SignedCheckpoint {
  note: string;
  checkpoint: Checkpoint;
  proofFor: (oldSize: number) => Promise<Buffer[]>;
}

export class TestLog {
  readonly leaves: Buffer[] = [];
  readonly frontier = new MerkleFrontier();

  private constructor(
    readonly dir: string,
    readonly origin: string,
    readonly signer: CheckpointSigner,
  ) {}

  static open(dir: string, origin: string): TestLog {
    return new TestLog(dir, origin, CheckpointSigner.open(dir, origin));
  }

  get verifierKey(): string {
    return this.signer.verifierKey;
  }

  append(n: number, tag = 'entry'): void {
    for (let i = 0; i < n; i++) {
      const h = leafHash(Buffer.from(`${tag} ${this.leaves.length}`));
      this.leaves.push(h);
      this.frontier.append(h);
    }
  }

  /** Signs the current head; refuses (via CheckpointSigner) anything inconsistent with the last one. */
  async sign(): Promise<SignedCheckpoint> {
    const size = this.frontier.size;
    const root = this.frontier.root();
    const last = this.signer.lastSigned;
    const proof = last && last.size > 0 && last.size < size ? await consistencyProof(last.size, size, this.leaves) : [];
    const note = this.signer.sign(size, root, (m, rm, n, rn) => verifyConsistency(m, n, rm, rn, proof));
    const leaves = this.leaves.slice(0, size);
    return { note, checkpoint: parseCheckpoint(noteText(note)), proofFor: (old) => consistencyProof(old, size, leaves) };
  }

  /** Signs an arbitrary head with the log's key, bypassing the log's own split-view guard. */
  signRaw(size: number, root: Uint8Array): string {
    const skey = readFileSync(join(this.dir, 'signer.key'), 'utf8').trim();
    return signCheckpoint({ origin: this.origin, size, root }, [parseSignerKey(skey)]);
  }
}
