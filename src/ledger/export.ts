// A self-describing ledger export, checkable by src/ledger/offline-verifier.mjs with nothing but Node.
//
// Format "heliosdb-ledger-export/1", UTF-8 text, lines ending in "\n":
//   line 1: JSON header {format, origin, size, logVerifierKeys, witnessVerifierKeys, checkpoints}
//           checkpoints are C2SP signed notes (c2sp.org/tlog-checkpoint), possibly carrying witness
//           cosignatures (c2sp.org/tlog-cosignature); keys are sumdb/note verifier key strings
//           (type 0x01 for the log, 0x04 for witnesses).
//   then:   one line per entry, in id order: <id> TAB <base64 of the leaf bytes (src/ledger/leaf.ts)>
// `size` is the number of entries the export covers ([0, size)); every checkpoint's size is <= it.
// Entries are written as stored (a gap or a moved entry is exported as is, for the verifier to find).
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type pg from 'pg';
import { openCheckpoint, parseCosignatureVerifierKey, parseVerifierKey, type NoteVerifier } from './checkpoint/index.ts';
import { readHead } from './store.ts';

export const EXPORT_FORMAT = 'heliosdb-ledger-export/1';

export interface ExportHeader {
  format: typeof EXPORT_FORMAT;
  origin: string;
  size: number;
  logVerifierKeys: string[];
  witnessVerifierKeys: string[];
  checkpoints: string[];
}

export interface ExportProgress {
  written: number;
  size: number;
}

export interface ExportOptions {
  /** Signed checkpoint notes of this log (with any cosignatures); at least one. */
  checkpoints: string[];
  /** Verifier keys of the log's signing keys (current and rotated-out). */
  logVerifierKeys: string[];
  /** Verifier keys of witnesses whose cosignatures the checkpoints carry. */
  witnessVerifierKeys?: string[];
  /** Entries per query; default 10,000. */
  chunk?: number;
  /** Called after each chunk is written. */
  onProgress?: (p: ExportProgress) => void;
}

async function write(out: Writable, s: string): Promise<void> {
  if (!out.write(s)) await once(out, 'drain');
}

/**
 * Writes the export of entries [0, head size) to `out` (which is not ended). Every checkpoint must
 * verify under the log keys (and, for cosignatures from the listed witnesses, under theirs), share
 * one origin, and not exceed the head's size.
 */
export async function exportLedger(client: pg.Client, opts: ExportOptions, out: Writable): Promise<ExportHeader> {
  if (opts.checkpoints.length === 0) throw new Error('an export needs at least one signed checkpoint');
  const witnessKeys = opts.witnessVerifierKeys ?? [];
  const verifiers: NoteVerifier[] = [...opts.logVerifierKeys.map(parseVerifierKey), ...witnessKeys.map((k) => parseCosignatureVerifierKey(k))];
  const logNames = new Set(opts.logVerifierKeys.map((k) => parseVerifierKey(k)).map((v) => `${v.name}+${v.keyHash}`));
  let origin: string | undefined;
  let largest = 0;
  for (const note of opts.checkpoints) {
    const opened = openCheckpoint(note, verifiers, origin === undefined ? {} : { origin });
    if (!opened.note.sigs.some((s) => logNames.has(`${s.name}+${s.keyHash}`))) throw new Error('a checkpoint carries no signature from a log key');
    origin = opened.checkpoint.origin;
    largest = Math.max(largest, opened.checkpoint.size);
  }
  const head = await readHead(client);
  if (largest > head.size) throw new Error(`a checkpoint covers ${largest} entries; the ledger holds ${head.size}`);
  const header: ExportHeader = {
    format: EXPORT_FORMAT,
    origin: origin!,
    size: head.size,
    logVerifierKeys: [...opts.logVerifierKeys],
    witnessVerifierKeys: [...witnessKeys],
    checkpoints: [...opts.checkpoints],
  };
  await write(out, `${JSON.stringify(header)}\n`);
  const chunk = opts.chunk ?? 10_000;
  let last = -1;
  let written = 0;
  for (;;) {
    const { rows } = await client.query<{ id: string; leaf: Buffer }>('SELECT id, leaf FROM helios.ledger_entries WHERE id > $1 AND id < $2 ORDER BY id LIMIT $3', [
      last,
      head.size,
      chunk,
    ]);
    if (rows.length === 0) break;
    let text = '';
    for (const r of rows) text += `${r.id}\t${r.leaf.toString('base64')}\n`;
    await write(out, text);
    written += rows.length;
    last = Number(rows[rows.length - 1]!.id);
    opts.onProgress?.({ written, size: head.size });
    if (rows.length < chunk) break;
  }
  return header;
}
