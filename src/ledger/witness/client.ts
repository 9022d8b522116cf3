// Client side of c2sp.org/tlog-witness: a log asks witnesses to cosign its new checkpoint.
//
// Protocol facts:
// - Request: `POST <prefix>/add-checkpoint`, body `old <size>\n`, one base64 proof hash per line
//   (at most 63; none when old is 0), an empty line, then the signed checkpoint note.
// - 200: one or more note signature lines. The client MUST ignore cosignatures from unknown keys,
//   so only lines that verify against the witness's configured key are kept.
// - 409 with Content-Type `text/x.tlog.size`: the body is the size of the latest checkpoint the
//   witness cosigned; the client retries with that old size and a proof from it. A client that
//   doesn't know the witness's state MAY start with old size 0 to learn it.
// - 409 without that type (same size, different root), 403/404 (log key or origin unknown),
//   422 (proof didn't verify) and 400 are final for this checkpoint.
// Quorum: with n = 3f + 1 witnesses of which up to f may be faulty, a checkpoint is final once
// k = 2f + 1 cosigned; in general k is the smallest integer above 2n/3 (any two k-sets of n overlap
// in more than n/3 witnesses, so in at least one honest one if f < n/3).

import { request } from 'undici';
import { verifyCosignature, parseCosignatureVerifierKey } from '../checkpoint/cosignature.ts';
import type { Checkpoint } from '../checkpoint/checkpoint.ts';

export interface AddCheckpointInput {
  oldSize: number;
  proof: Buffer[];
  /** The log-signed checkpoint note. */
  note: string;
}

export type AddCheckpointResult =
  | { ok: true; cosignature: string }
  /** status 0: no HTTP response (connection error or timeout). */
  | { ok: false; status: number; latestSize?: number; error: string };

export interface AddCheckpointOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 10_000;

export function formatAddCheckpointBody(input: AddCheckpointInput): string {
  return `old ${input.oldSize}\n${input.proof.map((p) => `${p.toString('base64')}\n`).join('')}\n${input.note}`;
}

/** Submits a checkpoint to one witness (witnessUrl is its submission prefix). Never throws. */
export async function addCheckpoint(witnessUrl: string, input: AddCheckpointInput, opts: AddCheckpointOptions = {}): Promise<AddCheckpointResult> {
  const url = `${witnessUrl.replace(/\/+$/, '')}/add-checkpoint`;
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  try {
    const res = await request(url, { method: 'POST', body: formatAddCheckpointBody(input), headers: { 'content-type': 'text/plain; charset=utf-8' }, signal });
    const text = await res.body.text();
    if (res.statusCode === 200) return { ok: true, cosignature: text };
    const ctype = String(res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (res.statusCode === 409 && ctype === 'text/x.tlog.size') {
      const m = /^(0|[1-9][0-9]*)\n$/.exec(text);
      if (m) {
        const latestSize = Number(m[1]);
        if (Number.isSafeInteger(latestSize)) return { ok: false, status: 409, latestSize, error: `witness is at size ${latestSize}` };
      }
      return { ok: false, status: 409, error: 'malformed text/x.tlog.size body' };
    }
    return { ok: false, status: res.statusCode, error: text.trim() || `HTTP ${res.statusCode}` };
  } catch (err) {
    return { ok: false, status: 0, error: (err as Error).message };
  }
}

/** Smallest k with k > 2n/3: for n = 3f + 1, k = 2f + 1. */
export function quorum(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`quorum needs at least one witness, got ${n}`);
  return Math.floor((2 * n) / 3) + 1;
}

export interface WitnessEndpoint {
  url: string;
  /** The witness's cosignature/v1 verifier key. */
  verifierKey: string;
  /** Last size this witness is known to have cosigned (default 0; a 409 corrects it). */
  oldSize?: number;
}

export interface WitnessOutcome {
  url: string;
  verifierKey: string;
  ok: boolean;
  /** The verified cosignature line(s) from this witness's key. */
  cosignature?: string;
  timestamp?: number;
  status?: number;
  latestSize?: number;
  error?: string;
}

export interface CollectResult {
  final: boolean;
  k: number;
  n: number;
  cosigned: number;
  outcomes: WitnessOutcome[];
  /** The signed note with every verified cosignature appended. */
  note: string;
}

