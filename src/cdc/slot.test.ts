import { describe, expect, it } from 'vitest';
import { keyedPublicationName } from './slot.ts';

describe('keyedPublicationName', () => {
  it('appends _keyed while the name fits in 63 bytes', () => {
    expect(keyedPublicationName('helios_cdc')).toBe('helios_cdc_keyed');
    expect(keyedPublicationName('p'.repeat(57))).toBe(`${'p'.repeat(57)}_keyed`);
  });

  it('shortens a longer one with a hash of the whole name, so two long names do not collide', () => {
    const a = keyedPublicationName(`${'p'.repeat(60)}_a`);
    const b = keyedPublicationName(`${'p'.repeat(60)}_b`);
    expect(a).toMatch(/^p{48}_[0-9a-f]{8}_keyed$/);
    expect(a).toHaveLength(63);
    expect(a).not.toBe(b);
    expect(keyedPublicationName(`${'p'.repeat(60)}_a`)).toBe(a);
  });
});
