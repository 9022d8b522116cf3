// C2SP signed notes (https://c2sp.org/signed-note), byte-compatible with golang.org/x/mod/sumdb/note.
//
// Spec facts this file relies on:
// - A signed note is a text ending in a newline (U+000A), then a blank line (just "\n"), then one or
//   more signature lines: em dash (U+2014), space, key name, space, base64(signature), newline.
// - The text includes its final newline but not the separating blank line. The text MAY contain
//   empty lines; text and signatures are split at the LAST "\n\n" of the note.
// - A note MUST be valid UTF-8 and MUST NOT contain ASCII control characters (< U+0020) other than
//   newline.
// - Key names MUST be non-empty and contain no Unicode spaces and no '+' (U+002B).
// - A signature decodes to 4 + n bytes: the big-endian uint32 key ID, then the n signature bytes.
// - Key ID = SHA-256(key name || 0x0A || signature type byte || public key)[:4], big-endian.
//   Type 0x01 is plain Ed25519 over the note text (RFC 8032); 0x04 is the timestamped witness
//   cosignature of c2sp.org/tlog-cosignature (see cosignature.ts).
// - Verifiers MUST ignore signatures from unknown keys (unknown name+ID pair), MUST verify those from
//   known keys, SHOULD reject the whole note if one of those fails, and MUST reject a note that has
//   no verified signature from a known key. They SHOULD cap the number of signatures (we use 100,
//   like Go) and MUST accept at least 16.
// - Base64 is the standard alphabet with padding (RFC 4648 section 4). We additionally require the
//   canonical encoding (zero padding bits), so that every distinct string decodes to distinct bytes.
//
// Key strings follow golang.org/x/mod/sumdb/note:
//   verifier key: <name>+<8 lowercase hex key ID>+<base64(type byte || public key)>
//   signer key:   PRIVATE+KEY+<name>+<8 hex key ID>+<base64(type byte || Ed25519 seed)>
// Only the first '+' separators are structural: the base64 part may itself contain '+'.

