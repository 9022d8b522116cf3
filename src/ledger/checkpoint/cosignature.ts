// C2SP witness cosignatures, Ed25519 "cosignature/v1" (https://c2sp.org/tlog-cosignature).
//
// Spec facts:
// - A cosignature is a signed-note signature line `— <cosigner name> base64(key ID || sig)` added to
//   a checkpoint.
// - Key ID = SHA-256(<name> || "\n" || 0x04 || 32-byte Ed25519 public key)[:4]. Type 0x04 (not the
//   plain-Ed25519 0x01) is the signature type byte assigned to timestamped Ed25519 cosignatures in
//   c2sp.org/signed-note; Ed25519 public keys MAY be encoded as vkeys with type 0x04.
// - The signature bytes are a timestamped_signature: u64 big-endian POSIX timestamp (seconds; it
//   MUST NOT exceed 2^63 - 1) followed by the 64-byte Ed25519 signature. So the base64 decodes to
//   4 + 8 + 64 = 76 bytes.
// - The signed message is "cosignature/v1\n", then "time " + the timestamp in ASCII decimal with no
//   leading zeroes + "\n", then the whole checkpoint note text (including the final newline and any
//   extension lines, but no signature lines).
// - Verifiers MAY reject timestamps in the future (opt in with maxFutureSeconds).
// - The v1 message does not commit to the cosigner name, so one Ed25519 key MUST NOT be shared by
//   several cosigners.
//
// Our cosigner key strings mirror the sumdb/note formats with type byte 0x04:
//   PRIVATE+KEY+<name>+<hash>+base64(0x04 || seed)  and  <name>+<hash>+base64(0x04 || pubkey)

import { randomBytes } from 'node:crypto';
import { parseCheckpoint } from './checkpoint.ts';
import {
  NoteError,
  decodeBase64Strict,
  ed25519PrivateKeyFromSeed,
  ed25519PublicKeyFromRaw,
  ed25519RawPublicKey,
  ed25519Sign,
  ed25519Verify,
  formatSignerKey,
  formatVerifierKey,
  isValidKeyName,
  keyHash,
  splitSignerKey,
  splitVerifierKey,
  type NoteSignature,
  type NoteSigner,
  type NoteVerifier,
} from './note.ts';

/** Signature type byte of timestamped Ed25519 witness cosignatures. */
export const ALG_COSIGNATURE_V1 = 0x04;
export const COSIGNATURE_V1_HEADER = 'cosignature/v1\n';
const MAX_TIMESTAMP = 2n ** 63n - 1n;
const SIG_BYTES = 8 + 64;

function checkTimestamp(t: number): void {
  // Numbers above 2^53 can't be exact, which also keeps us far below the spec's 2^63 - 1.
  if (!Number.isSafeInteger(t) || t < 0) throw new NoteError('malformed-note', `cosignature timestamp must be a non-negative safe integer, got ${t}`);
}

/** The exact bytes an Ed25519 cosignature/v1 signs. The body must be a valid checkpoint text. */
export function cosignatureV1Message(checkpointText: string | Buffer, timestamp: number): Buffer {
  checkTimestamp(timestamp);
  const text = typeof checkpointText === 'string' ? checkpointText : checkpointText.toString('utf8');
  parseCheckpoint(text);
  return Buffer.concat([Buffer.from(`${COSIGNATURE_V1_HEADER}time ${timestamp}\n`, 'ascii'), Buffer.from(text, 'utf8')]);
}

export interface CosignatureSigner extends NoteSigner {
  readonly verifierKey: string;
  /** Signs at an explicit timestamp; returns timestamp(8, big-endian) || Ed25519 signature(64). */
  signAt(checkpointText: string | Buffer, timestamp: number): Buffer;
}

export interface CosignatureVerifier extends NoteVerifier {
  /** Verifies timestamp || signature and returns the timestamp, or undefined if invalid. */
  verifyTimestamped(checkpointText: string | Buffer, sig: Buffer): number | undefined;
}

export function generateCosignerKey(name: string): { signerKey: string; verifierKey: string } {
  if (!isValidKeyName(name)) throw new NoteError('malformed-key', `invalid key name ${JSON.stringify(name)}`);
  const seed = randomBytes(32);
  const typeAndPub = Buffer.concat([Buffer.from([ALG_COSIGNATURE_V1]), ed25519RawPublicKey(ed25519PrivateKeyFromSeed(seed))]);
  return {
    signerKey: formatSignerKey(name, keyHash(name, typeAndPub), Buffer.concat([Buffer.from([ALG_COSIGNATURE_V1]), seed])),
    verifierKey: formatVerifierKey(name, typeAndPub),
  };
}

/**
 * Parses a cosigner signer key (type 0x04). `now` gives the Unix time in seconds used by sign(),
 * the NoteSigner entry point used by signNote.
 */
