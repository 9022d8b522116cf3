#!/usr/bin/env node
// Standalone verifier of a HeliosDB ledger export (format "heliosdb-ledger-export/1", written by
// src/ledger/export.ts). Plain JavaScript using only Node built-ins, so it can be copied out and
// run by an auditor without the code base:
//
//   node offline-verifier.mjs export.txt [--witness-quorum K]
//
// Exit 0 and "OK ..." when every check passes; exit 1 and "FAIL ..." (with the first bad position
// when the failure is in the entries) otherwise; exit 2 on a usage error.
//
// Checks:
// - every checkpoint is a C2SP signed note (c2sp.org/signed-note) carrying a valid Ed25519
//   signature (type 0x01) from one of the export's log keys; signatures from the listed keys that
//   fail reject the note; signatures from unknown keys are ignored;
// - witness cosignatures (c2sp.org/tlog-cosignature, type 0x04, cosignature/v1) from the listed
//   witness keys must verify; with --witness-quorum K each checkpoint needs K distinct witnesses;
// - checkpoint text (c2sp.org/tlog-checkpoint): origin (= the header's), size, base64 root;
// - entries are numbered 0, 1, 2, ... and each leaf is format 1 with its embedded position
//   (bytes 2..9, big-endian u64) equal to its number;
// - the RFC 9162 §2.1.1 root of the first `size` leaves equals the root of every checkpoint.
import { createHash, createPublicKey, verify as ed25519Verify } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

const FORMAT = 'heliosdb-ledger-export/1';
const ALG_ED25519 = 0x01;
const ALG_COSIGNATURE_V1 = 0x04;
const MAX_SIGNATURES = 100;
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

class Failure extends Error {
  /** @param {string} message @param {number | null} position */
  constructor(message, position = null) {
    super(message);
    this.position = position;
  }
}

// --- hashing: RFC 9162 §2.1.1 -------------------------------------------------------------------

const sha256 = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);
const leafHash = (leaf) => sha256(LEAF_PREFIX, leaf);
const nodeHash = (l, r) => sha256(NODE_PREFIX, l, r);
const EMPTY_ROOT = sha256(Buffer.alloc(0));

/** Right frontier: perfect-subtree roots covering [0, size), largest first. */
class Frontier {
  size = 0;
  stack = [];
  append(h) {
    // Each trailing 1-bit of size is a perfect subtree of h's size: merge (binary counter carry).
    let s = this.size;
    while (s % 2 === 1) {
      h = nodeHash(this.stack.pop(), h);
      s = (s - 1) / 2;
    }
    this.stack.push(h);
    this.size++;
  }
  /** MTH(D[size]): the subtrees folded right to left. */
  root() {
    if (this.stack.length === 0) return EMPTY_ROOT;
    let r = this.stack[this.stack.length - 1];
    for (let i = this.stack.length - 2; i >= 0; i--) r = nodeHash(this.stack[i], r);
    return r;
  }
}

// --- signed notes and keys (c2sp.org/signed-note, golang.org/x/mod/sumdb/note) -------------------

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** Standard base64 with padding, canonical encoding only; undefined otherwise. */
function b64(s) {
  if (!BASE64_RE.test(s)) return undefined;
  const b = Buffer.from(s, 'base64');
  return b.toString('base64') === s ? b : undefined;
}

const SPACE_RE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u0009\u000b-\u001f]/;
const wellFormed = (s) => Buffer.from(s, 'utf8').toString('utf8') === s;
/** Key names: non-empty, no Unicode spaces, no '+'. */
const validKeyName = (n) => n !== '' && wellFormed(n) && !SPACE_RE.test(n) && !n.includes('+') && !CONTROL_RE.test(n);

/** Key ID = SHA-256(name || 0x0A || type byte || public key)[:4], big-endian. */
const keyId = (name, typeAndKey) => sha256(Buffer.from(name, 'utf8'), Buffer.from([0x0a]), typeAndKey).readUInt32BE(0);