import { createHash, createPrivateKey, createPublicKey, randomBytes, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';

/** Signature type byte of plain Ed25519 note signatures (c2sp.org/signed-note). */
export const ALG_ED25519 = 0x01;

/** Go's sumdb/note rejects notes with more than 100 signature lines; so do we. */
export const MAX_SIGNATURES = 100;
/** Our own limits (the spec leaves them to verifiers): bytes per line and per note. */
export const DEFAULT_MAX_LINE_BYTES = 8192;
export const DEFAULT_MAX_NOTE_BYTES = 1 << 20;

export type NoteErrorCode =
  | 'malformed-note'
  | 'malformed-key'
  | 'invalid-key-hash'
  | 'unknown-algorithm'
  | 'invalid-signer'
  | 'ambiguous-key'
  | 'invalid-signature'
  | 'unverified-note';

export class NoteError extends Error {
  override name = 'NoteError';
  constructor(
    readonly code: NoteErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The note parsed fine but carries no signature from a known key; the parsed note is attached. */
export class UnverifiedNoteError extends NoteError {
  override name = 'UnverifiedNoteError';
  constructor(readonly note: Note) {
    super('unverified-note', 'note has no verifiable signatures');
  }
}

/** One signature line of a note: key name, key ID and the base64 of (key ID || signature). */
export interface NoteSignature {
  name: string;
  keyHash: number;
  base64: string;
}

export interface Note {
  /** The signed text, including its final newline. */
  text: string;
  /** Signatures from known keys, all verified. */
  sigs: NoteSignature[];
  /** Signatures from unknown keys (ignored, never verified). */
  unverifiedSigs: NoteSignature[];
}

export interface NoteSigner {
  readonly name: string;
  readonly keyHash: number;
  /** Signature bytes over msg (without the 4-byte key ID prefix). */
  sign(msg: Buffer): Buffer;
}

export interface NoteVerifier {
  readonly name: string;
  readonly keyHash: number;
  /** Whether sig (without the 4-byte key ID prefix) is a valid signature of msg. */
  verify(msg: Buffer, sig: Buffer): boolean;
}

export interface OpenNoteOptions {
  maxLineBytes?: number;
  maxNoteBytes?: number;
}

// --- encoding helpers -------------------------------------------------------------------------

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict standard base64 with padding; rejects non-canonical encodings. Returns undefined if bad. */
export function decodeBase64Strict(s: string): Buffer | undefined {
  if (!BASE64_RE.test(s)) return undefined;
  const b = Buffer.from(s, 'base64');
  return b.toString('base64') === s ? b : undefined;
}

/** Go's unicode.IsSpace: the Latin-1 spaces plus the Unicode White_Space property. */
const UNICODE_SPACE_RE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;

function isWellFormed(s: string): boolean {
  return Buffer.from(s, 'utf8').toString('utf8') === s;
}

/** Key names MUST be non-empty with no Unicode spaces and no '+'. */
export function isValidKeyName(name: string): boolean {
  return name !== '' && isWellFormed(name) && !UNICODE_SPACE_RE.test(name) && !name.includes('+') && !hasControl(name);
}

// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u0009\u000b-\u001f]/;
function hasControl(s: string): boolean {
  return CONTROL_RE.test(s);
}

/** Key ID = first 4 bytes, big-endian, of SHA-256(name || 0x0A || type byte || public key). */
export function keyHash(name: string, typeAndKey: Buffer): number {
  const h = createHash('sha256').update(Buffer.from(name, 'utf8')).update(Buffer.from([0x0a])).update(typeAndKey).digest();
  return h.readUInt32BE(0);
}

export function formatKeyHash(hash: number): string {
  return (hash >>> 0).toString(16).padStart(8, '0');
}

/** Splits at the first sep like Go's chop: [before, after]; after is '' if sep is absent. */
function chop(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + sep.length)];
}

const HASH_RE = /^[0-9a-fA-F]{8}$/;

// --- Ed25519 key objects from raw bytes ---------------------------------------------------------

// DER prefixes that wrap a raw 32-byte Ed25519 seed (PKCS#8) or public key (SPKI), RFC 8410.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function ed25519PrivateKeyFromSeed(seed: Buffer): KeyObject {
  if (seed.length !== 32) throw new NoteError('malformed-key', 'Ed25519 seed must be 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

export function ed25519PublicKeyFromRaw(pub: Buffer): KeyObject {
  if (pub.length !== 32) throw new NoteError('malformed-key', 'Ed25519 public key must be 32 bytes');
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, pub]), format: 'der', type: 'spki' });
}

export function ed25519RawPublicKey(priv: KeyObject): Buffer {
  const der = createPublicKey(priv).export({ format: 'der', type: 'spki' });
  return Buffer.from(der.subarray(SPKI_ED25519_PREFIX.length));
}

export function ed25519Sign(priv: KeyObject, msg: Buffer): Buffer {
  return cryptoSign(null, msg, priv);
}

export function ed25519Verify(pub: KeyObject, msg: Buffer, sig: Buffer): boolean {
  if (sig.length !== 64) return false;
  try {
    return cryptoVerify(null, msg, pub, sig);
  } catch {
    return false;
  }
}

// --- key strings --------------------------------------------------------------------------------

export interface ParsedVerifierKey {
  name: string;
  keyHash: number;
  /** type byte || public key, as encoded in the key string. */
  typeAndKey: Buffer;
}

export interface ParsedSignerKey {
  name: string;
  keyHash: number;
  /** type byte || private key material (for Ed25519 types: the 32-byte seed). */
  typeAndKey: Buffer;
}

/** Splits `<name>+<hash>+<base64>` without checking the hash against the key (algorithm-specific). */
export function splitVerifierKey(vkey: string): ParsedVerifierKey {
  const [name, rest] = chop(vkey, '+');
  const [hash16, key64] = chop(rest, '+');
  const key = decodeBase64Strict(key64);
  if (!HASH_RE.test(hash16) || key === undefined || key.length === 0 || !isValidKeyName(name)) {
    throw new NoteError('malformed-key', 'malformed verifier key');
  }
  return { name, keyHash: parseInt(hash16, 16) >>> 0, typeAndKey: key };
}

