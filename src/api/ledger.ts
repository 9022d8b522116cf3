// /api/v1/ledger/*: the audit ledger's head and checkpoints, verification (the stored log
// recomputed, and checked against the newest signed checkpoint), and proofs.
import type { LeafValue } from '../ledger/leaf.ts';
import type { LedgerService } from '../ledger/service.ts';
import { exportLedger } from '../ledger/export.ts';
import { LedgerProofError, findEntry, proveConsistency, proveInclusion } from '../ledger/proofs.ts';
import { readHead, verifyAgainstCheckpoint, verifyLocal } from '../ledger/store.ts';
import { checkCosignatures } from '../ledger/witness/client.ts';
import { intParam } from './params.ts';
import { ApiError, ApiStream, type ApiRoute } from './routes.ts';

function proofError(err: unknown): never {
  if (err instanceof LedgerProofError || err instanceof RangeError) throw new ApiError(400, err.message);
  throw err;
}

export function ledgerRoutes(ledger: () => LedgerService | undefined): Record<string, ApiRoute> {
  const service = (): LedgerService => {
    const l = ledger();
    if (!l) throw new ApiError(503, 'the audit ledger is not running (--ledger off, or no control connection)');
    return l;
  };
  return {
    '/api/v1/ledger': () =>
      service().withClient(async (c) => {
        const head = await readHead(c);
        const { rows } = await c.query('SELECT size, encode(root, \'hex\') AS root, cosigners, final, signed_at FROM helios.ledger_checkpoints ORDER BY size DESC LIMIT 20');
        return { origin: service().origin, size: head.size, root: head.root.toString('hex'), verifierKey: service().verifierKey ?? null, checkpoints: rows };
      }),
    '/api/v1/ledger/verify': () =>
      service().withClient(async (c) => {
        const local = await verifyLocal(c);
        const { rows } = await c.query<{ note: string }>('SELECT note FROM helios.ledger_checkpoints ORDER BY size DESC LIMIT 1');
        const checkpoint = rows[0] ? await verifyAgainstCheckpoint(c, rows[0].note, service().verifiers(), service().origin).catch((err: Error) => ({ ok: false, reason: err.message })) : null;
        // Cosignatures of that checkpoint from the configured witnesses: a present one that does not verify was altered.
        const w = service().witnessing;
        const cosigs = rows[0] && w.keys.length ? checkCosignatures(rows[0].note, w.keys) : null;
        const witnesses = cosigs ? { cosigned: cosigs.valid, invalid: cosigs.invalid, k: w.k, n: w.keys.length, final: cosigs.valid.length >= w.k } : null;
        // Interior nodes are written only by appends: a wrong one is tampering too, though it can only break proofs.
        const ok = local.ok && local.nodes.firstBad === null && (checkpoint?.ok ?? true) && (cosigs?.invalid.length ?? 0) === 0;
        return { ok, local, checkpoint, witnesses };
      }),
    '/api/v1/ledger/prove': (url) =>
      service().withClient(async (c) => {
        const table = url.searchParams.get('table');
        let id: number;
        if (table !== null) {
          const key = url.searchParams.get('key');
          if (key === null) throw new ApiError(400, 'a row is found by table, key (JSON) and optionally lsn');
          let parsed: unknown;
          try {
            parsed = JSON.parse(key);
          } catch {
            throw new ApiError(400, 'key must be JSON, e.g. {"id": 7}');
          }
          const found = await findEntry(c, { table, key: parsed as Record<string, LeafValue>, lsn: url.searchParams.get('lsn') ?? undefined });
          if (!found) throw new ApiError(404, 'no ledger entry for that row');
          id = found.id;
        } else {
          id = intParam(url, 'id', -1, 0, Number.MAX_SAFE_INTEGER);
          if (id < 0) throw new ApiError(400, 'give id=N, or table=...&key=...');
        }
        const size = url.searchParams.has('size') ? intParam(url, 'size', 0, 1, Number.MAX_SAFE_INTEGER) : undefined;
        return await proveInclusion(c, id, size).catch(proofError);
      }),
    // The whole log with its newest checkpoint and newest witnessed one, for src/ledger/offline-verifier.mjs.
    '/api/v1/ledger/export': async () => {
      const l = service();
      const notes = await l.withClient(async (c) => {
        const { rows } = await c.query<{ note: string }>(
          '(SELECT size, note FROM helios.ledger_checkpoints WHERE final ORDER BY size DESC LIMIT 1) UNION (SELECT size, note FROM helios.ledger_checkpoints ORDER BY size DESC LIMIT 1) ORDER BY size',
        );
        return rows.map((r) => r.note);
      });
      if (notes.length === 0) throw new ApiError(409, 'no checkpoint signed yet: an export needs one (they are signed every --ledger-checkpoint)');
      return new ApiStream('text/plain; charset=utf-8', (out) =>
        l.withClient(async (c) => {
          await exportLedger(c, { checkpoints: notes, logVerifierKeys: l.verifierKeys, witnessVerifierKeys: l.witnessing.keys }, out);
        }),
        { 'content-disposition': 'attachment; filename="ledger-export.txt"' },
      );
    },
    '/api/v1/ledger/rotate-key': {
      POST: () => {
        const l = service();
        try {
          return l.rotateKey();
        } catch (err) {
          throw new ApiError(409, (err as Error).message);
        }
      },
    },
    '/api/v1/ledger/consistency': (url) =>
      service().withClient(async (c) =>
        proveConsistency(c, intParam(url, 'm', 0, 1, Number.MAX_SAFE_INTEGER), intParam(url, 'n', 0, 1, Number.MAX_SAFE_INTEGER)).catch(proofError),
      ),
  };
}