function chop(s, sep) {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + sep.length)];
}

/** Parses `<name>+<8 hex key ID>+<base64(type || 32-byte Ed25519 public key)>` of the given type. */
function parseVerifierKey(vkey, type, what) {
  if (typeof vkey !== 'string') throw new Failure(`${what} key is not a string`);
  const [name, rest] = chop(vkey, '+');
  const [id16, key64] = chop(rest, '+');
  const typeAndKey = b64(key64);
  if (!/^[0-9a-fA-F]{8}$/.test(id16) || typeAndKey === undefined || !validKeyName(name)) throw new Failure(`malformed ${what} key ${JSON.stringify(vkey)}`);
  const id = parseInt(id16, 16) >>> 0;
  if (id !== keyId(name, typeAndKey)) throw new Failure(`${what} key ${name}: key ID does not match the key`);
  if (typeAndKey[0] !== type) throw new Failure(`${what} key ${name}: type 0x${typeAndKey[0].toString(16).padStart(2, '0')}, expected 0x0${type}`);
  if (typeAndKey.length !== 33) throw new Failure(`${what} key ${name}: not a 32-byte Ed25519 key`);
  const pub = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, typeAndKey.subarray(1)]), format: 'der', type: 'spki' });
  return { name, id, pub, type };
}

function edVerify(pub, msg, sig) {
  if (sig.length !== 64) return false;
  try {
    return ed25519Verify(null, msg, pub, sig);
  } catch {
    return false;
  }
}

/** cosignature/v1 message: "cosignature/v1\n" || "time " decimal "\n" || checkpoint text. */
function cosignatureMessage(text, timestamp) {
  return Buffer.concat([Buffer.from(`cosignature/v1\ntime ${timestamp}\n`, 'ascii'), Buffer.from(text, 'utf8')]);
}

/** Parses checkpoint text: origin, size (decimal, no leading zeroes), canonical base64 32-byte root, extension lines. */
function parseCheckpoint(text) {
  if (!text.endsWith('\n')) throw new Failure('checkpoint text does not end in newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new Failure('checkpoint needs origin, size and root lines');
  const [origin, sizeStr, rootStr, ...ext] = lines;
  if (origin === '' || ext.some((e) => e === '')) throw new Failure('checkpoint has an empty line');
  if (!/^(?:0|[1-9][0-9]*)$/.test(sizeStr) || !Number.isSafeInteger(Number(sizeStr))) throw new Failure(`checkpoint size ${JSON.stringify(sizeStr)} is not a decimal size`);
  const root = b64(rootStr);
  if (root === undefined || root.length !== 32) throw new Failure('checkpoint root is not canonical base64 of 32 bytes');
  return { origin, size: Number(sizeStr), root };
}

/**
 * Opens a signed note against the log keys and witness keys. Returns the checkpoint with the
 * number of distinct log keys and witnesses whose signatures verified.
 */
function openCheckpoint(note, logKeys, witnessKeys) {
  if (typeof note !== 'string') throw new Failure('checkpoint is not a string');
  if (!wellFormed(note) || CONTROL_RE.test(note)) throw new Failure('note is not valid UTF-8 text without control characters');
  // Text and signatures are split at the last blank line; the text keeps its final newline.
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new Failure('note has no signature block');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block === '' || !block.endsWith('\n')) throw new Failure('note signature block does not end in newline');
  const checkpoint = parseCheckpoint(text);
  const known = new Map();
  for (const k of [...logKeys, ...witnessKeys]) {
    const id = `${k.name}+${k.id}`;
    if (known.has(id)) throw new Failure(`ambiguous key ${k.name}`);
    known.set(id, k);
  }
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw new Failure(`note has more than ${MAX_SIGNATURES} signatures`);
  const logSigned = new Set();
  const witnessed = new Set();
  const seen = new Set();
  for (const line of lines) {
    if (!line.startsWith('\u2014 ')) throw new Failure('signature line does not start with an em dash and a space');
    const [name, sig64] = chop(line.slice(2), ' ');
    const raw = b64(sig64);
    if (!validKeyName(name) || raw === undefined || raw.length < 5) throw new Failure('malformed signature line');
    if (seen.has(line)) continue;
    seen.add(line);
    const key = known.get(`${name}+${raw.readUInt32BE(0)}`);
    if (key === undefined) continue; // unknown keys are ignored
    const sig = raw.subarray(4);
    if (key.type === ALG_ED25519) {
      if (!edVerify(key.pub, Buffer.from(text, 'utf8'), sig)) throw new Failure(`invalid signature by log key ${name}`);
      logSigned.add(key.id);
    } else {
      // timestamped_signature: u64 big-endian seconds (at most 2^63 - 1) || Ed25519 signature.
      if (sig.length !== 72) throw new Failure(`malformed cosignature by witness ${name}`);
      const t = sig.readBigUInt64BE(0);
      if (t > 2n ** 63n - 1n) throw new Failure(`cosignature timestamp by witness ${name} is out of range`);
      if (!edVerify(key.pub, cosignatureMessage(text, t.toString()), sig.subarray(8))) throw new Failure(`invalid cosignature by witness ${name}`);
      witnessed.add(`${name}+${key.id}`);
    }
  }
  if (logSigned.size === 0) throw new Failure('no valid signature by a log key');
  return { ...checkpoint, text, witnesses: witnessed.size };
}