export function parseCosignerKey(skey: string, now: () => number = () => Math.floor(Date.now() / 1000)): CosignatureSigner {
  const { name, keyHash: hash, typeAndKey } = splitSignerKey(skey);
  if (typeAndKey[0] !== ALG_COSIGNATURE_V1) throw new NoteError('unknown-algorithm', 'not a cosignature/v1 signer key');
  const seed = typeAndKey.subarray(1);
  if (seed.length !== 32) throw new NoteError('malformed-key', 'malformed signer key');
  const priv = ed25519PrivateKeyFromSeed(Buffer.from(seed));
  const typeAndPub = Buffer.concat([Buffer.from([ALG_COSIGNATURE_V1]), ed25519RawPublicKey(priv)]);
  if (hash !== keyHash(name, typeAndPub)) throw new NoteError('invalid-key-hash', 'invalid signer key hash');
  const signAt = (text: string | Buffer, timestamp: number): Buffer => {
    const msg = cosignatureV1Message(text, timestamp);
    const ts = Buffer.alloc(8);
    ts.writeBigUInt64BE(BigInt(timestamp));
    return Buffer.concat([ts, ed25519Sign(priv, msg)]);
  };
  return { name, keyHash: hash, verifierKey: formatVerifierKey(name, typeAndPub), signAt, sign: (msg) => signAt(msg, now()) };
}

/** Parses a cosigner verifier key (type 0x04, key ID computed with 0x04). */
export function parseCosignatureVerifierKey(vkey: string, opts: { now?: () => number; maxFutureSeconds?: number } = {}): CosignatureVerifier {
  const { name, keyHash: hash, typeAndKey } = splitVerifierKey(vkey);
  if (hash !== keyHash(name, typeAndKey)) throw new NoteError('invalid-key-hash', 'invalid verifier key hash');
  if (typeAndKey[0] !== ALG_COSIGNATURE_V1) throw new NoteError('unknown-algorithm', 'not a cosignature/v1 verifier key');
  const raw = typeAndKey.subarray(1);
  if (raw.length !== 32) throw new NoteError('malformed-key', 'malformed verifier key');
  const pub = ed25519PublicKeyFromRaw(Buffer.from(raw));
  const now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  const verifyTimestamped = (text: string | Buffer, sig: Buffer): number | undefined => {
    if (sig.length !== SIG_BYTES) return undefined;
    const t = sig.readBigUInt64BE(0);
    if (t > MAX_TIMESTAMP || t > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
    const ts = Number(t);
    if (opts.maxFutureSeconds !== undefined && ts > now() + opts.maxFutureSeconds) return undefined;
    let msg: Buffer;
    try {
      msg = cosignatureV1Message(text, ts);
    } catch {
      return undefined;
    }
    return ed25519Verify(pub, msg, sig.subarray(8)) ? ts : undefined;
  };
  return { name, keyHash: hash, verifyTimestamped, verify: (msg, sig) => verifyTimestamped(msg, sig) !== undefined };
}

/** Reads the (unverified) timestamp of a cosignature/v1 note signature. */
export function cosignatureTimestamp(sig: NoteSignature): number {
  const raw = decodeBase64Strict(sig.base64);
  if (raw === undefined || raw.length !== 4 + SIG_BYTES) throw new NoteError('malformed-note', 'not a cosignature/v1 signature');
  const t = raw.readBigUInt64BE(4);
  if (t > MAX_TIMESTAMP || t > BigInt(Number.MAX_SAFE_INTEGER)) throw new NoteError('malformed-note', 'cosignature timestamp out of range');
  return Number(t);
}

/** Produces the signature line `— <name> base64(keyID || timestamp || sig)\n` for a checkpoint. */
export function cosignCheckpoint(checkpointText: string, signer: CosignatureSigner, timestamp: number): string {
  const hbuf = Buffer.alloc(4);
  hbuf.writeUInt32BE(signer.keyHash >>> 0);
  const b64 = Buffer.concat([hbuf, signer.signAt(checkpointText, timestamp)]).toString('base64');
  return `\u2014 ${signer.name} ${b64}\n`;
}

/**
 * Verifies one cosignature line (with or without its trailing newline) over the checkpoint text.
 * Returns the cosigned timestamp; throws NoteError if the line is malformed, from another key, or
 * does not verify.
 */
export function verifyCosignature(checkpointText: string, line: string, verifier: CosignatureVerifier): { timestamp: number } {
  const l = line.endsWith('\n') ? line.slice(0, -1) : line;
  const prefix = `\u2014 ${verifier.name} `;
  if (!l.startsWith(prefix)) throw new NoteError('malformed-note', 'not a signature line from this cosigner');
  const raw = decodeBase64Strict(l.slice(prefix.length));
  if (raw === undefined || raw.length !== 4 + SIG_BYTES) throw new NoteError('malformed-note', 'malformed cosignature');
  if (raw.readUInt32BE(0) !== verifier.keyHash) throw new NoteError('malformed-note', 'cosignature key ID does not match the cosigner key');
  const ts = verifier.verifyTimestamped(checkpointText, raw.subarray(4));
  if (ts === undefined) throw new NoteError('invalid-signature', `invalid cosignature from ${verifier.name}`);
  return { timestamp: ts };
}
