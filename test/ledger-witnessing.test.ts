// The sidecar's checkpoints go to its configured witnesses (c2sp.org/tlog-witness): each
// checkpoint carries the cosignatures that came back and is final at k of n; a witness that was
// down is asked again and catches up from the size it last cosigned; verification checks the
// cosignatures, and the export carries them to the offline verifier.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerRoutes } from '../src/api/ledger.ts';
import { migrate } from '../src/control-schema.ts';
import { startHttpServer, type HttpServer } from '../src/http.ts';
import { CheckpointSigner, generateCosignerKey } from '../src/ledger/checkpoint/index.ts';
import { LedgerService } from '../src/ledger/service.ts';
import { startWitness, type WitnessHandle } from '../src/ledger/witness/server.ts';
import { useFreshDatabase } from './harness/db.ts';
import { testPg } from './harness/pg.ts';

const fx = useFreshDatabase('ledger_witnessing');
const dir = mkdtempSync(join(tmpdir(), 'helios-ledger-witnessing-'));
const ORIGIN = 'heliosdb.test/ledger-witnessing';
const VERIFIER = fileURLToPath(new URL('../src/ledger/offline-verifier.mjs', import.meta.url));
const control = () => ({ target: { host: testPg.host, port: testPg.port, sslmode: 'disable' as const }, user: testPg.user, password: testPg.password, database: fx.db.name });

const cosignerKeys = [0, 1, 2, 3].map((i) => generateCosignerKey(`w${i}.heliosdb.test`));
const witnesses: (WitnessHandle | undefined)[] = [];
const ports: number[] = [];
let logKeys: string[];
let ledger: LedgerService;
let http: HttpServer;

async function startW(i: number): Promise<void> {
  witnesses[i] = await startWitness({
    dir: join(dir, `w${i}`),
    cosignerKey: cosignerKeys[i]!.signerKey,
    logs: [{ origin: ORIGIN, verifierKeys: logKeys }],
    listen: { host: '127.0.0.1', port: ports[i] ?? 0 },
    log: () => {},
  });
  ports[i] = Number(new URL(witnesses[i]!.url).port);
}

async function stopW(i: number): Promise<void> {
  await witnesses[i]?.close();
  witnesses[i] = undefined;
}

async function stored(): Promise<{ size: number; cosigners: number; final: boolean; note: string }> {
  const { rows } = await fx.client.query('SELECT size, cosigners, final, note FROM helios.ledger_checkpoints ORDER BY size DESC LIMIT 1');
  return { size: Number(rows[0].size), cosigners: rows[0].cosigners, final: rows[0].final, note: rows[0].note };
}

const grow = (n = 3) => {
  for (let i = 0; i < n; i++) ledger.record('action', { action: 'test', i });
};

beforeAll(async () => {
  await migrate(fx.client);
  // The log's key exists before the witnesses start: they are configured with it.
  logKeys = [CheckpointSigner.open(join(dir, 'keys'), ORIGIN).verifierKey];
  for (let i = 0; i < 4; i++) await startW(i);
  ledger = new LedgerService({
    control, registry: new Registry(), log: () => {}, keyDir: join(dir, 'keys'), origin: ORIGIN, checkpointMs: 3_600_000,
    witnesses: witnesses.map((w) => ({ url: w!.url, verifierKey: w!.verifierKey })),
  });
  ledger.start();
  http = await startHttpServer({ host: '127.0.0.1', port: 0, registry: new Registry(), readiness: async () => ({ ready: true, checks: {} }), api: ledgerRoutes(() => ledger) });
});

afterAll(async () => {
  await http?.close();
  await ledger?.close();
  for (let i = 0; i < 4; i++) await stopW(i);
  rmSync(dir, { recursive: true, force: true });
});

const api = async (path: string) => {
  const res = await fetch(`${http.url}${path}`);
  return { status: res.status, body: (await res.json()) as any };
};

