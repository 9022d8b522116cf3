// Witness state: per log, the latest checkpoint this witness cosigned, plus an evidence store.
//
// Protocol facts (c2sp.org/tlog-witness):
// - For each log, uniquely identified by its origin line, a witness only needs to keep the latest
//   checkpoint it observed, verified and cosigned.
// - The witness MUST persist the new checkpoint before responding, and checking `old` against the
//   stored size and persisting the new checkpoint must be atomic (else a slower request for a
//   smaller size could roll the stored size back). Atomicity across requests is the server's job
//   (a per-origin lock); this module makes each write durable and all-or-nothing.
// - A witness MAY record a request whose signature is valid but whose consistency proof doesn't
//   verify, as it might be proof of log misbehavior. Two validly signed checkpoints of one origin
//   with the same size and different roots ARE proof of a split view.
//
// Directory layout (files 0600, directories 0700):
//   logs/<sha256(origin) hex>.json   {"version":1,"origin","size","root": base64,"note": signed checkpoint}
//   evidence/<ms>-<kind>-<sha256(note)[:16]>.json   one file per distinct conflicting checkpoint
// Writes go to a temp file, are fsynced, renamed over the target, then the directory is fsynced.
//
// Not handled: several witness processes sharing one directory (there is no inter-process lock).

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.ts';
import { decodeBase64Strict } from '../checkpoint/note.ts';
import { parseCheckpoint } from '../checkpoint/checkpoint.ts';

export interface LogState {
  origin: string;
  /** Tree size of the latest cosigned checkpoint. */
  size: number;
  /** Root hash of the latest cosigned checkpoint. */
  root: Buffer;
  /** The log-signed checkpoint note the witness cosigned at that size. */
  note: string;
}

export type EvidenceKind =
  /** Same origin and size, a different root than the one cosigned: a proven split view. */
  | 'split-view'
  /** A signed checkpoint whose consistency proof from the cosigned state does not verify. */
  | 'inconsistent-proof';

export interface Evidence {
  kind: EvidenceKind;
  origin: string;
  /** ISO time of detection. */
  detectedAt: string;
  /** What the witness had cosigned. */
  cosigned: { size: number; root: string; note: string };
  /** What it was shown: the request's old size, proof lines (base64) and signed checkpoint. */
  conflicting: { oldSize: number; size: number; root: string; proof: string[]; note: string };
  detail: string;
}

export class WitnessStateError extends Error {
  override name = 'WitnessStateError';
}

const STATE_VERSION = 1;

function sha256hex(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

/** The signed text of a note: everything up to and including the newline before the last blank line. */
export function noteText(note: string): string {
  const i = note.lastIndexOf('\n\n');
  if (i < 0) throw new WitnessStateError('note has no signature block');
  return note.slice(0, i + 1);
}


export class WitnessState {
  private readonly logs = new Map<string, LogState>();
  readonly logsDir: string;
  readonly evidenceDir: string;

  private constructor(readonly dir: string) {
    this.logsDir = join(dir, 'logs');
    this.evidenceDir = join(dir, 'evidence');
  }

  /** Opens (creating if needed) the state directory and loads every log's state. */
  static open(dir: string): WitnessState {
    const s = new WitnessState(dir);
    for (const d of [dir, s.logsDir, s.evidenceDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
    for (const f of readdirSync(s.logsDir)) {
      if (!f.endsWith('.json') || f.startsWith('.')) continue;
      const st = s.readLogFile(join(s.logsDir, f));
      if (`${sha256hex(st.origin)}.json` !== f) throw new WitnessStateError(`${f}: file name does not match origin ${JSON.stringify(st.origin)}`);
      s.logs.set(st.origin, st);
    }
    return s;
  }

  private readLogFile(path: string): LogState {
    let o: { version?: unknown; origin?: unknown; size?: unknown; root?: unknown; note?: unknown };
    try {
      o = JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      throw new WitnessStateError(`${path} is not valid JSON`);
    }
    if (o.version !== STATE_VERSION || typeof o.origin !== 'string' || typeof o.note !== 'string' || typeof o.root !== 'string' || !Number.isSafeInteger(o.size)) {
      throw new WitnessStateError(`${path} has an unknown format`);
    }
    const root = decodeBase64Strict(o.root);
    // The stored note must be the checkpoint the size and root were taken from.
    let cp;
    try {
      cp = parseCheckpoint(noteText(o.note));
    } catch (err) {
      throw new WitnessStateError(`${path}: stored note is not a checkpoint: ${(err as Error).message}`);
    }
    if (root === undefined || cp.origin !== o.origin || cp.size !== o.size || !cp.root.equals(root)) {
      throw new WitnessStateError(`${path}: size/root do not match the stored checkpoint`);
    }
    return { origin: o.origin, size: o.size as number, root, note: o.note };
  }

  get(origin: string): LogState | undefined {
    const s = this.logs.get(origin);
    return s && { ...s, root: Buffer.from(s.root) };
  }

  /** Durably records the latest cosigned checkpoint of a log (before the cosignature is returned). */
  put(state: LogState): void {
    const data = JSON.stringify({ version: STATE_VERSION, origin: state.origin, size: state.size, root: state.root.toString('base64'), note: state.note }) + '\n';
    writeFileAtomic(this.logsDir, `${sha256hex(state.origin)}.json`, data);
    this.logs.set(state.origin, { ...state, root: Buffer.from(state.root) });
  }

  /**
   * Stores evidence of a conflicting checkpoint. Returns the file path and whether it is new (the
   * same conflicting note shown again is stored once).
   */
  recordEvidence(ev: Evidence): { path: string; isNew: boolean } {
    const id = sha256hex(ev.conflicting.note).slice(0, 16);
    const suffix = `-${ev.kind}-${id}.json`;
    const existing = readdirSync(this.evidenceDir).find((f) => f.endsWith(suffix));
    if (existing !== undefined) return { path: join(this.evidenceDir, existing), isNew: false };
    const name = `${Date.now()}${suffix}`;
    writeFileAtomic(this.evidenceDir, name, JSON.stringify(ev, null, 2) + '\n');
    return { path: join(this.evidenceDir, name), isNew: true };
  }

  /** Paths of all stored evidence files. */
  evidenceFiles(): string[] {
    if (!existsSync(this.evidenceDir)) return [];
    return readdirSync(this.evidenceDir)
      .filter((f) => f.endsWith('.json') && !f.startsWith('.'))
      .sort()
      .map((f) => join(this.evidenceDir, f));
  }
}