export interface CollectOptions {
  witnesses: WitnessEndpoint[];
  /** The log-signed checkpoint note. */
  note: string;
  /** Its parsed checkpoint (size and root). */
  checkpoint: Checkpoint;
  /** Consistency proof from oldSize to checkpoint.size ([] for 0). */
  proofFor: (oldSize: number) => Promise<Buffer[]>;
  /** Cosignatures needed for finality; default quorum(witnesses.length). */
  k?: number;
  timeoutMs?: number;
}

/**
 * The cosignatures of a note from the given witness keys: which verify, and which are present
 * (a line with the key's name and key ID) but do not — a forged or altered cosignature.
 */
export function checkCosignatures(note: string, verifierKeys: readonly string[]): { valid: string[]; invalid: string[] } {
  const text = signedText(note);
  const lines = note.slice(text.length + 1).split('\n').filter(Boolean);
  const valid: string[] = [];
  const invalid: string[] = [];
  for (const key of verifierKeys) {
    const verifier = parseCosignatureVerifierKey(key);
    const own = lines.filter((l) => {
      if (!l.startsWith(`\u2014 ${verifier.name} `)) return false;
      const raw = Buffer.from(l.slice(verifier.name.length + 3), 'base64');
      return raw.length >= 4 && raw.readUInt32BE(0) === verifier.keyHash;
    });
    if (own.length === 0) continue;
    const ok = own.some((l) => {
      try {
        verifyCosignature(text, l, verifier);
        return true;
      } catch {
        return false;
      }
    });
    (ok ? valid : invalid).push(verifier.name);
  }
  return { valid, invalid };
}

function signedText(note: string): string {
  const i = note.lastIndexOf('\n\n');
  if (i < 0) throw new Error('note has no signature block');
  return note.slice(0, i + 1);
}

/** Asks every witness in parallel; final when at least k returned a cosignature that verifies. */
export async function collectCosignatures(opts: CollectOptions): Promise<CollectResult> {
  const n = opts.witnesses.length;
  const k = opts.k ?? quorum(n);
  const text = signedText(opts.note);
  const size = opts.checkpoint.size;

  const one = async (w: WitnessEndpoint): Promise<WitnessOutcome> => {
    const base = { url: w.url, verifierKey: w.verifierKey };
    try {
      const verifier = parseCosignatureVerifierKey(w.verifierKey);
      let oldSize = Math.min(w.oldSize ?? 0, size);
      let res: AddCheckpointResult | undefined;
      for (let attempt = 0; attempt < 2; attempt++) {
        const proof = oldSize === 0 || oldSize === size ? [] : await opts.proofFor(oldSize);
        res = await addCheckpoint(w.url, { oldSize, proof, note: opts.note }, { timeoutMs: opts.timeoutMs });
        // Retry once on a size conflict, unless the witness is ahead of this checkpoint (it will
        // never cosign a smaller size) or repeats the size we sent (a root conflict).
        if (!res.ok && res.status === 409 && res.latestSize !== undefined && res.latestSize !== oldSize && res.latestSize <= size && attempt === 0) {
          oldSize = res.latestSize;
          continue;
        }
        break;
      }
      if (!res!.ok) return { ...base, ok: false, status: res!.status, latestSize: res!.latestSize, error: res!.error };
      // Keep only lines from this witness's key that verify; ignore all others.
      const good: string[] = [];
      let timestamp: number | undefined;
      for (const line of res!.cosignature.split('\n')) {
        if (line === '') continue;
        try {
          timestamp = verifyCosignature(text, line, verifier).timestamp;
          good.push(`${line}\n`);
        } catch {
          // not from this witness's key, or invalid
        }
      }
      if (good.length === 0) return { ...base, ok: false, status: 200, error: 'no valid cosignature from the witness key in the response' };
      return { ...base, ok: true, status: 200, cosignature: good.join(''), timestamp };
    } catch (err) {
      return { ...base, ok: false, error: (err as Error).message };
    }
  };

  const outcomes = await Promise.all(opts.witnesses.map(one));
  const cosigned = outcomes.filter((o) => o.ok).length;
  let note = opts.note;
  for (const o of outcomes) if (o.ok) note += o.cosignature!;
  return { final: cosigned >= k, k, n, cosigned, outcomes, note };
}
