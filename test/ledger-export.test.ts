// A ledger export checked end to end by the standalone offline verifier, run as a child process:
// a real ledger, checkpoints signed by the log's CheckpointSigner and cosigned by witness keys,
// then corruptions of the export, each reported at its position with exit code 1.
import { execFile } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/control-schema.ts';
import { CheckpointSigner, cosignCheckpoint, generateCosignerKey, generateKey, parseCosignerKey, parseSignerKey, signCheckpoint, type CosignatureSigner } from '../src/ledger/checkpoint/index.ts';
import { EXPORT_FORMAT, exportLedger, type ExportHeader, type ExportProgress } from '../src/ledger/export.ts';
import { encodeLeaf, type LeafEntry } from '../src/ledger/leaf.ts';
import { verifyConsistency } from '../src/ledger/merkle/index.ts';
import { proveConsistency } from '../src/ledger/proofs.ts';
import { appendLeaves } from '../src/ledger/store.ts';
import { useFreshDatabase } from './harness/db.ts';

const fx = useFreshDatabase('ledger_export');
const dir = mkdtempSync(join(tmpdir(), 'helios-ledger-export-'));
const ORIGIN = 'heliosdb.test/ledger-export';
const VERIFIER = fileURLToPath(new URL('../src/ledger/offline-verifier.mjs', import.meta.url));

const leaves = (from: number, n: number): LeafEntry[] =>
  Array.from({ length: n }, (_, i) => ({ kind: 'action' as const, fields: { n: from + i, user: 'app', text: `UPDATE t SET v = ${from + i}` } }));

