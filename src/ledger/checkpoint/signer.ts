// The log's checkpoint signing key, with rotation and a persisted split-view guard.
//
// c2sp.org/tlog-checkpoint: "A log MUST not sign any checkpoint which is inconsistent with any
// checkpoint it previously signed." Append-only trees are consistent iff each later head extends the
// earlier one, so it is enough to check every new head against the LAST signed one: never a smaller
// size (rollback), never the same size with another root (split view), and for a larger size the
// caller's consistency check (normally: a Merkle consistency proof verifies) must pass.
// The last signed head is written durably (write temp, fsync, rename, fsync dir) BEFORE the signed
// checkpoint is returned, so a crash or restart can never forget a head that was handed out.
//
// Directory layout (every file mode 0600, directory 0700):
//   signer.key       current signer key, sumdb/note format (PRIVATE+KEY+<origin>+<hash>+...)
//   previous.vkeys   verifier keys of rotated-out keys, one per line, newest last
//   state.json       {"version":1,"checkpoint": <last signed checkpoint note> | null}
// The key name is the origin by default (the spec says the log's key name SHOULD match the origin).
//
// Not handled: several processes signing from the same directory at once (each sign() re-reads the
// state file, so sequential use from several instances is safe, but there is no inter-process lock).

import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.ts';
import { openCheckpoint, signCheckpoint, ROOT_HASH_BYTES } from './checkpoint.ts';
import { generateKey, parseSignerKey, parseVerifierKey, type KeyedNoteSigner, type NoteVerifier } from './note.ts';

export type ConsistencyCheck = (oldSize: number, oldRoot: Buffer, newSize: number, newRoot: Buffer) => boolean;

export type RefusalReason = 'rollback' | 'split-view' | 'inconsistent';

export class CheckpointRefusedError extends Error {
  override name = 'CheckpointRefusedError';
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
  }
}

export class KeyStoreError extends Error {
  override name = 'KeyStoreError';
}

export interface SignedHead {
  size: number;
  root: Buffer;
  /** The signed checkpoint note that recorded this head. */
  note: string;
}

const KEY_FILE = 'signer.key';
const PREVIOUS_FILE = 'previous.vkeys';
const STATE_FILE = 'state.json';


function readPrivateFile(path: string): string {
  const st = statSync(path);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new KeyStoreError(`${path} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}); expected 0600`);
  }
  return readFileSync(path, 'utf8');
}

export interface CheckpointSignerOptions {
  /** Key name; defaults to the origin. */
  keyName?: string;
}

export class CheckpointSigner {
  private signer: KeyedNoteSigner;
  private previous: string[];
  private last: SignedHead | undefined;

  private constructor(
    readonly dir: string,
    readonly origin: string,
    signer: KeyedNoteSigner,
    previous: string[],
  ) {
    this.signer = signer;
    this.previous = previous;
    this.last = this.readState();
  }

  /** Loads the key ring in dir, creating the directory, a fresh key and empty state if absent. */
  static open(dir: string, origin: string, opts: CheckpointSignerOptions = {}): CheckpointSigner {
    const keyName = opts.keyName ?? origin;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const keyPath = join(dir, KEY_FILE);
    if (!existsSync(keyPath)) {
      if (existsSync(join(dir, STATE_FILE))) throw new KeyStoreError(`${keyPath} is missing but ${STATE_FILE} exists; refusing to create a new key`);
      // State first: a key without a state file is treated as lost state below.
      writeFileAtomic(dir, STATE_FILE, JSON.stringify({ version: 1, checkpoint: null }) + '\n');
      writeFileAtomic(dir, KEY_FILE, generateKey(keyName).signerKey + '\n');
    }
    const signer = parseSignerKey(readPrivateFile(keyPath).trim());
    if (signer.name !== keyName) throw new KeyStoreError(`key in ${keyPath} is named ${signer.name}, expected ${keyName}`);
    const prevPath = join(dir, PREVIOUS_FILE);
    const previous = existsSync(prevPath)
      ? readPrivateFile(prevPath)
          .split('\n')
          .filter((l) => l !== '' && l !== signer.verifierKey)
      : [];
    for (const v of previous) parseVerifierKey(v);
    return new CheckpointSigner(dir, origin, signer, previous);
  }