/** Splits `PRIVATE+KEY+<name>+<hash>+<base64>` (hash not yet checked). */
export function splitSignerKey(skey: string): ParsedSignerKey {
  const [priv1, r1] = chop(skey, '+');
  const [priv2, r2] = chop(r1, '+');
  const [name, r3] = chop(r2, '+');
  const [hash16, key64] = chop(r3, '+');
  const key = decodeBase64Strict(key64);
  if (priv1 !== 'PRIVATE' || priv2 !== 'KEY' || !HASH_RE.test(hash16) || key === undefined || key.length === 0 || !isValidKeyName(name)) {
    throw new NoteError('malformed-key', 'malformed signer key');
  }
  return { name, keyHash: parseInt(hash16, 16) >>> 0, typeAndKey: key };
}

export function formatVerifierKey(name: string, typeAndKey: Buffer): string {
  if (!isValidKeyName(name)) throw new NoteError('malformed-key', `invalid key name ${JSON.stringify(name)}`);
  return `${name}+${formatKeyHash(keyHash(name, typeAndKey))}+${typeAndKey.toString('base64')}`;
}

export function formatSignerKey(name: string, hash: number, typeAndSeed: Buffer): string {
  if (!isValidKeyName(name)) throw new NoteError('malformed-key', `invalid key name ${JSON.stringify(name)}`);
  return `PRIVATE+KEY+${name}+${formatKeyHash(hash)}+${typeAndSeed.toString('base64')}`;
}

/** Generates an Ed25519 (type 0x01) key pair in the sumdb/note string formats. */
export function generateKey(name: string): { signerKey: string; verifierKey: string } {
  if (!isValidKeyName(name)) throw new NoteError('malformed-key', `invalid key name ${JSON.stringify(name)}`);
  const seed = randomBytes(32);
  const pub = ed25519RawPublicKey(ed25519PrivateKeyFromSeed(seed));
  const typeAndPub = Buffer.concat([Buffer.from([ALG_ED25519]), pub]);
  const hash = keyHash(name, typeAndPub);
  return {
    signerKey: formatSignerKey(name, hash, Buffer.concat([Buffer.from([ALG_ED25519]), seed])),
    verifierKey: formatVerifierKey(name, typeAndPub),
  };
}

/** Returns the Ed25519 verifier key string for a raw 32-byte public key. */
export function ed25519VerifierKey(name: string, pub: Buffer): string {
  if (pub.length !== 32) throw new NoteError('malformed-key', 'Ed25519 public key must be 32 bytes');
  return formatVerifierKey(name, Buffer.concat([Buffer.from([ALG_ED25519]), pub]));
}

/** Parses a type-0x01 (Ed25519) verifier key string. */
export function parseVerifierKey(vkey: string): NoteVerifier {
  const { name, keyHash: hash, typeAndKey } = splitVerifierKey(vkey);
  if (hash !== keyHash(name, typeAndKey)) throw new NoteError('invalid-key-hash', 'invalid verifier key hash');
  if (typeAndKey[0] !== ALG_ED25519) throw new NoteError('unknown-algorithm', `unknown verifier algorithm 0x${typeAndKey[0]!.toString(16).padStart(2, '0')}`);
  const raw = typeAndKey.subarray(1);
  if (raw.length !== 32) throw new NoteError('malformed-key', 'malformed verifier key');
  const pub = ed25519PublicKeyFromRaw(Buffer.from(raw));
  return { name, keyHash: hash, verify: (msg, sig) => ed25519Verify(pub, msg, sig) };
}

/** A signer that also knows its verifier key string. */
export interface KeyedNoteSigner extends NoteSigner {
  readonly verifierKey: string;
}

