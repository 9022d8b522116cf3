import { describe, expect, it } from 'vitest';
import { formatLsn, isLsn, parseLsn } from './lsn.ts';

describe('LSN', () => {
  it('parses and formats both halves', () => {
    expect(parseLsn('0/16B3748')).toBe(0x16b3748n);
    expect(parseLsn('1/0')).toBe(1n << 32n);
    expect(formatLsn(parseLsn('AB/FFFFFFFF'))).toBe('AB/FFFFFFFF');
    expect(formatLsn(0n)).toBe('0/0');
  });

  it('rejects what is not an LSN', () => {
    for (const bad of ['', '0', '0/', 'x/1', '1/2/3', '123456789/0']) {
      expect(isLsn(bad)).toBe(false);
      expect(() => parseLsn(bad)).toThrow(/invalid LSN/);
    }
  });
});
