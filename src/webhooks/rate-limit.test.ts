import { describe, expect, it } from 'vitest';
import { EndpointRateLimiter, TokenBucket } from './rate-limit.ts';

describe('TokenBucket', () => {
  it('lets a full burst through at once, then says how long until the next token', () => {
    const bucket = new TokenBucket({ perSecond: 10, burst: 3 }, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([0, 0, 0]);
    expect(bucket.take(0)).toBeCloseTo(100);
    // Asking does not consume: the answer only shrinks as time passes.
    expect(bucket.take(40)).toBeCloseTo(60);
    expect(bucket.take(100)).toBe(0);
    expect(bucket.take(100)).toBeCloseTo(100);
  });

  it('sustains the configured rate', () => {
    const bucket = new TokenBucket({ perSecond: 50, burst: 1 }, 0);
    let now = 0;
    let sent = 0;
    // A caller that sleeps exactly as told, for 10 simulated seconds.
    while (now < 10_000) {
      const wait = bucket.take(now);
      if (wait === 0) sent++;
      else now += wait;
    }
    expect(sent).toBeGreaterThanOrEqual(500);
    expect(sent).toBeLessThanOrEqual(501);
  });

  it('refills to the burst and no further', () => {
    const bucket = new TokenBucket({ perSecond: 1000, burst: 5 }, 0);
    for (let i = 0; i < 5; i++) bucket.take(0);
    expect(bucket.available(2)).toBeCloseTo(2);
    expect(bucket.available(60_000)).toBe(5);
  });

  it('treats a clock stepping back as standing still', () => {
    const bucket = new TokenBucket({ perSecond: 1, burst: 1 }, 1000);
    expect(bucket.take(1000)).toBe(0);
    expect(bucket.take(500)).toBeCloseTo(1000);
    expect(bucket.take(1500)).toBeCloseTo(500);
  });

  it('keeps earned tokens when reconfigured, up to the new burst', () => {
    const bucket = new TokenBucket({ perSecond: 10, burst: 10 }, 0);
    bucket.configure({ perSecond: 1, burst: 2 }, 0);
    expect(bucket.available(0)).toBe(2);
    bucket.take(0);
    bucket.take(0);
    expect(bucket.take(0)).toBeCloseTo(1000);
    bucket.configure({ perSecond: 100, burst: 2 }, 0);
    expect(bucket.take(0)).toBeCloseTo(10);
  });

  it('rejects limits that make no sense', () => {
    expect(() => new TokenBucket({ perSecond: 0, burst: 1 }, 0)).toThrow(/perSecond/);
    expect(() => new TokenBucket({ perSecond: Infinity, burst: 1 }, 0)).toThrow(/perSecond/);
    expect(() => new TokenBucket({ perSecond: NaN, burst: 1 }, 0)).toThrow(/perSecond/);
    expect(() => new TokenBucket({ perSecond: 5, burst: 0.5 }, 0)).toThrow(/burst/);
  });
});

describe('EndpointRateLimiter', () => {
  it('limits each endpoint on its own and leaves unconfigured ones alone', () => {
    const limiter = new EndpointRateLimiter();
    limiter.set('a', { perSecond: 1, burst: 1 }, 0);
    limiter.set('b', { perSecond: 2, burst: 1 }, 0);
    expect(limiter.take('a', 0)).toBe(0);
    expect(limiter.take('a', 0)).toBeCloseTo(1000);
    expect(limiter.take('b', 0)).toBe(0);
    expect(limiter.take('b', 0)).toBeCloseTo(500);
    for (let i = 0; i < 1000; i++) expect(limiter.take('c', 0)).toBe(0);
  });

  it('changes and removes limits', () => {
    const limiter = new EndpointRateLimiter();
    limiter.set('a', { perSecond: 1, burst: 1 }, 0);
    limiter.take('a', 0);
    limiter.set('a', { perSecond: 10, burst: 1 }, 0);
    expect(limiter.take('a', 0)).toBeCloseTo(100);
    limiter.set('a', null, 0);
    expect(limiter.take('a', 0)).toBe(0);
    limiter.set('a', { perSecond: 1, burst: 1 }, 0);
    limiter.delete('a');
    expect(limiter.take('a', 0)).toBe(0);
  });
});