/** Parses a type-0x01 (Ed25519) signer key string; the key ID must match the derived public key. */
export function parseSignerKey(skey: string): KeyedNoteSigner {
  const { name, keyHash: hash, typeAndKey } = splitSignerKey(skey);
  if (typeAndKey[0] !== ALG_ED25519) throw new NoteError('unknown-algorithm', 'unknown signer algorithm');
  const seed = typeAndKey.subarray(1);
  if (seed.length !== 32) throw new NoteError('malformed-key', 'malformed signer key');
  const priv = ed25519PrivateKeyFromSeed(Buffer.from(seed));
  const typeAndPub = Buffer.concat([Buffer.from([ALG_ED25519]), ed25519RawPublicKey(priv)]);
  // The key ID is a hash of the public key, so it can only be checked after deriving it.
  if (hash !== keyHash(name, typeAndPub)) throw new NoteError('invalid-key-hash', 'invalid signer key hash');
  return { name, keyHash: hash, verifierKey: formatVerifierKey(name, typeAndPub), sign: (msg) => ed25519Sign(priv, msg) };
}

// --- notes --------------------------------------------------------------------------------------

const SIG_PREFIX = Buffer.from('\u2014 ', 'utf8'); // em dash U+2014 then space: E2 80 94 20
const NL = 0x0a;
const utf8Fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function malformed(why: string): NoteError {
  return new NoteError('malformed-note', `malformed note: ${why}`);
}

/** Valid UTF-8, no control characters other than newline. */
function checkNoteChars(bytes: Buffer): string {
  let s: string;
  try {
    s = utf8Fatal.decode(bytes);
  } catch {
    throw malformed('invalid UTF-8');
  }
  if (hasControl(s)) throw malformed('control character');
  return s;
}

function checkLineLengths(bytes: Buffer, max: number): void {
  let start = 0;
  while (start < bytes.length) {
    let end = bytes.indexOf(NL, start);
    if (end < 0) end = bytes.length;
    if (end - start > max) throw malformed(`line longer than ${max} bytes`);
    start = end + 1;
  }
}

function sigKey(name: string, hash: number): string {
  return `${name}+${formatKeyHash(hash)}`;
}

function verifierMap(verifiers: readonly NoteVerifier[]): Map<string, NoteVerifier> {
  const m = new Map<string, NoteVerifier>();
  for (const v of verifiers) {
    const k = sigKey(v.name, v.keyHash);
    // Two verifiers with the same name and key ID would make the result depend on list order.
    if (m.has(k)) throw new NoteError('ambiguous-key', `ambiguous key ${k}`);
    m.set(k, v);
  }
  return m;
}

function signatureLine(name: string, base64: string): string {
  return `\u2014 ${name} ${base64}\n`;
}

/**
 * Parses a signed note and checks its signatures against the known verifiers.
 * Throws NoteError on malformed notes, on any signature from a known key that fails to verify, on
 * ambiguous verifier lists, and UnverifiedNoteError if no known key signed the note.
 */
