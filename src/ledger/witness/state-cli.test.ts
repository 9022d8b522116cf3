import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateCosignerKey, generateKey, parseCosignatureVerifierKey, verifyCosignature } from '../checkpoint/index.ts';
import { addCheckpoint } from './client.ts';
import { COSIGNER_KEY_FILE, loadOrCreateCosignerKey, parseLogFlags } from './cli.ts';
import { startWitness } from './server.ts';
import { WitnessState, noteText, type Evidence } from './state.ts';
import { TestLog } from './testlog.ts';

const ORIGIN = 'example.com/log=with=equals';
let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'witness-sc-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('WitnessState', () => {
  it('persists per-log state atomically and reloads it; rejects a tampered file', async () => {
    const log = TestLog.open(join(root, 'log'), ORIGIN);
    log.append(5);
    const s = await log.sign();
    const dir = join(root, 'w');
    const st = WitnessState.open(dir);
    expect(st.get(ORIGIN)).toBeUndefined();
    st.put({ origin: ORIGIN, size: 5, root: s.checkpoint.root, note: s.note });
    const again = WitnessState.open(dir);
    expect(again.get(ORIGIN)).toEqual({ origin: ORIGIN, size: 5, root: s.checkpoint.root, note: s.note });
    const [file] = (await import('node:fs')).readdirSync(join(dir, 'logs'));
    expect(statSync(join(dir, 'logs', file!)).mode & 0o777).toBe(0o600);
    const data = JSON.parse(readFileSync(join(dir, 'logs', file!), 'utf8'));
    writeFileSync(join(dir, 'logs', file!), JSON.stringify({ ...data, size: 6 }));
    expect(() => WitnessState.open(dir)).toThrow(/do not match/);
  });

  it('stores each distinct piece of evidence once', () => {
    const st = WitnessState.open(join(root, 'w'));
    const ev = (note: string): Evidence => ({
      kind: 'split-view',
      origin: ORIGIN,
      detectedAt: new Date().toISOString(),
      cosigned: { size: 1, root: 'r', note: 'a' },
      conflicting: { oldSize: 1, size: 1, root: 'r2', proof: [], note },
      detail: 'x',
    });
    const a = st.recordEvidence(ev('n1'));
    expect(a.isNew).toBe(true);
    expect(st.recordEvidence(ev('n1'))).toEqual({ path: a.path, isNew: false });
    expect(st.recordEvidence(ev('n2')).isNew).toBe(true);
    expect(st.evidenceFiles()).toHaveLength(2);
  });
});

describe('server atomicity', () => {
  it('concurrent requests for one log never roll back: exactly one of two racing old=0 requests wins', async () => {
    const log = TestLog.open(join(root, 'log'), ORIGIN);
    log.append(10);
    const a = await log.sign();
    log.append(10);
    const b = await log.sign();
    const w = await startWitness({ dir: join(root, 'w'), cosignerKey: generateCosignerKey('w.example').signerKey, logs: [{ origin: ORIGIN, verifierKeys: [log.verifierKey] }], log: () => {} });
    try {
      const rs = await Promise.all([a, b, a, b, a, b].map((s) => addCheckpoint(w.url, { oldSize: 0, proof: [], note: s.note })));
      const size = w.state.get(ORIGIN)!.size;
      // Every success is for the stored size or a smaller one that was stored first and then
      // extended; a 409 always reports a size; the final state is one of the two.
      expect([10, 20]).toContain(size);
      const oks = rs.filter((r) => r.ok).length;
      expect(oks).toBeGreaterThanOrEqual(1);
      for (const r of rs) if (!r.ok) expect(r).toMatchObject({ status: 409, latestSize: expect.any(Number) });
      // After the race, old=size works and the stored size can only grow.
      if (size === 10) expect(await addCheckpoint(w.url, { oldSize: 10, proof: await b.proofFor(10), note: b.note })).toMatchObject({ ok: true });
      expect(w.state.get(ORIGIN)!.size).toBe(20);
      expect(await addCheckpoint(w.url, { oldSize: 20, proof: [], note: a.note })).toMatchObject({ ok: false, status: 400 });
    } finally {
      await w.close();
    }
  });
});

describe('cli', () => {
  it('generates the cosigner key once, 0600, and refuses a readable one', () => {
    const dir = join(root, 'w');
    const k1 = loadOrCreateCosignerKey(dir, 'w1.example');
    expect(k1.created).toBe(true);
    expect(statSync(join(dir, COSIGNER_KEY_FILE)).mode & 0o777).toBe(0o600);
    const k2 = loadOrCreateCosignerKey(dir, 'ignored');
    expect(k2).toEqual({ ...k1, created: false });
    expect(k1.verifierKey.startsWith('w1.example+')).toBe(true);
    chmodSync(join(dir, COSIGNER_KEY_FILE), 0o644);
    expect(() => loadOrCreateCosignerKey(dir, 'w1.example')).toThrow(/0600/);
  });

  it('parses --log ORIGIN=VKEY, grouping keys per origin, origins may contain =', () => {
    const k1 = generateKey(ORIGIN).verifierKey;
    const k2 = generateKey(ORIGIN).verifierKey;
    const k3 = generateKey('other').verifierKey;
    expect(parseLogFlags([`${ORIGIN}=${k1}`, `other=${k3}`, `${ORIGIN}=${k2}`])).toEqual([
      { origin: ORIGIN, verifierKeys: [k1, k2] },
      { origin: 'other', verifierKeys: [k3] },
    ]);
    expect(() => parseLogFlags(['nokey'])).toThrow(/ORIGIN=VERIFIERKEY/);
    expect(() => parseLogFlags([`${ORIGIN}=garbage`])).toThrow(/ORIGIN=VERIFIERKEY/);
  });

  it('helios witness serves, prints its verifier key and cosigns', async () => {
    const log = TestLog.open(join(root, 'log'), ORIGIN);
    log.append(3);
    const s = await log.sign();
    const dir = join(root, 'wdir');
    const bin = new URL('../../../bin/helios.js', import.meta.url).pathname;
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = spawn(process.execPath, [bin, 'witness', '--listen', `127.0.0.1:${port}`, '--dir', dir, '--log', `${ORIGIN}=${log.verifierKey}`, '--name', 'cli.example'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const vkey = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.trim());
        });
        child.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
      });
      expect(vkey).toBe(loadOrCreateCosignerKey(dir, 'x').verifierKey);
      expect(vkey.startsWith('cli.example+')).toBe(true);
      const r = await addCheckpoint(`http://127.0.0.1:${port}`, { oldSize: 0, proof: [], note: s.note });
      expect(r.ok).toBe(true);
      verifyCosignature(noteText(s.note), (r as { cosignature: string }).cosignature, parseCosignatureVerifierKey(vkey));
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('helios witness without --dir is a usage error', async () => {
    const bin = new URL('../../../bin/helios.js', import.meta.url).pathname;
    const child = spawn(process.execPath, [bin, 'witness', '--log', 'x'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).not.toBe(0);
    expect(err).toContain('--dir is required');
  });
});
