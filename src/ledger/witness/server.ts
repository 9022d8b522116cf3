// A transparency log witness serving the c2sp.org/tlog-witness add-checkpoint endpoint.
//
// Protocol facts (c2sp.org/tlog-witness, c2sp.org/tlog-cosignature):
// - `POST <submission prefix>/add-checkpoint`. The body is an old size line `old <N>` (ASCII decimal,
//   no leading zeroes, "0" for zero), zero or more consistency proof lines (one base64 hash each, at
//   most 63), an empty line, then a signed checkpoint note. Every line ends in U+000A.
// - The witness verifies the checkpoint signature against the keys it trusts for the origin and
//   ignores unknown keys. Unknown origin: 404 Not Found. No trusted signature verifies: 403 Forbidden.
// - old > checkpoint size: 400 Bad Request.
// - old must equal the size of the latest checkpoint cosigned for that origin (0 if none), otherwise
//   409 Conflict whose body is that size in decimal plus "\n", Content-Type `text/x.tlog.size`.
// - The proof is an RFC 6962 §2.1.2 consistency proof from old to the checkpoint size; it MUST be
//   empty when old is 0. If it doesn't verify: 422 Unprocessable Entity.
// - If old equals the checkpoint size the root hashes must be identical, otherwise 409 Conflict.
// - If all checks pass the witness MUST persist the new checkpoint before answering 200 with one or
//   more note signature lines (`— <name> <base64>\n`): cosignatures on the checkpoint. The check of
//   old against the stored size and the update must be atomic (here: one promise chain per origin).
// - The witness MAY log requests with a valid signature but a failing proof as possible evidence.
//
// Local choices: bodies over 1 MiB + 64 proof lines get 413; other paths 404; other methods on
// /add-checkpoint 405. A same-size different-root checkpoint (a proven split view) and a signed
// checkpoint whose proof fails are both kept as evidence and raise an alert.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CheckpointFormatError, openCheckpoint, type Checkpoint } from '../checkpoint/checkpoint.ts';
import { cosignCheckpoint, parseCosignerKey } from '../checkpoint/cosignature.ts';
import { DEFAULT_MAX_NOTE_BYTES, NoteError, UnverifiedNoteError, decodeBase64Strict, parseVerifierKey, type NoteVerifier } from '../checkpoint/note.ts';
import { HASH_SIZE, verifyConsistency } from '../merkle/index.ts';
import { WitnessState, type Evidence, type EvidenceKind } from './state.ts';

/** The spec's bound on consistency proof lines. */
export const MAX_PROOF_LINES = 63;
const MAX_BODY_BYTES = DEFAULT_MAX_NOTE_BYTES + 64 * 64;
const OLD_RE = /^old (0|[1-9][0-9]*)$/;

export interface WitnessLogConfig {
  origin: string;
  /** The log's note verifier keys (Ed25519, sumdb/note format). */
  verifierKeys: string[];
}

export interface WitnessAlert {
  kind: EvidenceKind;
  origin: string;
  message: string;
  evidencePath: string;
  evidence: Evidence;
}

export interface WitnessOptions {
  dir: string;
  /** Defaults to 127.0.0.1 and an ephemeral port. */
  listen?: { host?: string; port?: number };
  /** PRIVATE+KEY+... cosigner key (type 0x04, cosignature/v1). */
  cosignerKey: string;
  logs: WitnessLogConfig[];
  onAlert?: (alert: WitnessAlert) => void;
  /** Log line sink; defaults to stderr. */
  log?: (line: string) => void;
  /** Unix seconds used as the cosignature timestamp. */
  now?: () => number;
}

export interface WitnessHandle {
  url: string;
  verifierKey: string;
  state: WitnessState;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly contentType = 'text/plain; charset=utf-8',
  ) {
    super(message);
  }
}

interface AddCheckpointRequest {
  oldSize: number;
  proof: Buffer[];
  note: Buffer;
}