  /** Verifier key of the current signing key. */
  get verifierKey(): string {
    return this.signer.verifierKey;
  }

  /** All verifier keys, current first, then rotated-out keys newest first. */
  get verifierKeys(): string[] {
    return [this.signer.verifierKey, ...[...this.previous].reverse()];
  }

  /** Verifiers for every key this log has used, so checkpoints signed before a rotation still open. */
  verifiers(): NoteVerifier[] {
    return this.verifierKeys.map(parseVerifierKey);
  }

  get lastSigned(): { size: number; root: Buffer } | undefined {
    return this.last && { size: this.last.size, root: Buffer.from(this.last.root) };
  }

  get lastCheckpoint(): string | undefined {
    return this.last?.note;
  }

  private readState(): SignedHead | undefined {
    const path = join(this.dir, STATE_FILE);
    if (!existsSync(path)) throw new KeyStoreError(`${path} is missing: the last signed checkpoint is unknown, refusing to sign`);
    let state: unknown;
    try {
      state = JSON.parse(readPrivateFile(path));
    } catch (err) {
      if (err instanceof KeyStoreError) throw err;
      throw new KeyStoreError(`${path} is not valid JSON`);
    }
    const s = state as { version?: unknown; checkpoint?: unknown };
    if (s.version !== 1 || (s.checkpoint !== null && typeof s.checkpoint !== 'string')) throw new KeyStoreError(`${path} has an unknown format`);
    if (s.checkpoint === null) return undefined;
    try {
      const { checkpoint } = openCheckpoint(s.checkpoint, this.verifiers(), { origin: this.origin });
      return { size: checkpoint.size, root: checkpoint.root, note: s.checkpoint };
    } catch (err) {
      throw new KeyStoreError(`${path} does not hold a valid checkpoint of this log: ${(err as Error).message}`);
    }
  }

  /**
   * Signs a checkpoint for (size, root) and returns the signed note, or throws
   * CheckpointRefusedError if it could be inconsistent with the last signed checkpoint.
   */
  sign(size: number, root: Uint8Array, consistent: ConsistencyCheck, extensions: readonly string[] = []): string {
    if (!Number.isSafeInteger(size) || size < 0) throw new TypeError(`size must be a non-negative safe integer, got ${size}`);
    if (root.length !== ROOT_HASH_BYTES) throw new TypeError(`root must be ${ROOT_HASH_BYTES} bytes`);
    const newRoot = Buffer.from(root);
    // Re-read: another instance on the same directory may have signed since we loaded.
    this.last = this.readState();
    const last = this.last;
    if (last !== undefined) {
      if (size < last.size) throw new CheckpointRefusedError('rollback', `refusing to sign size ${size} after size ${last.size}`);
      if (size === last.size) {
        if (!newRoot.equals(last.root)) throw new CheckpointRefusedError('split-view', `refusing to sign a second root for size ${size}`);
      } else if (!consistent(last.size, Buffer.from(last.root), size, Buffer.from(newRoot))) {
        throw new CheckpointRefusedError('inconsistent', `size ${size} is not consistent with the checkpoint at size ${last.size}`);
      }
    }
    const note = signCheckpoint({ origin: this.origin, size, root: newRoot, extensions }, [this.signer]);
    openCheckpoint(note, [parseVerifierKey(this.signer.verifierKey)], { origin: this.origin });
    // Persist before handing the checkpoint out.
    writeFileAtomic(this.dir, STATE_FILE, JSON.stringify({ version: 1, checkpoint: note }) + '\n');
    this.last = { size, root: newRoot, note };
    return note;
  }

  /**
   * Replaces the signing key with a fresh one; the old verifier key is kept so checkpoints signed
   * with it still verify. Returns the new verifier key.
   */
  rotate(): string {
    const old = this.signer.verifierKey;
    const previous = [...this.previous.filter((k) => k !== old), old];
    // Record the old verifier key first: a crash before the key swap just leaves a duplicate entry.
    writeFileAtomic(this.dir, PREVIOUS_FILE, previous.map((k) => `${k}\n`).join(''));
    this.previous = previous;
    const fresh = generateKey(this.signer.name);
    writeFileAtomic(this.dir, KEY_FILE, fresh.signerKey + '\n');
    this.signer = parseSignerKey(fresh.signerKey);
    return this.signer.verifierKey;
  }
}
