import { describe, expect, it } from 'vitest';
import { valueParser } from './values.ts';

describe('change event values', () => {
  it('keeps exact text for types JSON cannot carry exactly, and converts the rest', () => {
    expect(valueParser(16)('t')).toBe(true);
    expect(valueParser(16)('f')).toBe(false);
    expect(valueParser(23)('-42')).toBe(-42);
    expect(valueParser(20)('9007199254740991')).toBe(9007199254740991);
    expect(valueParser(20)('9007199254740993')).toBe('9007199254740993');
    expect(valueParser(701)('1.5')).toBe(1.5);
    expect(valueParser(701)('NaN')).toBe('NaN');
    expect(valueParser(1700)('12.50')).toBe('12.50');
    expect(valueParser(1184)('2026-01-02 03:04:05.123456+00')).toBe('2026-01-02 03:04:05.123456+00');
    expect(valueParser(3802)('{"a": [1, "x"]}')).toEqual({ a: [1, 'x'] });
    expect(valueParser(114)('not json')).toBe('not json');
  });
});
