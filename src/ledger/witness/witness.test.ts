import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateCosignerKey, generateKey, openNote, parseCosignatureVerifierKey, parseVerifierKey, signCheckpoint, parseSignerKey, verifyCosignature } from '../checkpoint/index.ts';
import { addCheckpoint, collectCosignatures, quorum, type WitnessEndpoint } from './client.ts';
import { startWitness, type WitnessAlert, type WitnessHandle } from './server.ts';
import { noteText, type Evidence } from './state.ts';
import { TestLog } from './testlog.ts';

const ORIGIN = 'example.com/helios-ledger';

let root: string;
let log: TestLog;
let witnesses: WitnessHandle[];
let keys: string[];
let alerts: WitnessAlert[][];

async function start(i: number): Promise<WitnessHandle> {
  const w = await startWitness({
    dir: join(root, `w${i}`),
    cosignerKey: keys[i]!,
    logs: [{ origin: ORIGIN, verifierKeys: [log.verifierKey] }],
    onAlert: (a) => alerts[i]!.push(a),
    log: () => {},
  });
  witnesses[i] = w;
  return w;
}

function endpoints(): WitnessEndpoint[] {
  return witnesses.map((w) => ({ url: w.url, verifierKey: w.verifierKey }));
}

async function post(url: string, body: string | Buffer, method = 'POST', path = '/add-checkpoint'): Promise<{ status: number; type: string; body: string }> {
  const res = await request(`${url}${path}`, { method: method as 'POST', body: method === 'GET' ? undefined : body });
  return { status: res.statusCode, type: String(res.headers['content-type'] ?? ''), body: await res.body.text() };
}

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'witness-'));
  log = TestLog.open(join(root, 'log'), ORIGIN);
  keys = [0, 1, 2, 3].map((i) => generateCosignerKey(`witness-${i}.example`).signerKey);
  alerts = [[], [], [], []];
  witnesses = [];
  for (let i = 0; i < 4; i++) await start(i);
});

afterEach(async () => {
  await Promise.allSettled(witnesses.map((w) => w.close()));
  rmSync(root, { recursive: true, force: true });
});

describe('quorum', () => {
  it('is the smallest k above 2n/3 (2f+1 for n = 3f+1)', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 10, 13].map(quorum)).toEqual([1, 2, 3, 3, 4, 5, 5, 7, 9]);
    for (let f = 0; f < 20; f++) expect(quorum(3 * f + 1)).toBe(2 * f + 1);
    expect(() => quorum(0)).toThrow(RangeError);
  });
});

