// C2SP transparency log checkpoints (https://c2sp.org/tlog-checkpoint).
//
// Spec facts:
// - A checkpoint is a signed note whose text is at least three non-empty lines, each ending in
//   newline (U+000A):
//     1. origin: unique, non-empty identifier of the log (SHOULD be a schema-less URL with no
//        spaces or '+', but clients MUST NOT assume that, so we accept any non-empty line);
//     2. tree size: ASCII decimal, no leading zeroes (the empty tree is "0");
//     3. root hash: base64 of the RFC 6962 Merkle tree root at that size (32 bytes for SHA-256);
//     4. optional extension lines: opaque, each MUST be non-empty (their use is NOT RECOMMENDED).
// - A log MUST NOT sign a checkpoint inconsistent with any checkpoint it previously signed
//   (enforced by CheckpointSigner in signer.ts).
// - The log's key name SHOULD match the origin line; clients MUST ignore unknown signatures, which
//   is what lets logs rotate keys and witnesses add cosignatures.
//
// Local restrictions: sizes must be safe JS integers (< 2^53), roots exactly 32 bytes, and the
// base64 must be the canonical 44-character encoding, so that parse/format is a bijection.

import { checkNoteText, decodeBase64Strict, openNote, signNote, type Note, type NoteSigner, type NoteVerifier, type OpenNoteOptions } from './note.ts';

export const ROOT_HASH_BYTES = 32;

export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
  extensions: string[];
}

export class CheckpointFormatError extends Error {
  override name = 'CheckpointFormatError';
}

const utf8Fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const SIZE_RE = /^(?:0|[1-9][0-9]*)$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f]/;

function checkLine(kind: string, line: string): void {
  if (line === '') throw new CheckpointFormatError(`${kind} must be non-empty`);
  if (CONTROL_RE.test(line)) throw new CheckpointFormatError(`${kind} contains a control character or newline`);
  if (Buffer.from(line, 'utf8').toString('utf8') !== line) throw new CheckpointFormatError(`${kind} is not valid UTF-8`);
}

function checkSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) throw new CheckpointFormatError(`tree size must be a non-negative safe integer, got ${size}`);
}

function checkRoot(root: Uint8Array): void {
  if (root.length !== ROOT_HASH_BYTES) throw new CheckpointFormatError(`root hash must be ${ROOT_HASH_BYTES} bytes, got ${root.length}`);
}

/** Formats the checkpoint note text: origin, size and base64 root, then extension lines. */
export function formatCheckpoint(cp: { origin: string; size: number; root: Uint8Array; extensions?: readonly string[] }): string {
  checkLine('origin', cp.origin);
  checkSize(cp.size);
  checkRoot(cp.root);
  const ext = cp.extensions ?? [];
  for (const e of ext) checkLine('extension line', e);
  return [cp.origin, String(cp.size), Buffer.from(cp.root).toString('base64'), ...ext].map((l) => `${l}\n`).join('');
}

/** Strictly parses checkpoint note text (the part of a signed note before the blank line). */
export function parseCheckpoint(input: string | Uint8Array): Checkpoint {
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    try {
      text = utf8Fatal.decode(input);
    } catch {
      throw new CheckpointFormatError('checkpoint is not valid UTF-8');
    }
  }
  if (!text.endsWith('\n')) throw new CheckpointFormatError('checkpoint text must end in newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new CheckpointFormatError('checkpoint needs origin, size and root hash lines');
  const [origin, sizeStr, rootStr, ...extensions] = lines as [string, string, string, ...string[]];
  checkLine('origin', origin);
  if (!SIZE_RE.test(sizeStr)) throw new CheckpointFormatError('tree size must be decimal without leading zeroes');
  const size = Number(sizeStr);
  if (!Number.isSafeInteger(size)) throw new CheckpointFormatError('tree size too large');
  const root = decodeBase64Strict(rootStr);
  if (root === undefined) throw new CheckpointFormatError('root hash is not canonical base64');
  checkRoot(root);
  for (const e of extensions) checkLine('extension line', e);
  return { origin, size, root, extensions };
}

/** Formats and signs a checkpoint; returns the signed note. */
export function signCheckpoint(cp: { origin: string; size: number; root: Uint8Array; extensions?: readonly string[] }, signers: readonly NoteSigner[]): string {
  const text = formatCheckpoint(cp);
  checkNoteText(text);
  return signNote(text, signers);
}

export interface OpenCheckpointOptions extends OpenNoteOptions {
  /** If set, the checkpoint's origin line must equal this. */
  origin?: string;
}

/** Verifies a signed checkpoint note against the verifiers and parses its text. */
export function openCheckpoint(msg: Uint8Array | string, verifiers: readonly NoteVerifier[], opts: OpenCheckpointOptions = {}): { checkpoint: Checkpoint; note: Note } {
  const note = openNote(msg, verifiers, opts);
  const checkpoint = parseCheckpoint(note.text);
  if (opts.origin !== undefined && checkpoint.origin !== opts.origin) {
    throw new CheckpointFormatError(`checkpoint origin ${JSON.stringify(checkpoint.origin)} is not ${JSON.stringify(opts.origin)}`);
  }
  return { checkpoint, note };
}
