// `helios witness`: runs a c2sp.org/tlog-witness add-checkpoint server.
//
//   helios witness --listen 127.0.0.1:7380 --dir ./witness --log ORIGIN=VERIFIERKEY [--log ...] [--name NAME]
//
// The cosigner key (cosignature/v1, Ed25519, key type 0x04) is generated on first start and stored in
// DIR/cosigner.key with mode 0600; its verifier key is printed on stdout at every start. A cosigner
// key MUST NOT be shared by several cosigners (the v1 message does not commit to the name).

import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateCosignerKey, parseCosignerKey } from '../checkpoint/cosignature.ts';
import { parseVerifierKey } from '../checkpoint/note.ts';
import { UserError } from '../../errors.ts';
import { startWitness, type WitnessLogConfig } from './server.ts';
import { writeFileAtomic } from '../atomic-file.ts';

export const COSIGNER_KEY_FILE = 'cosigner.key';

const USAGE = `Usage: helios witness --dir DIR --log ORIGIN=VERIFIERKEY [--log ...] [options]

Runs a transparency log witness (c2sp.org/tlog-witness): POST /add-checkpoint.

  --listen HOST:PORT   where to listen (default 127.0.0.1:7380)
  --dir DIR            state, evidence and the cosigner key (created 0600 on first start)
  --log ORIGIN=VKEY    a log to witness and its note verifier key; repeat per key or log
  --name NAME          cosigner key name when generating a key (default helios-witness)
  -h, --help
`;

/** Loads DIR/cosigner.key, creating it (0600) with a fresh key named `name` if absent. */
export function loadOrCreateCosignerKey(dir: string, name: string): { signerKey: string; verifierKey: string; created: boolean } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, COSIGNER_KEY_FILE);
  let created = false;
  if (!existsSync(path)) {
    writeFileAtomic(dir, COSIGNER_KEY_FILE, generateCosignerKey(name).signerKey + '\n');
    created = true;
  }
  const st = statSync(path);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new UserError(`${path} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}); expected 0600`);
  }
  const signerKey = readFileSync(path, 'utf8').trim();
  return { signerKey, verifierKey: parseCosignerKey(signerKey).verifierKey, created };
}

function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UserError(`--listen must be HOST:PORT, got ${JSON.stringify(s)}`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

export function parseLogFlags(flags: string[]): WitnessLogConfig[] {
  const byOrigin = new Map<string, string[]>();
  for (const f of flags) {
    // Both the origin and a key name may contain '=': split at the first '=' after which a
    // valid note verifier key follows.
    let origin: string | undefined;
    let vkey = '';
    for (let i = f.indexOf('='); i > 0; i = f.indexOf('=', i + 1)) {
      try {
        parseVerifierKey(f.slice(i + 1));
        origin = f.slice(0, i);
        vkey = f.slice(i + 1);
        break;
      } catch {
        // try the next '='
      }
    }
    if (origin === undefined) throw new UserError(`--log must be ORIGIN=VERIFIERKEY, got ${JSON.stringify(f)}`);
    const keys = byOrigin.get(origin) ?? [];
    keys.push(vkey);
    byOrigin.set(origin, keys);
  }
  return [...byOrigin].map(([origin, verifierKeys]) => ({ origin, verifierKeys }));
}

export async function witnessCommand(args: string[]): Promise<void> {
  const options = {
    listen: { type: 'string', default: '127.0.0.1:7380' },
    dir: { type: 'string' },
    log: { type: 'string', multiple: true },
    name: { type: 'string', default: 'helios-witness' },
    help: { type: 'boolean', short: 'h' },
  } as const;
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: false });
  } catch (err) {
    throw new UserError(`${(err as Error).message}\n${USAGE}`);
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (!values.dir) throw new UserError(`--dir is required\n${USAGE}`);
  const logs = parseLogFlags(values.log ?? []);
  if (logs.length === 0) throw new UserError(`at least one --log ORIGIN=VERIFIERKEY is required\n${USAGE}`);
  const key = loadOrCreateCosignerKey(values.dir, values.name!);
  const w = await startWitness({ dir: values.dir, listen: parseListen(values.listen!), cosignerKey: key.signerKey, logs });
  process.stderr.write(`witness: ${key.created ? 'generated a new cosigner key; ' : ''}listening on ${w.url}, witnessing ${logs.map((l) => l.origin).join(', ')}\n`);
  process.stdout.write(`${w.verifierKey}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void w.close().then(resolve, resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