describe('witness network', () => {
  it('cosigns a growing log with 4 witnesses; every cosignature verifies', async () => {
    const cosigVerifiers = witnesses.map((w) => parseCosignatureVerifierKey(w.verifierKey));
    for (const grow of [1, 6, 57]) {
      log.append(grow);
      const s = await log.sign();
      const r = await collectCosignatures({ witnesses: endpoints(), note: s.note, checkpoint: s.checkpoint, proofFor: s.proofFor });
      expect(r).toMatchObject({ final: true, k: 3, n: 4, cosigned: 4 });
      for (const [i, o] of r.outcomes.entries()) {
        expect(o.ok).toBe(true);
        expect(verifyCosignature(noteText(s.note), o.cosignature!, cosigVerifiers[i]!).timestamp).toBe(o.timestamp);
        expect(witnesses[i]!.state.get(ORIGIN)?.size).toBe(s.checkpoint.size);
      }
      // The note with cosignatures appended opens with the log key plus the witness keys.
      const opened = openNote(r.note, [parseVerifierKey(log.verifierKey), ...cosigVerifiers]);
      expect(opened.sigs).toHaveLength(5);
    }
    // A cosignature does not verify for another checkpoint or another witness's key.
    log.append(1);
    const s = await log.sign();
    const r = await collectCosignatures({ witnesses: endpoints(), note: s.note, checkpoint: s.checkpoint, proofFor: s.proofFor });
    expect(() => verifyCosignature(noteText(s.note), r.outcomes[0]!.cosignature!, cosigVerifiers[1]!)).toThrow();
    log.append(1);
    const s2 = await log.sign();
    expect(() => verifyCosignature(noteText(s2.note), r.outcomes[0]!.cosignature!, cosigVerifiers[0]!)).toThrow();
  });

  it('reaches finality with 3 of 4 when one witness is offline, not with k = 4', async () => {
    log.append(5);
    let s = await log.sign();
    expect((await collectCosignatures({ witnesses: endpoints(), note: s.note, checkpoint: s.checkpoint, proofFor: s.proofFor })).final).toBe(true);
    await witnesses[2]!.close();
    log.append(7);
    s = await log.sign();
    const r = await collectCosignatures({ witnesses: endpoints(), note: s.note, checkpoint: s.checkpoint, proofFor: s.proofFor, timeoutMs: 2000 });
    expect(r).toMatchObject({ final: true, cosigned: 3, k: 3 });
    expect(r.outcomes[2]).toMatchObject({ ok: false, status: 0 });
    const strict = await collectCosignatures({ witnesses: endpoints(), note: s.note, checkpoint: s.checkpoint, proofFor: s.proofFor, k: 4, timeoutMs: 2000 });
    expect(strict).toMatchObject({ final: false, cosigned: 3 });
    // Two offline: 2 of 4 is not final.
    await witnesses[3]!.close();
    log.append(1);
    s = await log.sign();
    const two = await collectCosignatures({ witnesses: endpoints(), note: s.note, checkpoint: s.checkpoint, proofFor: s.proofFor, timeoutMs: 2000 });
    expect(two).toMatchObject({ final: false, cosigned: 2 });
  });

  it('a 409 is retried once with the witness size and a fresh proof', async () => {
    log.append(10);
    const s1 = await log.sign();
    // Only witness 0 sees size 10.
    expect(await addCheckpoint(witnesses[0]!.url, { oldSize: 0, proof: [], note: s1.note })).toMatchObject({ ok: true });
    log.append(13);
    const s2 = await log.sign();
    const direct = await addCheckpoint(witnesses[0]!.url, { oldSize: 0, proof: [], note: s2.note });
    expect(direct).toEqual({ ok: false, status: 409, latestSize: 10, error: expect.any(String) });
    const asked: number[] = [];
    const r = await collectCosignatures({
      witnesses: endpoints(),
      note: s2.note,
      checkpoint: s2.checkpoint,
      proofFor: (old) => {
        asked.push(old);
        return s2.proofFor(old);
      },
    });
    expect(r).toMatchObject({ final: true, cosigned: 4 });
    expect(asked).toEqual([10]);
  });
});

describe('split views and bad proofs', () => {
  it('refuses a fork at the same size, keeps the evidence and alerts', async () => {
    log.append(8);
    const s = await log.sign();
    const w = witnesses[1]!;
    expect(await addCheckpoint(w.url, { oldSize: 0, proof: [], note: s.note })).toMatchObject({ ok: true });
    // The log (same key) signs another root for size 8.
    const fork = log.signRaw(8, Buffer.alloc(32, 7));
    const res = await addCheckpoint(w.url, { oldSize: 8, proof: [], note: fork });
    expect(res).toMatchObject({ ok: false, status: 409 });
    expect(res.ok === false && res.latestSize).toBeFalsy();
    expect(alerts[1]).toHaveLength(1);
    const a = alerts[1]![0]!;
    expect(a.kind).toBe('split-view');
    const ev = JSON.parse(readFileSync(a.evidencePath, 'utf8')) as Evidence;
    expect(ev.conflicting.note).toBe(fork);
    expect(ev.cosigned.note).toBe(s.note);
    expect(ev.cosigned.size).toBe(8);
    expect(w.state.evidenceFiles()).toEqual([a.evidencePath]);
    // With a stale old size it still answers 409 with its size, and the same evidence is not duplicated.
    const stale = await addCheckpoint(w.url, { oldSize: 0, proof: [], note: fork });
    expect(stale).toMatchObject({ ok: false, status: 409, latestSize: 8 });
    expect(alerts[1]).toHaveLength(1);
    expect(w.state.evidenceFiles()).toHaveLength(1);
    // State is untouched: the honest log keeps going.
    expect(w.state.get(ORIGIN)?.root.equals(s.checkpoint.root)).toBe(true);
    log.append(3);
    const s2 = await log.sign();
    expect(await addCheckpoint(w.url, { oldSize: 8, proof: await s2.proofFor(8), note: s2.note })).toMatchObject({ ok: true });
    // The other witnesses saw nothing.
    expect(alerts[0]).toHaveLength(0);
  });

  it('answers 422 to a proof that does not verify, keeps it as evidence and never cosigns', async () => {
    log.append(6);
    const s = await log.sign();
    const w = witnesses[2]!;
    expect(await addCheckpoint(w.url, { oldSize: 0, proof: [], note: s.note })).toMatchObject({ ok: true });
    // A forked history: a different tree of 9 leaves, signed with the log key.
    const forkLog = TestLog.open(join(root, 'forklog'), ORIGIN);
    forkLog.append(9, 'other');
    const forkRoot = forkLog.frontier.root();
    const fork = log.signRaw(9, forkRoot);
    // The honest proof 6 -> 9 doesn't lead to the fork's root; the fork's own proof doesn't start at our root.
    log.append(3);
    const honest = await log.sign();
    for (const proof of [await honest.proofFor(6), await forkLog.sign().then((f) => f.proofFor(6))]) {
      const res = await addCheckpoint(w.url, { oldSize: 6, proof, note: fork });
      expect(res).toMatchObject({ ok: false, status: 422 });
    }
    // A garbage proof of the right length for the honest checkpoint is 422 too.
    const good = await honest.proofFor(6);
    const bad = good.map((p, i) => (i === 0 ? Buffer.alloc(32, 1) : p));
    expect(await addCheckpoint(w.url, { oldSize: 6, proof: bad, note: honest.note })).toMatchObject({ ok: false, status: 422 });
    // Proof lines with old size 0 are not allowed.
    expect(await addCheckpoint(w.url, { oldSize: 0, proof: good, note: honest.note })).toMatchObject({ ok: false, status: 409 });
    // One evidence file (and alert) per distinct conflicting checkpoint: the fork, the honest one.
    expect(alerts[2]!.map((a) => a.kind)).toEqual(['inconsistent-proof', 'inconsistent-proof']);
    expect(w.state.evidenceFiles()).toHaveLength(2);
    const ev = JSON.parse(readFileSync(alerts[2]![0]!.evidencePath, 'utf8')) as Evidence;
    expect(ev).toMatchObject({ kind: 'inconsistent-proof', origin: ORIGIN, cosigned: { size: 6 }, conflicting: { oldSize: 6, size: 9, note: fork } });
    expect(w.state.get(ORIGIN)?.size).toBe(6);
    // The honest checkpoint with its real proof is cosigned.
    expect(await addCheckpoint(w.url, { oldSize: 6, proof: good, note: honest.note })).toMatchObject({ ok: true });
  });

  it('rejects a non-empty proof when old is 0 (fresh witness)', async () => {
    log.append(4);
    const s1 = await log.sign();
    log.append(4);
    const s2 = await log.sign();
    expect(await addCheckpoint(witnesses[3]!.url, { oldSize: 0, proof: await s2.proofFor(4), note: s2.note })).toMatchObject({ ok: false, status: 422 });
    expect(witnesses[3]!.state.get(ORIGIN)).toBeUndefined();
    void s1;
  });
});

