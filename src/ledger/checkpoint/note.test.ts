import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  NoteError,
  UnverifiedNoteError,
  generateKey,
  keyHash,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  type NoteVerifier,
} from './note.ts';

// Known-answer vectors copied from golang.org/x/mod/sumdb/note/note_test.go (TestSign, TestOpen,
// TestNewVerifier, TestNewSigner; https://github.com/golang/mod/blob/master/sumdb/note/note_test.go).
const peterSkey = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const peterKey = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const enochKey = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const peterSig = '\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const enochSig = '\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';
const peter = { name: 'PeterNeumann', keyHash: 0xc74f20a3, base64: 'x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=' };
const enoch = { name: 'EnochRoot', keyHash: 0xaf0cfe78, base64: 'rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=' };

// The example of the C2SP signed-note spec,
// https://github.com/C2SP/C2SP/blob/d4c16da5e7687a016619074e78dad84b2c7238cc/signed-note.md#example
const specKey = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
const specNote = 'This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';

// From transparency-dev/formats note/note_cosigv1_test.go: a type 0x01 key whose base64 contains '+'.
const plusKey = 'TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6';

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(NoteError);
    expect((err as NoteError).code).toBe(code);
    return;
  }
  throw new Error(`expected NoteError ${code}`);
}

describe('known answers', () => {
  it('signs the Go sumdb/note vector byte for byte (Ed25519 is deterministic)', () => {
    const signer = parseSignerKey(peterSkey);
    expect(signer.name).toBe('PeterNeumann');
    expect(signer.keyHash).toBe(0xc74f20a3);
    expect(signer.verifierKey).toBe(peterKey);
    expect(signNote(text, [signer])).toBe(`${text}\n${peterSig}`);
  });

  it('opens the Go vector with one known and one unknown key, then with both', () => {
    const n1 = openNote(`${text}\n${peterSig}${enochSig}`, [parseVerifierKey(peterKey)]);
    expect(n1).toEqual({ text, sigs: [peter], unverifiedSigs: [enoch] });
    const n2 = openNote(`${text}\n${peterSig}${enochSig}`, [parseVerifierKey(peterKey), parseVerifierKey(enochKey)]);
    expect(n2).toEqual({ text, sigs: [peter, enoch], unverifiedSigs: [] });
  });

  it('rejects a note with no known signer, keeping the parsed note on the error', () => {
    try {
      openNote(`${text}\n${peterSig}${enochSig}`, []);
      throw new Error('unreachable');
    } catch (err) {
      expect(err).toBeInstanceOf(UnverifiedNoteError);
      expect((err as UnverifiedNoteError).note.unverifiedSigs).toEqual([peter, enoch]);
    }
  });

  it('verifies the C2SP signed-note spec example', () => {
    const n = openNote(specNote, [parseVerifierKey(specKey)]);
    expect(n.text).toBe('This is an example message.\n');
    expect(n.sigs[0]!.keyHash).toBe(0x530d903a);
  });

  it('parses verifier keys whose base64 contains a plus', () => {
    expect(parseVerifierKey(plusKey).keyHash).toBe(0x7997405c);
  });

  it('computes key hashes as SHA-256(name || 0x0A || 0x01 || pubkey)[:4]', () => {
    const typeAndKey = Buffer.from(peterKey.split('+')[2]!, 'base64');
    expect(typeAndKey[0]).toBe(0x01);
    expect(keyHash('PeterNeumann', typeAndKey)).toBe(0xc74f20a3);
  });

  it('rejects every substring and every single-character increment of the keys (Go TestNewVerifier/TestNewSigner)', () => {
    for (const [key, parse] of [
      [peterKey, parseVerifierKey],
      [peterSkey, parseSignerKey],
    ] as const) {
      const b = Buffer.from(key);
      for (let i = 0; i <= b.length; i++) {
        for (let j = i + 1; j <= b.length; j++) {
          if (i === 0 && j === b.length) continue;
          expect(() => parse(b.subarray(i, j).toString('latin1')), `${i}:${j}`).toThrow(NoteError);
        }
      }
      for (let i = 0; i < b.length; i++) {
        const c = Buffer.from(b);
        c[i]!++;
        expect(() => parse(c.toString('latin1'))).toThrow(NoteError);
      }
    }
    // Wrong key length / unknown algorithm, each with an adjusted (correct) key hash.
    expectCode(() => parseVerifierKey('PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=='), 'malformed-key');
    expectCode(() => parseVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'), 'unknown-algorithm');
  });

  it('handles duplicates like Go: identical lines dropped, different unknown sigs kept', () => {
    const enochABCD = { ...enoch, base64: 'rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n' + 'ABCD' + '2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=' };
    const msg = `${text}\n${peterSig}${peterSig}${enochSig}${enochSig}${enochSig.slice(0, 58)}ABCD${enochSig.slice(58)}`;
    const n = openNote(msg, [parseVerifierKey(peterKey)]);
    expect(n.sigs).toEqual([peter]);
    expect(n.unverifiedSigs).toEqual([enoch, enochABCD]);
  });
});

describe('malformed notes and bad signatures', () => {
  const pv = parseVerifierKey(peterKey);
  it('rejects the Go TestOpen bad messages', () => {
    const bad = [
      text,
      `${text}\n`,
      `${text}\n${peterSig.slice(0, -1)}`,
      `\x01${text}\n${peterSig}`,
      `${text}\n\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`,
      `${text}\n${peterSig}Unexpected line.\n`,
      `${text}\n- PeterNeumann ${peter.base64}\n`, // ASCII hyphen instead of the em dash
      `${text}\n\u2014 PeterNeumann  ${peter.base64}\n`, // two spaces
      `${text}\n\u2014 PeterNeumann ${peter.base64.replace('=', '')}\n`, // missing padding
      `${text}\n\u2014 PeterNeumann ${peter.base64.slice(0, -2)}N=\n`, // non-canonical padding bits
      `${text}\n\u2014 PeterNeumann AAAAAA==\n`, // shorter than key ID + 1 byte
    ];
    for (const msg of bad) expectCode(() => openNote(msg, [pv]), 'malformed-note');
    expectCode(() => openNote(Buffer.concat([Buffer.from([0xff]), Buffer.from(`${text}\n${peterSig}`)]), [pv]), 'malformed-note');
  });

  it('rejects a signature that does not verify for a known key', () => {
    expectCode(() => openNote(`${text}\n${peterSig.slice(0, 58)}ABCD${peterSig.slice(58)}`, [pv]), 'invalid-signature');
  });

  it('rejects more than 100 signatures, accepts 100', () => {
    expectCode(() => openNote(`${text}\n${peterSig.repeat(101)}`, [pv]), 'malformed-note');
    expect(openNote(`${text}\n${peterSig.repeat(100)}`, [pv]).sigs).toEqual([peter]);
  });

  it('rejects over-long lines and notes', () => {
    const long = `${'x'.repeat(9000)}\n`;
    const n = signNote(long, [parseSignerKey(peterSkey)], { maxLineBytes: 10_000 });
    expectCode(() => openNote(n, [pv]), 'malformed-note');
    expect(openNote(n, [pv], { maxLineBytes: 10_000 }).text).toBe(long);
    expectCode(() => openNote(n, [pv], { maxLineBytes: 10_000, maxNoteBytes: 1000 }), 'malformed-note');
    expectCode(() => signNote(long, [parseSignerKey(peterSkey)]), 'malformed-note');
  });

  it('rejects ambiguous verifier lists', () => {
    expectCode(() => openNote(`${text}\n${enochSig}`, [parseVerifierKey(enochKey), pv, parseVerifierKey(enochKey)]), 'ambiguous-key');
  });

  it('requires a second, different signature by a known key to verify as well', () => {
    const forged: NoteVerifier = { name: 'PeterNeumann', keyHash: 0xc74f20a3, verify: (_m, s) => s[0] === 0x60 };
    const other = `\u2014 PeterNeumann ${Buffer.concat([Buffer.from('c74f20a3', 'hex'), Buffer.alloc(64, 0x61)]).toString('base64')}\n`;
    const good = `\u2014 PeterNeumann ${Buffer.concat([Buffer.from('c74f20a3', 'hex'), Buffer.alloc(64, 0x60)]).toString('base64')}\n`;
    expect(openNote(`${text}\n${good}`, [forged]).sigs).toHaveLength(1);
    expectCode(() => openNote(`${text}\n${good}${other}`, [forged]), 'invalid-signature');
  });

  it('signNote rejects text without trailing newline, control characters, bad signers', () => {
    const s = parseSignerKey(peterSkey);
    expectCode(() => signNote('abc', [s]), 'malformed-note');
    expectCode(() => signNote('a\tb\n', [s]), 'malformed-note');
    expectCode(() => signNote('a\ud800\n', [s]), 'malformed-note');
    expectCode(() => signNote(text, [{ ...s, name: 'bad name' }]), 'invalid-signer');
    expectCode(() => signNote(text, [s, s]), 'ambiguous-key');
    expectCode(() => signNote(text, []), 'invalid-signer');
    expectCode(() => signNote(text, [], { existing: [{ ...peter, keyHash: 1 }] }), 'malformed-note');
  });

  it('keeps existing signatures and replaces one by the same key (Go TestSign)', () => {
    const s = parseSignerKey(peterSkey);
    expect(signNote(text, [s], { existing: [{ name: 'PeterNeumann', keyHash: 0xc74f20a3, base64: 'BADSIGN=' }] })).toBe(`${text}\n${peterSig}`);
    expect(signNote(text, [s], { existing: [enoch] })).toBe(`${text}\n${enochSig}${peterSig}`);
  });
});

describe('round trips and tampering', () => {
  const a = generateKey('log.example/a');
  const b = generateKey('witness.example/b');
  const sa = parseSignerKey(a.signerKey);
  const sb = parseSignerKey(b.signerKey);
  const va = parseVerifierKey(a.verifierKey);
  const vb = parseVerifierKey(b.verifierKey);

  it('generates keys in the sumdb/note formats', () => {
    expect(a.signerKey).toMatch(/^PRIVATE\+KEY\+log\.example\/a\+[0-9a-f]{8}\+A[Q-Za-f]/);
    expect(a.verifierKey).toMatch(/^log\.example\/a\+[0-9a-f]{8}\+A[Q-Za-f]/);
    expect(sa.verifierKey).toBe(a.verifierKey);
    expect(() => generateKey('a b')).toThrow(NoteError);
    expect(() => generateKey('a+b')).toThrow(NoteError);
    expect(() => generateKey('a\u3000b')).toThrow(NoteError);
    expect(() => generateKey('')).toThrow(NoteError);
  });

  it('round-trips texts with empty lines and several signers', () => {
    const t = 'hello\n\nworld \u00e9\n\n';
    const n = signNote(t, [sa, sb]);
    expect(openNote(n, [va, vb])).toEqual({
      text: t,
      sigs: [expect.objectContaining({ name: 'log.example/a' }), expect.objectContaining({ name: 'witness.example/b' })],
      unverifiedSigs: [],
    });
  });

  it('fails on tampered text, signature, key name or key hash', () => {
    const t = 'origin\n1\n';
    const n = signNote(t, [sa]);
    expectCode(() => openNote(n.replace('origin', 'origim'), [va]), 'invalid-signature');
    const b64 = n.split(' ')[2]!.trim();
    const raw = Buffer.from(b64, 'base64');
    const flip = (i: number) => {
      const c = Buffer.from(raw);
      c[i]! ^= 1;
      return n.replace(b64, c.toString('base64'));
    };
    expectCode(() => openNote(flip(10), [va]), 'invalid-signature'); // signature byte
    expect(() => openNote(flip(0), [va])).toThrow(UnverifiedNoteError); // key hash: now an unknown key
    expect(() => openNote(n.replace('log.example/a ', 'log.example/x '), [va])).toThrow(UnverifiedNoteError); // key name
    expect(() => openNote(n, [vb])).toThrow(UnverifiedNoteError); // other key
  });

  it('property: any single-byte change of a signed note makes opening fail', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 0, maxLength: 60 }).filter((s) => !/[\u0000-\u001f]/.test(s) && Buffer.from(s).toString() === s),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (body, pos, delta) => {
          const note = Buffer.from(signNote(`${body}\n`, [sa]));
          const i = pos % note.length;
          const m = Buffer.from(note);
          m[i] = (m[i]! + delta) & 0xff;
          expect(() => openNote(m, [va])).toThrow(NoteError);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('property: with two known signers a single-byte change never leaves both verified', () => {
    const n = Buffer.from(signNote('a\nb\n', [sa, sb]));
    for (let i = 0; i < n.length; i++) {
      for (const delta of [1, 0x20, 0x80, 0xff]) {
        const m = Buffer.from(n);
        m[i] = (m[i]! + delta) & 0xff;
        let verified = 0;
        try {
          verified = openNote(m, [va, vb]).sigs.length;
        } catch {
          verified = 0;
        }
        expect(verified, `byte ${i} +${delta}`).toBeLessThan(2);
      }
    }
  });
});
