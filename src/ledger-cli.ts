// `helios ledger ...`: the audit ledger of a running sidecar, through its REST API (--http).
// Exit code 1 when verification fails, so scripts and cron jobs can alert on it.
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { call, parseApiCommand, table } from './api-cli.ts';
import { UserError } from './errors.ts';

const USAGE = `Usage:
  helios ledger [status]                   size, root, signing key, recent checkpoints
  helios ledger verify                     recompute the tree from the stored entries; check the newest signed checkpoint
  helios ledger prove ID [--size N]        inclusion proof of entry ID (in the current tree, or the tree of size N)
  helios ledger prove --table T --key JSON [--lsn L]   the same, for the entry of a row change
  helios ledger consistency M N            consistency proof between the trees of sizes M and N
  helios ledger rotate-key                 new checkpoint signing key (old checkpoints stay verifiable); give
                                           witnesses the new key (--log ORIGIN=KEY) first
  helios ledger export FILE                the whole log with its newest (and newest witnessed) checkpoint, for
                                           an auditor: node src/ledger/offline-verifier.mjs FILE checks it alone
Common options: --http HOST:PORT (default $HELIOS_HTTP or 127.0.0.1:9187)
`;

export async function ledgerCommand(args: string[]): Promise<void> {
  const parsed = parseApiCommand(args, { size: { type: 'string' }, table: { type: 'string' }, key: { type: 'string' }, lsn: { type: 'string' } }, USAGE);
  if (!parsed) return;
  const { values, positionals, base } = parsed;
  const [sub = 'status', ...more] = positionals;
  const out = (s: string) => process.stdout.write(s);
  switch (sub) {
    case 'status': {
      const s = await call(base, 'GET', '/api/v1/ledger');
      out(`origin ${s.origin}\nsize   ${s.size}\nroot   ${s.root}\nkey    ${s.verifierKey ?? '(not signing)'}\n\n`);
      out(table(['size', 'root', 'cosigners', 'final', 'signed_at'], s.checkpoints.map((c: any) => [c.size, c.root, c.cosigners, c.final, c.signed_at])));
      return;
    }
    case 'verify': {
      const v = await call(base, 'GET', '/api/v1/ledger/verify', undefined, 600_000);
      const l = v.local;
      out(`stored entries   ${l.entries} (state says ${l.stateSize})\ncomputed root    ${l.computedRoot}\n`);
      out(l.ok ? 'local check      ok\n' : `local check      FAILED at position ${l.firstBad.position}: ${l.firstBad.reason}\n`);
      out(l.nodes.firstBad === null ? `interior nodes   ok (${l.nodes.checked} checked)\n` : `interior nodes   FAILED: ${l.nodes.firstBad.reason}\n`);
      if (v.checkpoint) out(v.checkpoint.ok ? `checkpoint       ok (size ${v.checkpoint.size}, signature verified, root matches)\n` : `checkpoint       FAILED: ${v.checkpoint.reason}\n`);
      else out('checkpoint       none signed yet\n');
      const w = v.witnesses;
      if (w) {
        out(`witnesses        ${w.cosigned.length} of ${w.n} cosigned, ${w.k} needed: ${w.final ? 'final' : 'not final yet'}${w.cosigned.length ? ` (${w.cosigned.join(', ')})` : ''}\n`);
        if (w.invalid.length) out(`witnesses        FAILED: cosignature(s) that do not verify, from ${w.invalid.join(', ')}\n`);
      }
      if (!v.ok) process.exitCode = 1;
      return;
    }
    case 'prove': {
      const q = new URLSearchParams();
      if (values.table !== undefined) {
        q.set('table', values.table);
        if (values.key === undefined) throw new UserError('--table needs --key JSON, e.g. --key \'{"id": 7}\'');
        q.set('key', values.key);
        if (values.lsn !== undefined) q.set('lsn', values.lsn);
      } else {
        if (more[0] === undefined || !/^\d+$/.test(more[0])) throw new UserError(`helios ledger prove needs an entry id\n${USAGE}`);
        q.set('id', more[0]);
      }
      if (values.size !== undefined) q.set('size', values.size);
      out(`${JSON.stringify(await call(base, 'GET', `/api/v1/ledger/prove?${q}`), null, 2)}\n`);
      return;
    }
    case 'consistency': {
      const [m, n] = more;
      if (!m || !n || !/^\d+$/.test(m) || !/^\d+$/.test(n)) throw new UserError(`helios ledger consistency needs two sizes M N\n${USAGE}`);
      out(`${JSON.stringify(await call(base, 'GET', `/api/v1/ledger/consistency?m=${m}&n=${n}`), null, 2)}\n`);
      return;
    }
    case 'rotate-key': {
      const r = await call(base, 'POST', '/api/v1/ledger/rotate-key');
      out(`previous ${r.previous}\nnew      ${r.verifierKey}\n`);
      return;
    }
    case 'export': {
      const file = more[0];
      if (!file) throw new UserError(`helios ledger export needs a file to write\n${USAGE}`);
      let res: Response;
      try {
        res = await fetch(`${base}/api/v1/ledger/export`, { signal: AbortSignal.timeout(3_600_000) });
      } catch (err) {
        throw new UserError(`cannot reach HeliosDB at ${base}: ${(err as Error).message} (is it running? pass --http HOST:PORT)`);
      }
      if (!res.ok || !res.body) {
        const payload = (await res.json().catch(() => ({}))) as { error?: string };
        throw new UserError(`export: ${payload.error ?? `HTTP ${res.status}`}`);
      }
      let bytes = 0;
      let lines = 0;
      const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
      body.on('data', (b: Buffer) => {
        bytes += b.length;
        for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) lines++;
        if (process.stderr.isTTY) process.stderr.write(`\r  ${lines} lines, ${(bytes / 1048576).toFixed(1)} MiB`);
      });
      await pipeline(body, createWriteStream(file));
      if (process.stderr.isTTY) process.stderr.write('\n');
      out(`wrote ${file}: ${Math.max(0, lines - 1)} entries, ${bytes} bytes; check it with: node src/ledger/offline-verifier.mjs ${file}\n`);
      return;
    }
    default:
      throw new UserError(`unknown ledger command "${sub}"\n${USAGE}`);
  }
}