describe('restart', () => {
  it('keeps its state across restarts: 409 with its size for stale old, never a rollback', async () => {
    log.append(3);
    const s3 = await log.sign();
    log.append(9);
    const s12 = await log.sign();
    const w0 = witnesses[0]!;
    expect(await addCheckpoint(w0.url, { oldSize: 0, proof: [], note: s12.note })).toMatchObject({ ok: true });
    await w0.close();
    const w = await start(0);
    expect(w.state.get(ORIGIN)?.size).toBe(12);
    expect(w.state.get(ORIGIN)?.note).toBe(s12.note);
    // Stale old size: 409 text/x.tlog.size with 12.
    const raw = await post(w.url, `old 0\n\n${s12.note}`);
    expect(raw).toEqual({ status: 409, type: 'text/x.tlog.size', body: '12\n' });
    // An older (smaller) checkpoint is never cosigned: 409 whatever old it claims, 400 if old > size.
    expect(await addCheckpoint(w.url, { oldSize: 0, proof: [], note: s3.note })).toMatchObject({ ok: false, status: 409, latestSize: 12 });
    expect(await addCheckpoint(w.url, { oldSize: 12, proof: [], note: s3.note })).toMatchObject({ ok: false, status: 400 });
    // Same size and root is idempotent.
    const again = await addCheckpoint(w.url, { oldSize: 12, proof: [], note: s12.note });
    expect(again.ok).toBe(true);
    verifyCosignature(noteText(s12.note), (again as { cosignature: string }).cosignature, parseCosignatureVerifierKey(w.verifierKey));
    // It keeps growing from 12 after the restart.
    log.append(20);
    const s32 = await log.sign();
    expect(await addCheckpoint(w.url, { oldSize: 12, proof: await s32.proofFor(12), note: s32.note })).toMatchObject({ ok: true });
    await w.close();
    const w2 = await start(0);
    expect(w2.state.get(ORIGIN)?.size).toBe(32);
  });
});