function run(...args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [VERIFIER, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

/** The signed note's text: everything up to and including the newline before the blank line. */
const noteText = (note: string): string => note.slice(0, note.lastIndexOf('\n\n') + 1);

const cosign = (note: string, w: CosignatureSigner, ts: number): string => note + cosignCheckpoint(noteText(note), w, ts);

let signer: CheckpointSigner;
let w1: CosignatureSigner;
let w2: CosignatureSigner;
const checkpoints: string[] = [];
let exportPath: string;
let exportText: string;
let progress: ExportProgress[] = [];

/** Writes a modified copy of the export and runs the verifier on it. */
async function verifyModified(name: string, edit: (lines: string[]) => void, ...args: string[]): Promise<{ code: number; out: string }> {
  const lines = exportText.split('\n');
  edit(lines);
  const p = join(dir, name);
  writeFileSync(p, lines.join('\n'));
  return run(p, ...args);
}

/** Line index of entry `id` (line 0 is the header). */
const L = (id: number): number => id + 1;

beforeAll(async () => {
  await migrate(fx.client);
  signer = CheckpointSigner.open(join(dir, 'keys'), ORIGIN);
  w1 = parseCosignerKey(generateCosignerKey('witness.example/w1').signerKey);
  w2 = parseCosignerKey(generateCosignerKey('witness.example/w2').signerKey);
  let size = 0;
  for (const next of [300, 600, 1000]) {
    const head = await appendLeaves(fx.client, leaves(size, next - size));
    size = next;
    // The signer refuses anything inconsistent with the last checkpoint: check with a proof served by the database.
    const last = signer.lastSigned;
    const proof = last ? (await proveConsistency(fx.client, last.size, head.size)).proof.map((h) => Buffer.from(h, 'hex')) : [];
    const note = signer.sign(head.size, head.root, (m, rootM, n, rootN) => verifyConsistency(m, n, rootM, rootN, proof));
    // Witness w1 cosigns every checkpoint, w2 only the last two.
    let cosigned = cosign(note, w1, 1_700_000_000 + next);
    if (next > 300) cosigned = cosign(cosigned, w2, 1_700_000_100 + next);
    checkpoints.push(cosigned);
  }
  await appendLeaves(fx.client, leaves(1000, 5)); // 5 entries after the last checkpoint
  exportPath = join(dir, 'export.txt');
  const out = createWriteStream(exportPath);
  await exportLedger(
    fx.client,
    { checkpoints, logVerifierKeys: signer.verifierKeys, witnessVerifierKeys: [w1.verifierKey, w2.verifierKey], chunk: 128, onProgress: (p) => progress.push(p) },
    out,
  );
  out.end();
  await finished(out);
  exportText = readFileSync(exportPath, 'utf8');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ledger export', () => {
  it('writes a JSON header and one base64 leaf per line, in chunks, reporting progress', () => {
    const lines = exportText.split('\n');
    expect(lines.at(-1)).toBe('');
    expect(lines).toHaveLength(1 + 1005 + 1);
    const header = JSON.parse(lines[0]!) as ExportHeader;
    expect(header).toEqual({
      format: EXPORT_FORMAT,
      origin: ORIGIN,
      size: 1005,
      logVerifierKeys: signer.verifierKeys,
      witnessVerifierKeys: [w1.verifierKey, w2.verifierKey],
      checkpoints,
    });
    expect(lines[L(0)]).toBe(`0\t${encodeLeaf(0, leaves(0, 1)[0]!).toString('base64')}`);
    expect(lines[L(1004)]).toBe(`1004\t${encodeLeaf(1004, leaves(1004, 1)[0]!).toString('base64')}`);
    expect(progress.length).toBe(Math.ceil(1005 / 128));
    expect(progress.at(-1)).toEqual({ written: 1005, size: 1005 });
  });

  it('refuses checkpoints that do not verify under the log keys, or that cover more than the ledger holds', async () => {
    const other = parseSignerKey(generateKey(ORIGIN).signerKey);
    const foreign = signCheckpoint({ origin: ORIGIN, size: 10, root: Buffer.alloc(32) }, [other]);
    const sink = createWriteStream(join(dir, 'refused.txt'));
    await expect(exportLedger(fx.client, { checkpoints: [foreign], logVerifierKeys: signer.verifierKeys }, sink)).rejects.toThrow(/no verifiable signatures/);
    const tooBig = signCheckpoint({ origin: ORIGIN, size: 5000, root: Buffer.alloc(32) }, [other]);
    await expect(exportLedger(fx.client, { checkpoints: [tooBig], logVerifierKeys: [other.verifierKey] }, sink)).rejects.toThrow(/covers 5000 entries; the ledger holds 1005/);
    await expect(exportLedger(fx.client, { checkpoints: [], logVerifierKeys: signer.verifierKeys }, sink)).rejects.toThrow(/at least one/);
    sink.end();
  });
});

describe('offline verifier (node src/ledger/offline-verifier.mjs)', () => {
  it('imports nothing but node: built-ins', () => {
    const src = readFileSync(VERIFIER, 'utf8');
    const specifiers = [
      ...src.matchAll(/^\s*import\s+(?:[^'"]*?\s+from\s+)?['"]([^'"]+)['"]/gm),
      ...src.matchAll(/\bimport\s*\(\s*['"]([^'"]+)['"]/g),
      ...src.matchAll(/^\s*export\s+[^'"]*?\s+from\s+['"]([^'"]+)['"]/gm),
    ].map((m) => m[1]!);
    expect(specifiers.length).toBeGreaterThanOrEqual(3);
    expect(specifiers.filter((s) => !s.startsWith('node:'))).toEqual([]);
    expect(src).not.toMatch(/\brequire\s*\(/);
    expect(src).not.toMatch(/\bimport\s*\(\s*[^'"\s]/); // no computed dynamic import
  });

  it('accepts the export: exit 0, with and without a witness quorum', async () => {
    const ok = await run(exportPath);
    expect(ok).toMatchObject({ code: 0, out: expect.stringMatching(/^OK: 1005 entries; 3 checkpoint\(s\) at size\(s\) 300, 600, 1000 verified; the last 5 entries/) });
    expect(await run(exportPath, '--witness-quorum', '1')).toMatchObject({ code: 0, out: expect.stringMatching(/each cosigned by at least 1 of 2 witness/) });
  });

  it('enforces the witness quorum on every checkpoint', async () => {
    expect(await run(exportPath, '--witness-quorum', '2')).toEqual({ code: 1, out: 'FAIL: checkpoint 0 (size 300): 1 valid witness cosignatures, quorum is 2\n' });
    expect(await run(exportPath, '--witness-quorum', '3')).toMatchObject({ code: 1, out: expect.stringMatching(/quorum 3 exceeds the 2 witness keys/) });
  });

  it('a changed leaf (its position intact) fails the first checkpoint that covers it, at the start of the unverified range', async () => {
    const r = await verifyModified('changed.txt', (lines) => {
      lines[L(450)] = `450\t${encodeLeaf(450, { kind: 'action', fields: { n: 450, user: 'app', text: 'UPDATE t SET v = -1' } }).toString('base64')}`;
    });
    expect(r).toEqual({ code: 1, out: 'FAIL at position 300: entries 300 to 599 do not hash to the root of the checkpoint at size 600 (an entry in that range was changed)\n' });
    const first = await verifyModified('changed0.txt', (lines) => {
      lines[L(0)] = `0\t${encodeLeaf(0, { kind: 'action', fields: { forged: true } }).toString('base64')}`;
    });
    expect(first).toMatchObject({ code: 1, out: expect.stringMatching(/^FAIL at position 0: entries 0 to 299 do not hash/) });
  });

  it('a leaf replaced by another position\'s leaf is found at its position', async () => {
    const r = await verifyModified('moved.txt', (lines) => {
      lines[L(450)] = `450\t${lines[L(451)]!.split('\t')[1]}`;
    });
    expect(r).toEqual({ code: 1, out: 'FAIL at position 450: the entry at 450 says it belongs at 451 (entries were moved or replaced)\n' });
  });

  it('a corrupted leaf encoding is found at its position', async () => {
    const r = await verifyModified('garbled.txt', (lines) => {
      lines[L(777)] = `${lines[L(777)]!}#`;
    });
    expect(r).toEqual({ code: 1, out: 'FAIL at position 777: entry 777: the leaf is not canonical base64\n' });
  });

  it('a dropped line is found at its position', async () => {
    const r = await verifyModified('dropped.txt', (lines) => {
      lines.splice(L(500), 1);
    });
    expect(r).toEqual({ code: 1, out: 'FAIL at position 500: entry 500 is missing (the next line is entry 501)\n' });
  });

  it('two swapped lines are found at the first of them, whether the ids move with the leaves or not', async () => {
    const swapped = await verifyModified('swapped.txt', (lines) => {
      [lines[L(200)], lines[L(201)]] = [lines[L(201)]!, lines[L(200)]!];
    });
    expect(swapped).toMatchObject({ code: 1, out: expect.stringMatching(/^FAIL at position 200: entry 200 is missing \(the next line is entry 201\)/) });
    const renumbered = await verifyModified('swapped-renumbered.txt', (lines) => {
      const a = lines[L(200)]!.split('\t')[1]!;
      const b = lines[L(201)]!.split('\t')[1]!;
      lines[L(200)] = `200\t${b}`;
      lines[L(201)] = `201\t${a}`;
    });
    expect(renumbered).toEqual({ code: 1, out: 'FAIL at position 200: the entry at 200 says it belongs at 201 (entries were moved or replaced)\n' });
  });

  it('a removed tail is found where the export ends', async () => {
    const r = await verifyModified('truncated.txt', (lines) => {
      lines.splice(L(1000), 5);
    });
    expect(r).toEqual({ code: 1, out: 'FAIL at position 1000: the header says 1005 entries, the export holds 1000\n' });
    const cut = await verifyModified('truncated-signed.txt', (lines) => {
      lines.splice(L(900), 105);
    });
    expect(cut).toMatchObject({ code: 1, out: expect.stringMatching(/^FAIL at position 900: the header says 1005 entries, the export holds 900/) });
  });

  it('a changed checkpoint signature, cosignature or signed root fails', async () => {
    const editHeader = (edit: (h: ExportHeader) => void) => (lines: string[]) => {
      const h = JSON.parse(lines[0]!) as ExportHeader;
      edit(h);
      lines[0] = JSON.stringify(h);
    };
    /** Flips one bit of the signature bytes (after the 4-byte key ID) of the signature line starting with `prefix`. */
    const flip = (note: string, prefix: string): string =>
      note
        .split('\n')
        .map((line) => {
          if (!line.startsWith(prefix)) return line;
          const [dash, name, b64] = line.split(' ');
          const raw = Buffer.from(b64!, 'base64');
          raw[raw.length - 5]! ^= 0x01;
          return `${dash} ${name} ${raw.toString('base64')}`;
        })
        .join('\n');
    const sig = await verifyModified('bad-signature.txt', editHeader((h) => (h.checkpoints[1] = flip(h.checkpoints[1]!, `\u2014 ${ORIGIN} `))));
    expect(sig).toEqual({ code: 1, out: `FAIL: checkpoint 1: invalid signature by log key ${ORIGIN}\n` });
    const cosig = await verifyModified('bad-cosignature.txt', editHeader((h) => (h.checkpoints[2] = flip(h.checkpoints[2]!, '\u2014 witness.example/w2 '))));
    expect(cosig).toEqual({ code: 1, out: 'FAIL: checkpoint 2: invalid cosignature by witness witness.example/w2\n' });
    const root = await verifyModified(
      'bad-root.txt',
      editHeader((h) => {
        const lines = h.checkpoints[0]!.split('\n');
        lines[2] = Buffer.alloc(32, 7).toString('base64');
        h.checkpoints[0] = lines.join('\n');
      }),
    );
    expect(root).toEqual({ code: 1, out: `FAIL: checkpoint 0: invalid signature by log key ${ORIGIN}\n` });
    const unsigned = await verifyModified('no-log-signature.txt', editHeader((h) => (h.checkpoints[2] = h.checkpoints[2]!.split('\n').filter((l) => !l.startsWith(`\u2014 ${ORIGIN} `)).join('\n'))));
    expect(unsigned).toEqual({ code: 1, out: 'FAIL: checkpoint 2: no valid signature by a log key\n' });
  });

  it('a usage error exits 2; an unreadable export exits 1', async () => {
    expect((await run()).code).toBe(2);
    expect(await run(join(dir, 'nope.txt'))).toMatchObject({ code: 1, out: expect.stringMatching(/^FAIL: cannot read/) });
  });
});
