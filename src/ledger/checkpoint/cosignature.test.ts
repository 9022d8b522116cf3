import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatCheckpoint, signCheckpoint } from './checkpoint.ts';
import {
  ALG_COSIGNATURE_V1,
  cosignCheckpoint,
  cosignatureTimestamp,
  cosignatureV1Message,
  generateCosignerKey,
  parseCosignatureVerifierKey,
  parseCosignerKey,
  verifyCosignature,
} from './cosignature.ts';
import { NoteError, generateKey, keyHash, openNote, parseSignerKey, parseVerifierKey, signNote } from './note.ts';

const root = createHash('sha256').update('x').digest();
const body = formatCheckpoint({ origin: 'example.com/log', size: 42, root });

describe('cosignature/v1', () => {
  it('builds the exact signed message of the spec', () => {
    const t = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
    expect(cosignatureV1Message(t, 1679315147).toString()).toBe(`cosignature/v1\ntime 1679315147\n${t}`);
    expect(() => cosignatureV1Message('not a checkpoint\n', 1)).toThrow();
    expect(() => cosignatureV1Message(t, -1)).toThrow(NoteError);
  });

  it('known answer: key ID of a published type 0x04 vkey (transparency-dev/formats note_cosigv1_test.go)', () => {
    const vkey = 'remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2';
    const v = parseCosignatureVerifierKey(vkey);
    expect(v.keyHash).toBe(0xda77ade7);
    const typeAndKey = Buffer.from(vkey.split('+')[2]!, 'base64');
    expect(typeAndKey[0]).toBe(ALG_COSIGNATURE_V1);
    // The same key hashed with the plain Ed25519 byte 0x01 gives a different ID.
    expect(keyHash('remora.n621.de', Buffer.concat([Buffer.from([0x01]), typeAndKey.subarray(1)]))).not.toBe(0xda77ade7);
    expect(() => parseVerifierKey(vkey)).toThrow(NoteError); // not a plain Ed25519 key
  });

  it('known answer: timestamp of a published cosignature (transparency-dev/formats TestCoSigV1Timestamp)', () => {
    const base64 = 'ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==';
    expect(cosignatureTimestamp({ name: 'w', keyHash: 0x646846b9, base64 })).toBe(1727964367);
    expect(() => cosignatureTimestamp({ name: 'w', keyHash: 0, base64: 'eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY=' })).toThrow(NoteError);
  });

  const k = generateCosignerKey('witness.example/w1');
  const cosigner = parseCosignerKey(k.signerKey, () => 1700000000);
  const v = parseCosignatureVerifierKey(k.verifierKey);

  it('generates type 0x04 keys whose ID uses 0x04', () => {
    const typeAndKey = Buffer.from(k.verifierKey.split('+').slice(2).join('+'), 'base64');
    expect(typeAndKey[0]).toBe(0x04);
    expect(v.keyHash).toBe(keyHash('witness.example/w1', typeAndKey));
    expect(cosigner.keyHash).toBe(v.keyHash);
    expect(cosigner.verifierKey).toBe(k.verifierKey);
    expect(() => parseSignerKey(k.signerKey)).toThrow(NoteError);
  });

  it('signs and verifies a cosignature line; 76-byte blob = key ID || u64 time || sig', () => {
    const line = cosignCheckpoint(body, cosigner, 1679315147);
    expect(line.startsWith('\u2014 witness.example/w1 ')).toBe(true);
    const raw = Buffer.from(line.trim().split(' ')[2]!, 'base64');
    expect(raw.length).toBe(76);
    expect(raw.readUInt32BE(0)).toBe(v.keyHash);
    expect(raw.readBigUInt64BE(4)).toBe(1679315147n);
    expect(verifyCosignature(body, line, v)).toEqual({ timestamp: 1679315147 });
  });

  it('works as a note signer next to the log signature, and opens with signNote/openNote', () => {
    const log = generateKey('example.com/log');
    const signed = signCheckpoint({ origin: 'example.com/log', size: 42, root }, [parseSignerKey(log.signerKey)]);
    const opened = openNote(signed, [parseVerifierKey(log.verifierKey)]);
    const cosigned = signNote(opened.text, [cosigner], { existing: opened.sigs });
    const n = openNote(cosigned, [parseVerifierKey(log.verifierKey), v]);
    expect(n.sigs.map((s) => s.name)).toEqual(['example.com/log', 'witness.example/w1']);
    expect(cosignatureTimestamp(n.sigs[1]!)).toBe(1700000000);
  });

  it('fails on tampered body, timestamp, signature, key name or key hash', () => {
    const line = cosignCheckpoint(body, cosigner, 1679315147);
    const b64 = line.trim().split(' ')[2]!;
    const raw = Buffer.from(b64, 'base64');
    const flip = (i: number) => {
      const c = Buffer.from(raw);
      c[i]! ^= 1;
      return line.replace(b64, c.toString('base64'));
    };
    expect(() => verifyCosignature(body.replace('42', '43'), line, v)).toThrow(NoteError);
    expect(() => verifyCosignature(body, flip(0), v)).toThrow(NoteError); // key ID
    expect(() => verifyCosignature(body, flip(11), v)).toThrow(NoteError); // timestamp
    expect(() => verifyCosignature(body, flip(40), v)).toThrow(NoteError); // signature
    expect(() => verifyCosignature(body, line.replace('w1', 'w2'), v)).toThrow(NoteError); // name
    const other = parseCosignatureVerifierKey(generateCosignerKey('witness.example/w1').verifierKey);
    expect(() => verifyCosignature(body, line, other)).toThrow(NoteError);
  });

  it('rejects timestamps too far in the future when asked', () => {
    const strict = parseCosignatureVerifierKey(k.verifierKey, { now: () => 1000, maxFutureSeconds: 60 });
    expect(verifyCosignature(body, cosignCheckpoint(body, cosigner, 1050), strict).timestamp).toBe(1050);
    expect(() => verifyCosignature(body, cosignCheckpoint(body, cosigner, 1061), strict)).toThrow(NoteError);
  });

  it('property: any single-byte change of a cosigned checkpoint note fails to open', () => {
    const note = Buffer.from(signNote(body, [cosigner]));
    fc.assert(
      fc.property(fc.nat({ max: note.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, delta) => {
        const m = Buffer.from(note);
        m[i] = (m[i]! + delta) & 0xff;
        expect(() => openNote(m, [v])).toThrow(NoteError);
      }),
      { numRuns: 500 },
    );
  });
});