describe('malformed and unauthorized requests', () => {
  it('answers 4xx and keeps serving', async () => {
    log.append(2);
    const s = await log.sign();
    const w = witnesses[0]!;
    const other = generateKey(ORIGIN); // same name, different key: an unknown key
    const forged = signCheckpoint({ origin: ORIGIN, size: 2, root: s.checkpoint.root }, [parseSignerKey(other.signerKey)]);
    const tampered = s.note.replace(/ ([A-Za-z0-9+/]{10})/, (_m, g: string) => ` ${g.split('').reverse().join('')}`);
    const unknownOrigin = signCheckpoint({ origin: 'example.org/other', size: 2, root: s.checkpoint.root }, [parseSignerKey(generateKey('example.org/other').signerKey)]);
    const h = s.checkpoint.root.toString('base64');
    const cases: [string, string | Buffer, number][] = [
      ['empty body', '', 400],
      ['no newline', 'old 0', 400],
      ['leading zero', `old 00\n\n${s.note}`, 400],
      ['negative', `old -1\n\n${s.note}`, 400],
      ['not old', `new 0\n\n${s.note}`, 400],
      ['double space', `old  0\n\n${s.note}`, 400],
      ['huge old', `old 99999999999999999999\n\n${s.note}`, 400],
      ['bad base64 proof', `old 0\nnot base64!\n\n${s.note}`, 400],
      ['short hash', `old 0\n${Buffer.alloc(31).toString('base64')}\n\n${s.note}`, 400],
      ['64 proof lines', `old 0\n${`${h}\n`.repeat(64)}\n${s.note}`, 400],
      ['no blank line', `old 0\n${s.note}`, 400],
      ['no checkpoint', 'old 0\n\n', 400],
      ['unsigned note', `old 0\n\n${noteText(s.note)}`, 400],
      ['garbage note', `old 0\n\n${ORIGIN}\nxx\n\n\u2014 a b\n`, 400],
      ['invalid utf-8', Buffer.concat([Buffer.from(`old 0\n\n${ORIGIN}\n2\n`), Buffer.from([0xff, 0xfe, 0x0a, 0x0a])]), 400],
      ['crlf', `old 0\r\n\r\n${s.note}`, 400],
      ['old > size', `old 3\n\n${s.note}`, 400],
      ['unknown origin', `old 0\n\n${unknownOrigin}`, 404],
      ['unknown key', `old 0\n\n${forged}`, 403],
      ['bad signature', `old 0\n\n${tampered}`, 403],
      ['too large', Buffer.alloc(2 << 20, 0x41), 413],
    ];
    expect(tampered).not.toBe(s.note);
    for (const [name, body, status] of cases) {
      const r = await post(w.url, body);
      expect({ name, status: r.status }).toEqual({ name, status });
    }
    expect((await post(w.url, '', 'GET')).status).toBe(405);
    expect((await post(w.url, `old 0\n\n${s.note}`, 'POST', '/add-checkpoint/x')).status).toBe(404);
    expect((await post(w.url, `old 0\n\n${s.note}`, 'POST', '/')).status).toBe(404);
    // Raw protocol garbage on the socket.
    const url = new URL(w.url);
    await new Promise<void>((resolve) => {
      const sock = connect(Number(url.port), url.hostname, () => sock.end('\x00\x01 NOT HTTP\r\n\r\n'));
      sock.on('data', () => {});
      sock.on('close', () => resolve());
      sock.on('error', () => resolve());
    });
    expect(w.state.get(ORIGIN)).toBeUndefined();
    expect(alerts[0]).toHaveLength(0);
    // Still serving.
    const ok = await post(w.url, `old 0\n\n${s.note}`);
    expect(ok.status).toBe(200);
    expect(ok.body.startsWith('\u2014 witness-0.example ')).toBe(true);
    expect(ok.body.endsWith('\n')).toBe(true);
  });

  it('has a log signature from a second trusted key (key rotation) accepted', async () => {
    log.append(2);
    const s1 = await log.sign();
    const oldKey = log.verifierKey;
    log.signer.rotate();
    log.append(2);
    const s2 = await log.sign();
    const w = witnesses[0]!;
    await w.close();
    const w2 = await startWitness({ dir: join(root, 'rot'), cosignerKey: keys[0]!, logs: [{ origin: ORIGIN, verifierKeys: [oldKey, log.verifierKey] }], log: () => {} });
    witnesses[0] = w2;
    expect(await addCheckpoint(w2.url, { oldSize: 0, proof: [], note: s1.note })).toMatchObject({ ok: true });
    expect(await addCheckpoint(w2.url, { oldSize: 2, proof: await s2.proofFor(2), note: s2.note })).toMatchObject({ ok: true });
  });
});
