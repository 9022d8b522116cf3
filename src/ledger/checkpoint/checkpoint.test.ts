import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CheckpointFormatError, formatCheckpoint, openCheckpoint, parseCheckpoint, signCheckpoint } from './checkpoint.ts';
import { NoteError, generateKey, parseSignerKey, parseVerifierKey } from './note.ts';

const root = createHash('sha256').update('leaf').digest();
const rootB64 = root.toString('base64');

describe('checkpoint body', () => {
  it('formats origin, decimal size, base64 root and extension lines', () => {
    expect(formatCheckpoint({ origin: 'example.com/log', size: 20852163, root })).toBe(`example.com/log\n20852163\n${rootB64}\n`);
    expect(formatCheckpoint({ origin: 'o', size: 0, root, extensions: ['x y'] })).toBe(`o\n0\n${rootB64}\nx y\n`);
  });

  it('parses the C2SP tlog-checkpoint example body', () => {
    const cp = parseCheckpoint('example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n');
    expect(cp.origin).toBe('example.com/behind-the-sofa');
    expect(cp.size).toBe(20852163);
    expect(cp.root.toString('base64')).toBe('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=');
    expect(cp.extensions).toEqual([]);
  });

  it('rejects malformed bodies', () => {
    const bad = [
      `o\n1\n${rootB64}`, // no final newline
      `o\n1\n`, // too few lines
      `\n1\n${rootB64}\n`, // empty origin
      `o\n01\n${rootB64}\n`, // leading zero
      `o\n+1\n${rootB64}\n`,
      `o\n-1\n${rootB64}\n`,
      `o\n1.0\n${rootB64}\n`,
      `o\n 1\n${rootB64}\n`,
      `o\n\n${rootB64}\n`,
      `o\n9007199254740992\n${rootB64}\n`, // beyond 2^53 - 1
      `o\n1\n${rootB64.slice(0, -1)}\n`, // missing padding
      `o\n1\n${Buffer.alloc(31).toString('base64')}\n`, // 31 bytes
      `o\n1\n${Buffer.alloc(33).toString('base64')}\n`,
      `o\n1\n${rootB64.slice(0, -2)}${rootB64.at(-2) === 'A' ? 'B' : 'A'}=\n`.replace(/.=\n$/, 'B=\n'), // maybe non-canonical
      `o\n1\n${rootB64}\n\n`, // empty extension line
      `o\n1\n${rootB64}\r\n`,
      `o\t\n1\n${rootB64}\n`,
    ];
    for (const t of bad) {
      // Some generated strings may coincidentally be valid; only the canonical form may parse.
      let ok = false;
      try {
        const cp = parseCheckpoint(t);
        ok = formatCheckpoint(cp) === t;
      } catch (err) {
        expect(err).toBeInstanceOf(CheckpointFormatError);
      }
      if (ok) expect(t).toMatch(/B=\n$/);
    }
    expect(() => parseCheckpoint(`o\n1\n${'A'.repeat(42)}B=\n`)).toThrow(CheckpointFormatError); // padding bits set
    expect(() => formatCheckpoint({ origin: 'a\nb', size: 1, root })).toThrow(CheckpointFormatError);
    expect(() => formatCheckpoint({ origin: 'o', size: -1, root })).toThrow(CheckpointFormatError);
    expect(() => formatCheckpoint({ origin: 'o', size: 1.5, root })).toThrow(CheckpointFormatError);
    expect(() => formatCheckpoint({ origin: 'o', size: 1, root: root.subarray(1) })).toThrow(CheckpointFormatError);
    expect(() => formatCheckpoint({ origin: 'o', size: 1, root, extensions: [''] })).toThrow(CheckpointFormatError);
  });

  it('property: parse(format(cp)) round-trips', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !/[\u0000-\u001f]/.test(s) && Buffer.from(s).toString() === s),
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.array(fc.stringMatching(/^[a-z0-9 ]{1,10}$/), { maxLength: 3 }),
        (origin, size, r, extensions) => {
          const text = formatCheckpoint({ origin, size, root: r, extensions });
          const cp = parseCheckpoint(text);
          expect(cp).toEqual({ origin, size, root: Buffer.from(r), extensions });
        },
      ),
    );
  });

  it('property: a single-byte change of a body either fails to parse or parses to that exact (different) body', () => {
    const body = Buffer.from(formatCheckpoint({ origin: 'example.com/log', size: 1234567, root, extensions: ['ext'] }));
    fc.assert(
      fc.property(fc.nat({ max: body.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, delta) => {
        const m = Buffer.from(body);
        m[i] = (m[i]! + delta) & 0xff;
        let cp;
        try {
          cp = parseCheckpoint(m);
        } catch {
          return;
        }
        // Canonical encoding: parsing is injective, so a different body can't mean the same checkpoint.
        expect(Buffer.from(formatCheckpoint(cp)).equals(m)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('signed checkpoints', () => {
  const k = generateKey('example.com/log');
  const signer = parseSignerKey(k.signerKey);
  const verifier = parseVerifierKey(k.verifierKey);

  it('signs and opens, checking the origin', () => {
    const n = signCheckpoint({ origin: 'example.com/log', size: 5, root }, [signer]);
    const { checkpoint, note } = openCheckpoint(n, [verifier], { origin: 'example.com/log' });
    expect(checkpoint).toEqual({ origin: 'example.com/log', size: 5, root, extensions: [] });
    expect(note.sigs).toHaveLength(1);
    expect(() => openCheckpoint(n, [verifier], { origin: 'other' })).toThrow(CheckpointFormatError);
  });

  it('property: any single-byte change of a signed checkpoint fails to open', () => {
    fc.assert(
      fc.property(fc.nat({ max: 1e9 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (size, r, pos, delta) => {
        const n = Buffer.from(signCheckpoint({ origin: 'example.com/log', size, root: r }, [signer]));
        const i = pos % n.length;
        const m = Buffer.from(n);
        m[i] = (m[i]! + delta) & 0xff;
        expect(() => openCheckpoint(m, [verifier])).toThrow(NoteError);
      }),
      { numRuns: 400 },
    );
  });
});
