import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openCheckpoint } from './checkpoint.ts';
import { CheckpointRefusedError, CheckpointSigner, KeyStoreError } from './signer.ts';

const ORIGIN = 'helios.example/ledger';
const h = (s: string) => createHash('sha256').update(s).digest();
const always = () => true;
const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'ckpt-'));
  dirs.push(d);
  return join(d, 'keys');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CheckpointRefusedError);
    return (err as CheckpointRefusedError).reason;
  }
  throw new Error('expected a refusal');
}

describe('CheckpointSigner', () => {
  it('creates a 0600 key named after the origin and signs verifiable checkpoints', () => {
    const dir = tmp();
    const s = CheckpointSigner.open(dir, ORIGIN);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of ['signer.key', 'state.json']) expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'signer.key'), 'utf8')).toMatch(/^PRIVATE\+KEY\+helios\.example\/ledger\+[0-9a-f]{8}\+/);
    expect(s.lastSigned).toBeUndefined();
    const note = s.sign(3, h('3'), always);
    const { checkpoint } = openCheckpoint(note, s.verifiers(), { origin: ORIGIN });
    expect(checkpoint.size).toBe(3);
    expect(checkpoint.root.equals(h('3'))).toBe(true);
    expect(s.lastSigned).toEqual({ size: 3, root: h('3') });
  });

  it('refuses rollback, split views and inconsistent growth; re-signing the same head is fine', () => {
    const s = CheckpointSigner.open(tmp(), ORIGIN);
    s.sign(10, h('10'), always);
    expect(refusal(() => s.sign(9, h('9'), always))).toBe('rollback');
    expect(refusal(() => s.sign(10, h('other'), always))).toBe('split-view');
    const calls: unknown[] = [];
    expect(
      refusal(() =>
        s.sign(11, h('11'), (...args) => {
          calls.push(args);
          return false;
        }),
      ),
    ).toBe('inconsistent');
    expect(calls).toEqual([[10, h('10'), 11, h('11')]]);
    expect(s.lastSigned).toEqual({ size: 10, root: h('10') });
    expect(() => s.sign(10, h('10'), () => false)).not.toThrow(); // same head: no proof needed
    s.sign(12, h('12'), always);
    expect(s.lastSigned?.size).toBe(12);
  });

  it('does not sign or record anything when the consistency check throws', () => {
    const s = CheckpointSigner.open(tmp(), ORIGIN);
    s.sign(1, h('1'), always);
    expect(() =>
      s.sign(2, h('2'), () => {
        throw new Error('proof unavailable');
      }),
    ).toThrow('proof unavailable');
    expect(s.lastSigned?.size).toBe(1);
  });

  it('keeps the guarantee across re-instantiation and across instances', () => {
    const dir = tmp();
    const a = CheckpointSigner.open(dir, ORIGIN);
    a.sign(5, h('5'), always);
    const b = CheckpointSigner.open(dir, ORIGIN);
    expect(b.lastSigned).toEqual({ size: 5, root: h('5') });
    expect(b.verifierKey).toBe(a.verifierKey);
    expect(refusal(() => b.sign(5, h('x'), always))).toBe('split-view');
    expect(refusal(() => b.sign(4, h('4'), always))).toBe('rollback');
    b.sign(6, h('6'), always);
    // a loaded earlier but must see b's checkpoint.
    expect(refusal(() => a.sign(6, h('y'), always))).toBe('split-view');
    expect(openCheckpoint(a.lastCheckpoint!, a.verifiers()).checkpoint.size).toBe(6);
  });

  it('rotates keys and keeps old checkpoints verifiable, also after a restart', () => {
    const dir = tmp();
    const s = CheckpointSigner.open(dir, ORIGIN);
    const oldNote = s.sign(1, h('1'), always);
    const oldKey = s.verifierKey;
    const newKey = s.rotate();
    expect(newKey).not.toBe(oldKey);
    expect(s.verifierKeys).toEqual([newKey, oldKey]);
    expect(statSync(join(dir, 'previous.vkeys')).mode & 0o777).toBe(0o600);
    const newNote = s.sign(2, h('2'), always);
    expect(openCheckpoint(newNote, s.verifiers()).note.sigs[0]!.keyHash).not.toBe(openCheckpoint(oldNote, s.verifiers()).note.sigs[0]!.keyHash);
    // Rotation does not reset the split-view guard.
    expect(refusal(() => s.sign(1, h('1'), always))).toBe('rollback');

    const again = CheckpointSigner.open(dir, ORIGIN);
    expect(again.verifierKeys).toEqual([newKey, oldKey]);
    expect(openCheckpoint(oldNote, again.verifiers()).checkpoint.size).toBe(1);
    expect(again.lastSigned?.size).toBe(2);
    again.rotate();
    expect(CheckpointSigner.open(dir, ORIGIN).verifierKeys).toHaveLength(3);
    expect(openCheckpoint(oldNote, again.verifiers()).checkpoint.size).toBe(1);
  });

  it('refuses to run with lost, corrupt or foreign state, or a readable key', () => {
    const dir = tmp();
    const s = CheckpointSigner.open(dir, ORIGIN);
    s.sign(1, h('1'), always);
    const state = readFileSync(join(dir, 'state.json'), 'utf8');

    rmSync(join(dir, 'state.json'));
    expect(() => CheckpointSigner.open(dir, ORIGIN)).toThrow(KeyStoreError);

    writeFileSync(join(dir, 'state.json'), state.replace('\\n1\\n', '\\n0\\n'), { mode: 0o600 });
    expect(() => CheckpointSigner.open(dir, ORIGIN)).toThrow(KeyStoreError); // signature no longer verifies

    writeFileSync(join(dir, 'state.json'), state, { mode: 0o600 });
    expect(() => CheckpointSigner.open(dir, 'other.example/log', { keyName: ORIGIN })).toThrow(KeyStoreError); // origin mismatch
    expect(() => CheckpointSigner.open(dir, 'other.example/log')).toThrow(KeyStoreError); // key name mismatch

    chmodSync(join(dir, 'signer.key'), 0o644);
    expect(() => CheckpointSigner.open(dir, ORIGIN)).toThrow(KeyStoreError);
    chmodSync(join(dir, 'signer.key'), 0o600);
    expect(CheckpointSigner.open(dir, ORIGIN).lastSigned?.size).toBe(1);

    rmSync(join(dir, 'signer.key'));
    expect(() => CheckpointSigner.open(dir, ORIGIN)).toThrow(KeyStoreError); // won't silently make a new key
  });

  it('validates its inputs', () => {
    const s = CheckpointSigner.open(tmp(), ORIGIN);
    expect(() => s.sign(-1, h('1'), always)).toThrow(TypeError);
    expect(() => s.sign(1, h('1').subarray(1), always)).toThrow(TypeError);
    expect(s.lastSigned).toBeUndefined();
  });
});