describe('checkpoints and witnesses in the sidecar', () => {
  it('sends each checkpoint to every witness and stores it with their cosignatures: final at 3 of 4', async () => {
    grow();
    const cp = await ledger.checkpoint();
    const s = await stored();
    expect(s.size).toBe(cp!.size);
    expect([s.cosigners, s.final]).toEqual([4, true]);
    for (const k of cosignerKeys) expect(s.note).toContain(`\u2014 ${k.verifierKey.split('+')[0]} `);
    const v = await api('/api/v1/ledger/verify');
    expect(v.body.ok).toBe(true);
    expect(v.body.witnesses).toMatchObject({ k: 3, n: 4, final: true, invalid: [] });
    expect(v.body.witnesses.cosigned).toHaveLength(4);
  });

  it('one witness down does not block finality; two down do, until one is back and catches up', async () => {
    await stopW(3);
    grow();
    await ledger.checkpoint();
    expect(await stored()).toMatchObject({ cosigners: 3, final: true });

    await stopW(2);
    grow();
    const cp = await ledger.checkpoint();
    expect(await stored()).toMatchObject({ size: cp!.size, cosigners: 2, final: false });
    expect((await api('/api/v1/ledger/verify')).body.witnesses).toMatchObject({ final: false });

    // Back with its state: it last cosigned two checkpoints ago and is brought forward with a
    // consistency proof from there. Nothing new was logged, so the same checkpoint is offered again.
    await startW(2);
    expect(await ledger.checkpoint()).toBeNull();
    expect(await stored()).toMatchObject({ size: cp!.size, cosigners: 3, final: true });
    await startW(3);
  });

  it('verification fails on a cosignature altered in the stored checkpoint', async () => {
    const s = await stored();
    const name = cosignerKeys[0]!.verifierKey.split('+')[0]!;
    const lines = s.note.split('\n');
    const i = lines.findIndex((l) => l.startsWith(`\u2014 ${name} `));
    const sig = Buffer.from(lines[i]!.slice(name.length + 3), 'base64');
    sig[sig.length - 1]! ^= 1;
    lines[i] = `\u2014 ${name} ${sig.toString('base64')}`;
    await fx.client.query('UPDATE helios.ledger_checkpoints SET note = $2 WHERE size = $1', [s.size, lines.join('\n')]);
    try {
      const v = await api('/api/v1/ledger/verify');
      expect(v.body.ok).toBe(false);
      expect(v.body.witnesses.invalid).toEqual([name]);
    } finally {
      await fx.client.query('UPDATE helios.ledger_checkpoints SET note = $2 WHERE size = $1', [s.size, s.note]);
    }
  });

  it('exports the log with its witnessed checkpoint; the offline verifier checks the quorum alone', async () => {
    grow();
    await ledger.checkpoint();
    const res = await fetch(`${http.url}/api/v1/ledger/export`);
    expect(res.status).toBe(200);
    const file = join(dir, 'export.txt');
    const text = await res.text();
    const header = JSON.parse(text.slice(0, text.indexOf('\n')));
    expect(header.witnessVerifierKeys).toHaveLength(4);
    expect(header.checkpoints.length).toBeGreaterThanOrEqual(1);
    await import('node:fs/promises').then((fs) => fs.writeFile(file, text));
    const run = (...args: string[]) =>
      new Promise<{ code: number; out: string }>((resolve) =>
        execFile(process.execPath, [VERIFIER, ...args], { timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, out: `${stdout}${stderr}` })),
      );
    const ok = await run(file, '--witness-quorum', '3');
    expect(ok.out).toMatch(/^OK/);
    expect(ok.code).toBe(0);
    const tooMany = await run(file, '--witness-quorum', '5');
    expect(tooMany.code).toBe(1);
  });

  it('rotates the signing key: witnesses refuse the new key until given it, then catch up; old checkpoints still verify', async () => {
    const res = await fetch(`${http.url}/api/v1/ledger/rotate-key`, { method: 'POST' });
    expect(res.status).toBe(200);
    const { previous, verifierKey } = (await res.json()) as { previous: string; verifierKey: string };
    expect(previous).toBe(logKeys[0]);
    expect(verifierKey).not.toBe(previous);
    grow();
    const cp = await ledger.checkpoint();
    expect(await stored()).toMatchObject({ size: cp!.size, cosigners: 0, final: false });
    logKeys = [previous, verifierKey];
    for (let i = 0; i < 4; i++) {
      await stopW(i);
      await startW(i);
    }
    expect(await ledger.checkpoint()).toBeNull();
    expect(await stored()).toMatchObject({ size: cp!.size, cosigners: 4, final: true });
    const v = await api('/api/v1/ledger/verify');
    expect(v.body.ok).toBe(true);
    const actions = await fx.client.query("SELECT convert_from(substring(leaf FROM 10), 'UTF8')::jsonb AS e FROM helios.ledger_entries WHERE kind = 'action'");
    expect(actions.rows.map((r) => r.e).filter((e) => e.action === 'signing_key_rotated')).toEqual([expect.objectContaining({ previous, verifierKey })]);
  });
});
