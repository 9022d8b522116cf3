import { describe, expect, it } from 'vitest';
import { RATE_CARD_PRESETS } from '../rate-card.ts';
import { classifyTier, S3_STANDARD_IA, storageCosts, type TableAccess } from './tiering.ts';

const none: TableAccess = { proxyReads: 0, proxyWrites: 0, proxyWindowSeconds: 3600, serverScans: null, serverRowsWritten: null, serverWindowSeconds: null, scannedInWindow: false };

describe('classifyTier', () => {
  it('is cold with no access at all in the window', () => {
    expect(classifyTier(none).tier).toBe('cold');
    expect(classifyTier({ ...none, serverScans: 0, serverRowsWritten: 0, serverWindowSeconds: 600 }).tier).toBe('cold');
  });

  it('counts access the proxy did not see: scan deltas, rows written, a last scan inside the window', () => {
    expect(classifyTier({ ...none, scannedInWindow: true }).tier).toBe('warm');
    expect(classifyTier({ ...none, serverScans: 3, serverRowsWritten: 0, serverWindowSeconds: 3600 }).tier).toBe('warm');
    expect(classifyTier({ ...none, serverScans: 0, serverRowsWritten: 100, serverWindowSeconds: 60 }).tier).toBe('hot');
  });

  it('is hot from one access a minute, counting reads and writes', () => {
    expect(classifyTier({ ...none, proxyReads: 59 }).tier).toBe('warm');
    expect(classifyTier({ ...none, proxyReads: 30, proxyWrites: 30 })).toEqual({ tier: 'hot', readsPerHour: 30, writesPerHour: 30 });
  });
});

describe('storageCosts', () => {
  it('prices the bytes on the rate card and in cold storage, saving the difference', () => {
    const c = storageCosts(10 * 1024 ** 3, RATE_CARD_PRESETS['aurora-standard']!, S3_STANDARD_IA);
    expect(c.storageUsdPerMonth).toBeCloseTo(1.0);
    expect(c.coldUsdPerMonth).toBeCloseTo(0.125);
    expect(c.savingsUsdPerMonth).toBeCloseTo(0.875);
    // Never negative: cold storage dearer than the database's own is no saving.
    expect(storageCosts(1024 ** 3, { ...RATE_CARD_PRESETS['bigquery']!, storagePerGbMonth: 0.01 }, S3_STANDARD_IA).savingsUsdPerMonth).toBe(0);
  });
});