/** Parses an add-checkpoint body; throws HttpError(400) if malformed. */
export function parseAddCheckpointBody(body: Buffer): AddCheckpointRequest {
  let pos = 0;
  const nextLine = (): string => {
    const nl = body.indexOf(0x0a, pos);
    if (nl < 0) throw new HttpError(400, 'every line must end in a newline');
    const line = body.subarray(pos, nl).toString('latin1');
    pos = nl + 1;
    return line;
  };
  const m = OLD_RE.exec(nextLine());
  if (m === null) throw new HttpError(400, 'first line must be "old <size>"');
  const oldSize = Number(m[1]);
  if (!Number.isSafeInteger(oldSize)) throw new HttpError(400, 'old size too large');
  const proof: Buffer[] = [];
  for (;;) {
    const line = nextLine();
    if (line === '') break;
    if (proof.length === MAX_PROOF_LINES) throw new HttpError(400, `more than ${MAX_PROOF_LINES} consistency proof lines`);
    const h = decodeBase64Strict(line);
    if (h === undefined || h.length !== HASH_SIZE) throw new HttpError(400, 'consistency proof line is not a base64 SHA-256 hash');
    proof.push(h);
  }
  return { oldSize, proof, note: body.subarray(pos) };
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > limit) {
        reject(new HttpError(413, 'request body too large'));
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startWitness(opts: WitnessOptions): Promise<WitnessHandle> {
  const signer = parseCosignerKey(opts.cosignerKey);
  const now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  const log = opts.log ?? ((line: string) => process.stderr.write(line.endsWith('\n') ? line : `${line}\n`));
  const verifiers = new Map<string, NoteVerifier[]>();
  for (const l of opts.logs) {
    if (verifiers.has(l.origin)) throw new Error(`log ${JSON.stringify(l.origin)} configured twice`);
    if (l.verifierKeys.length === 0) throw new Error(`log ${JSON.stringify(l.origin)} has no verifier keys`);
    verifiers.set(l.origin, l.verifierKeys.map(parseVerifierKey));
  }
  const state = WitnessState.open(opts.dir);
  // One promise chain per origin: check-then-persist never interleaves for the same log.
  const locks = new Map<string, Promise<unknown>>();
  const withLock = <T>(origin: string, fn: () => T): Promise<T> => {
    const prev = locks.get(origin) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    locks.set(origin, next.catch(() => undefined));
    return next;
  };

  const evidence = (kind: EvidenceKind, cp: Checkpoint, req: AddCheckpointRequest, detail: string): void => {
    const cur = state.get(cp.origin)!;
    const ev: Evidence = {
      kind,
      origin: cp.origin,
      detectedAt: new Date().toISOString(),
      cosigned: { size: cur.size, root: cur.root.toString('base64'), note: cur.note },
      conflicting: { oldSize: req.oldSize, size: cp.size, root: cp.root.toString('base64'), proof: req.proof.map((p) => p.toString('base64')), note: req.note.toString('utf8') },
      detail,
    };
    const { path, isNew } = state.recordEvidence(ev);
    const message = `witness ALERT ${kind} for log ${JSON.stringify(cp.origin)}: ${detail}; evidence in ${path}`;
    log(message);
    if (isNew && opts.onAlert) {
      try {
        opts.onAlert({ kind, origin: cp.origin, message, evidencePath: path, evidence: ev });
      } catch (err) {
        log(`witness: onAlert threw: ${(err as Error).message}`);
      }
    }
  };

  const addCheckpoint = async (body: Buffer): Promise<string> => {
    const req = parseAddCheckpointBody(body);
    const nl = req.note.indexOf(0x0a);
    if (nl <= 0) throw new HttpError(400, 'missing checkpoint');
    const origin = req.note.subarray(0, nl).toString('utf8');
    const vs = verifiers.get(origin);
    if (vs === undefined) throw new HttpError(404, 'unknown log origin');
    let cp: Checkpoint;
    let text: string;
    try {
      const opened = openCheckpoint(req.note, vs, { origin });
      cp = opened.checkpoint;
      text = opened.note.text;
    } catch (err) {
      if (err instanceof UnverifiedNoteError) throw new HttpError(403, 'no trusted log signature on the checkpoint');
      if (err instanceof NoteError && err.code === 'invalid-signature') throw new HttpError(403, 'invalid log signature');
      if (err instanceof NoteError || err instanceof CheckpointFormatError) throw new HttpError(400, `malformed checkpoint: ${err.message}`);
      throw err;
    }
    if (req.oldSize > cp.size) throw new HttpError(400, 'old size is larger than the checkpoint size');

    return withLock(origin, () => {
      const cur = state.get(origin);
      const curSize = cur?.size ?? 0;
      // A validly signed checkpoint at the cosigned size with another root proves a split view,
      // whatever old size the request claims.
      if (cur !== undefined && cp.size === cur.size && !cp.root.equals(cur.root)) {
        evidence('split-view', cp, req, `checkpoint of size ${cp.size} has root ${cp.root.toString('base64')}, cosigned root is ${cur.root.toString('base64')}`);
        if (req.oldSize !== curSize) throw new HttpError(409, `${curSize}\n`, 'text/x.tlog.size');
        throw new HttpError(409, 'root hash differs from the cosigned checkpoint of the same size');
      }
      if (req.oldSize !== curSize) throw new HttpError(409, `${curSize}\n`, 'text/x.tlog.size');
      // From here old === cosigned size <= checkpoint size: a smaller size is never cosigned.
      if (req.oldSize === 0) {
        if (req.proof.length !== 0) throw new HttpError(422, 'consistency proof must be empty when old size is 0');
        if (cp.size === 0 && !verifyConsistency(0, 0, cp.root, cp.root, [])) throw new HttpError(422, 'root of an empty tree must be SHA-256("")');
      } else if (!verifyConsistency(req.oldSize, cp.size, cur!.root, cp.root, req.proof)) {
        evidence('inconsistent-proof', cp, req, `consistency proof from size ${req.oldSize} to ${cp.size} does not verify`);
        throw new HttpError(422, 'consistency proof does not verify');
      }
      // Persist before answering; same size and root is idempotent (keep the stored note).
      if (cur === undefined || cp.size > cur.size) state.put({ origin, size: cp.size, root: cp.root, note: req.note.toString('utf8') });
      // cosignature/v1 signs the checkpoint text (no signature lines) with a timestamp.
      return cosignCheckpoint(text, signer, now());
    });
  };

  const send = (res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8', headers: Record<string, string> = {}): void => {
    if (res.headersSent) return;
    res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/add-checkpoint') return send(res, 404, 'not found\n');
    if (req.method !== 'POST') return send(res, 405, 'method not allowed\n', undefined, { allow: 'POST' });
    try {
      const body = await readBody(req, MAX_BODY_BYTES);
      const line = await addCheckpoint(body);
      send(res, 200, line);
    } catch (err) {
      if (err instanceof HttpError) {
        const msg = err.message.endsWith('\n') ? err.message : `${err.message}\n`;
        if (err.status === 413) res.setHeader('connection', 'close');
        return send(res, err.status, msg, err.contentType);
      }
      log(`witness: internal error: ${(err as Error).stack ?? String(err)}`);
      send(res, 500, 'internal error\n');
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      log(`witness: unhandled: ${String(err)}`);
      if (!res.headersSent) send(res, 500, 'internal error\n');
    });
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  const host = opts.listen?.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.listen?.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const h = addr.family === 'IPv6' || addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${h}:${addr.port}`,
    verifierKey: signer.verifierKey,
    state,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
