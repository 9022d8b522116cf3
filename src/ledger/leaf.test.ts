import { describe, expect, it } from 'vitest';
import { canonicalJson, decodeLeaf, encodeLeaf, leafPosition } from './leaf.ts';

describe('ledger leaf encoding', () => {
  it('writes RFC 8785 JSON: members sorted by UTF-16 code units, undefined dropped, no whitespace', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], c: { z: 0, y: -1.5 } })).toBe('{"a":[true,null,"x"],"b":1,"c":{"y":-1.5,"z":0}}');
    // By UTF-16 code units, U+20AC (0x20AC) sorts before U+1F600 (surrogate 0xD83D).
    expect(canonicalJson({ '\u20ac': 1, '\ud83d\ude00': 2, a: 3 })).toBe('{"a":3,"\u20ac":1,"\ud83d\ude00":2}');
    expect(canonicalJson({ a: undefined, b: 'q"\n' })).toBe('{"b":"q\\"\\n"}');
    // ECMAScript number serialization (RFC 8785 §3.2.2.3).
    expect(canonicalJson(1.5e-7)).toBe('1.5e-7');
    expect(canonicalJson(-0)).toBe('0');
  });

  it('refuses numbers JSON cannot carry exactly', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(/NaN/);
    expect(() => canonicalJson(2 ** 60)).toThrow(/beyond 2\^53/);
  });

  it('prefixes format and position, independent of the order fields were given in', () => {
    const a = encodeLeaf(42, { kind: 'action', fields: { user: 'u', db: 'd' } });
    const b = encodeLeaf(42, { kind: 'action', fields: { db: 'd', user: 'u' } });
    expect(a.equals(b)).toBe(true);
    expect(a.subarray(0, 9).toString('hex')).toBe('01000000000000002a');
    expect(leafPosition(a)).toBe(42);
    expect(decodeLeaf(a)).toEqual({ position: 42, entry: { db: 'd', kind: 'action', user: 'u' } });
    expect(leafPosition(Buffer.from('{"x":1}'))).toBeNull();
  });
});