export function openNote(msg: Uint8Array | string, verifiers: readonly NoteVerifier[], opts: OpenNoteOptions = {}): Note {
  const maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const maxNote = opts.maxNoteBytes ?? DEFAULT_MAX_NOTE_BYTES;
  const bytes = typeof msg === 'string' ? Buffer.from(msg, 'utf8') : Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
  if (bytes.length > maxNote) throw malformed(`longer than ${maxNote} bytes`);
  checkNoteChars(bytes);
  checkLineLengths(bytes, maxLine);
  const known = verifierMap(verifiers);

  // The text ends at the last blank line; everything after it is signature lines.
  const split = bytes.lastIndexOf('\n\n');
  if (split < 0) throw malformed('no signature block');
  const textBytes = bytes.subarray(0, split + 1);
  let sigs = bytes.subarray(split + 2);
  if (sigs.length === 0 || sigs[sigs.length - 1] !== NL) throw malformed('signature block must end in newline');

  const note: Note = { text: textBytes.toString('utf8'), sigs: [], unverifiedSigs: [] };
  const seenLines = new Set<string>();
  let count = 0;
  while (sigs.length > 0) {
    const i = sigs.indexOf(NL);
    const lineBytes = sigs.subarray(0, i);
    sigs = sigs.subarray(i + 1);
    if (++count > MAX_SIGNATURES) throw malformed(`more than ${MAX_SIGNATURES} signatures`);
    if (!lineBytes.subarray(0, SIG_PREFIX.length).equals(SIG_PREFIX)) throw malformed('signature line must start with an em dash and a space');
    const line = lineBytes.subarray(SIG_PREFIX.length).toString('utf8');
    const [name, b64] = chop(line, ' ');
    const raw = decodeBase64Strict(b64);
    if (!isValidKeyName(name) || b64 === '' || raw === undefined || raw.length < 5) throw malformed('bad signature line');
    // Identical repeated lines are dropped (as Go does); a different second signature by a known key
    // must verify too (Go would silently ignore it).
    if (seenLines.has(line)) continue;
    seenLines.add(line);
    const hash = raw.readUInt32BE(0);
    const sig: NoteSignature = { name, keyHash: hash, base64: b64 };
    const v = known.get(sigKey(name, hash));
    if (v === undefined) {
      note.unverifiedSigs.push(sig);
      continue;
    }
    if (!v.verify(textBytes, raw.subarray(4))) {
      throw new NoteError('invalid-signature', `invalid signature for key ${sigKey(name, hash)}`);
    }
    if (!note.sigs.some((s) => s.name === name && s.keyHash === hash)) note.sigs.push(sig);
  }
  if (note.sigs.length === 0) throw new UnverifiedNoteError(note);
  return note;
}

export interface SignNoteOptions {
  /** Signatures already on the note (e.g. the log's, when a witness adds a cosignature). Kept first,
   *  unless a new signer has the same name and key ID. */
  existing?: readonly NoteSignature[];
  maxLineBytes?: number;
}

/** Validates note text: ends in newline, valid, no control characters, lines not too long. */
export function checkNoteText(text: string, maxLineBytes = DEFAULT_MAX_LINE_BYTES): Buffer {
  if (!text.endsWith('\n')) throw malformed('text must end in newline');
  if (!isWellFormed(text)) throw malformed('invalid UTF-8');
  if (hasControl(text)) throw malformed('control character');
  const bytes = Buffer.from(text, 'utf8');
  checkLineLengths(bytes, maxLineBytes);
  return bytes;
}

/** Signs text with each signer and returns the encoded signed note. */
export function signNote(text: string, signers: readonly NoteSigner[], opts: SignNoteOptions = {}): string {
  const textBytes = checkNoteText(text, opts.maxLineBytes);
  const have = new Set<string>();
  let newLines = '';
  for (const s of signers) {
    if (!isValidKeyName(s.name)) throw new NoteError('invalid-signer', 'invalid signer name');
    const k = sigKey(s.name, s.keyHash);
    if (have.has(k)) throw new NoteError('ambiguous-key', `duplicate signer ${k}`);
    have.add(k);
    const sig = s.sign(textBytes);
    const hbuf = Buffer.alloc(4);
    hbuf.writeUInt32BE(s.keyHash >>> 0);
    newLines += signatureLine(s.name, Buffer.concat([hbuf, sig]).toString('base64'));
  }
  let out = `${text}\n`;
  let count = signers.length;
  for (const sig of opts.existing ?? []) {
    if (have.has(sigKey(sig.name, sig.keyHash))) continue;
    const raw = decodeBase64Strict(sig.base64);
    if (!isValidKeyName(sig.name) || raw === undefined || raw.length < 5 || raw.readUInt32BE(0) !== sig.keyHash >>> 0) {
      throw malformed('bad existing signature');
    }
    out += signatureLine(sig.name, sig.base64);
    count++;
  }
  if (count === 0) throw new NoteError('invalid-signer', 'no signers');
  if (count > MAX_SIGNATURES) throw malformed(`more than ${MAX_SIGNATURES} signatures`);
  return out + newLines;
}