// --- the export ---------------------------------------------------------------------------------

async function verify(path, quorum) {
  const rl = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  const lines = rl[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Failure('empty export');
  let header;
  try {
    header = JSON.parse(first.value);
  } catch {
    throw new Failure('the first line is not a JSON header');
  }
  if (header?.format !== FORMAT) throw new Failure(`not a ${FORMAT} export`);
  const { origin, size } = header;
  if (typeof origin !== 'string' || origin === '') throw new Failure('header has no origin');
  if (!Number.isSafeInteger(size) || size < 0) throw new Failure('header size is not a non-negative integer');
  if (!Array.isArray(header.logVerifierKeys) || header.logVerifierKeys.length === 0) throw new Failure('header has no log verifier keys');
  if (!Array.isArray(header.checkpoints) || header.checkpoints.length === 0) throw new Failure('header has no checkpoints');
  const logKeys = header.logVerifierKeys.map((k) => parseVerifierKey(k, ALG_ED25519, 'log'));
  const witnessKeys = (header.witnessVerifierKeys ?? []).map((k) => parseVerifierKey(k, ALG_COSIGNATURE_V1, 'witness'));
  if (quorum > witnessKeys.length) throw new Failure(`witness quorum ${quorum} exceeds the ${witnessKeys.length} witness keys in the export`);

  /** size -> root (hex) of every checkpoint; two checkpoints of one size must agree. */
  const bySize = new Map();
  header.checkpoints.forEach((note, i) => {
    let cp;
    try {
      cp = openCheckpoint(note, logKeys, witnessKeys);
    } catch (err) {
      if (err instanceof Failure) throw new Failure(`checkpoint ${i}: ${err.message}`);
      throw err;
    }
    if (cp.origin !== origin) throw new Failure(`checkpoint ${i}: origin ${JSON.stringify(cp.origin)} is not the export's ${JSON.stringify(origin)}`);
    if (cp.size > size) throw new Failure(`checkpoint ${i}: size ${cp.size} exceeds the export's ${size} entries`);
    if (cp.witnesses < quorum) throw new Failure(`checkpoint ${i} (size ${cp.size}): ${cp.witnesses} valid witness cosignatures, quorum is ${quorum}`);
    const root = cp.root.toString('hex');
    const prior = bySize.get(cp.size);
    if (prior !== undefined && prior !== root) throw new Failure(`checkpoints of size ${cp.size} have different roots (split view)`);
    bySize.set(cp.size, root);
  });
  const sizes = [...bySize.keys()].sort((a, b) => a - b);
  let next = 0; // index into sizes
  let verifiedUpTo = 0; // entries [0, verifiedUpTo) match a signed root
  const frontier = new Frontier();
  const checkRoot = () => {
    while (next < sizes.length && sizes[next] === frontier.size) {
      const want = bySize.get(sizes[next]);
      if (frontier.root().toString('hex') !== want) {
        throw new Failure(
          `entries ${verifiedUpTo} to ${frontier.size - 1} do not hash to the root of the checkpoint at size ${frontier.size} (an entry in that range was changed)`,
          verifiedUpTo,
        );
      }
      verifiedUpTo = frontier.size;
      next++;
    }
  };
  checkRoot();
  for (;;) {
    const { done, value: line } = await lines.next();
    if (done) break;
    const n = frontier.size;
    if (n >= size) throw new Failure(`more entry lines than the header's ${size}`, n);
    const tab = line.indexOf('\t');
    const idStr = tab < 0 ? '' : line.slice(0, tab);
    if (!/^(?:0|[1-9][0-9]*)$/.test(idStr)) throw new Failure(`line ${n + 2} is not "<id>\\t<base64 leaf>"`, n);
    const id = Number(idStr);
    if (id !== n) {
      throw new Failure(id > n ? `entry ${n} is missing (the next line is entry ${id})` : `entry ${id} is out of place (found where entry ${n} belongs)`, n);
    }
    const leaf = b64(line.slice(tab + 1));
    if (leaf === undefined) throw new Failure(`entry ${n}: the leaf is not canonical base64`, n);
    if (leaf.length < 9 || leaf[0] !== 1) throw new Failure(`entry ${n}: not a format-1 ledger leaf`, n);
    const says = leaf.readBigUInt64BE(1);
    if (says !== BigInt(n)) throw new Failure(`the entry at ${n} says it belongs at ${says} (entries were moved or replaced)`, n);
    frontier.append(leafHash(leaf));
    checkRoot();
  }
  if (frontier.size < size) throw new Failure(`the header says ${size} entries, the export holds ${frontier.size}`, frontier.size);
  return { size, checkpoints: header.checkpoints.length, sizes, witnessKeys: witnessKeys.length, unsigned: size - verifiedUpTo };
}

function usage() {
  process.stderr.write('usage: node offline-verifier.mjs EXPORT [--witness-quorum K]\n');
  process.exit(2);
}

const args = process.argv.slice(2);
let file;
let quorum = 0;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--witness-quorum') {
    const k = args[++i];
    if (k === undefined || !/^[0-9]+$/.test(k)) usage();
    quorum = Number(k);
  } else if (file === undefined && !args[i].startsWith('--')) {
    file = args[i];
  } else {
    usage();
  }
}
if (file === undefined) usage();

try {
  const r = await verify(file, quorum);
  const tail = r.unsigned > 0 ? `; the last ${r.unsigned} entries are after the largest checkpoint (positions checked, not signed)` : '';
  process.stdout.write(
    `OK: ${r.size} entries; ${r.checkpoints} checkpoint(s) at size(s) ${r.sizes.join(', ')} verified` +
      `${quorum > 0 ? `, each cosigned by at least ${quorum} of ${r.witnessKeys} witness(es)` : ''}${tail}\n`,
  );
  process.exit(0);
} catch (err) {
  if (err instanceof Failure) {
    process.stdout.write(err.position === null ? `FAIL: ${err.message}\n` : `FAIL at position ${err.position}: ${err.message}\n`);
  } else {
    process.stdout.write(`FAIL: ${err?.code === 'ENOENT' ? `cannot read ${file}` : String(err?.message ?? err)}\n`);
  }
  process.exit(1);
}
