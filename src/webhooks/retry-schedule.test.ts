import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../seeded-random.ts';
import {
  DAY,
  DEFAULT_RETRY_POLICY,
  HOUR,
  MINUTE,
  parseRetryAfter,
  retryPolicy,
  RetrySchedule,
  SECOND,
  type RetryDecision,
} from './retry-schedule.ts';

const T0 = Date.UTC(2025, 0, 6, 12, 0, 0);
const noJitter = retryPolicy({ jitter: 0 });

function retryAt(d: RetryDecision): number {
  if (!('retryAt' in d)) throw new Error(`expected a retry, got dead: ${d.dead}`);
  return d.retryAt;
}

describe('RetrySchedule', () => {
  it('follows the default schedule: 8 attempts, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h apart', () => {
    const schedule = new RetrySchedule(noJitter);
    const expected = [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR];
    let now = T0;
    for (let attempts = 1; attempts <= 7; attempts++) {
      const next = retryAt(schedule.next({ attempts, firstAttemptAt: T0, now }));
      expect(next - now).toBe(expected[attempts - 1]);
      now = next;
    }
    expect(schedule.next({ attempts: 8, firstAttemptAt: T0, now })).toEqual({ dead: 'max-attempts' });
    expect(DEFAULT_RETRY_POLICY).toMatchObject({ maxAttempts: 8, maxAgeMs: 3 * DAY, jitter: 0.2 });
  });

  it('jitters each delay within ±20%, reproducibly with a seeded random source', () => {
    const a = new RetrySchedule(DEFAULT_RETRY_POLICY, mulberry32(42));
    const b = new RetrySchedule(DEFAULT_RETRY_POLICY, mulberry32(42));
    const waits: number[] = [];
    for (let i = 0; i < 500; i++) {
      const wait = retryAt(a.next({ attempts: 3, firstAttemptAt: T0, now: T0 })) - T0;
      expect(retryAt(b.next({ attempts: 3, firstAttemptAt: T0, now: T0 })) - T0).toBe(wait);
      waits.push(wait);
    }
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(0.8 * 30 * MINUTE);
    expect(Math.max(...waits)).toBeLessThanOrEqual(1.2 * 30 * MINUTE);
    // Spread over the range, not stuck at one value.
    expect(Math.min(...waits)).toBeLessThan(0.85 * 30 * MINUTE);
    expect(Math.max(...waits)).toBeGreaterThan(1.15 * 30 * MINUTE);
  });

  it('takes a fast custom schedule in milliseconds; maxAttempts defaults to its length + 1', () => {
    const fast = retryPolicy({ delaysMs: [10, 20, 40], maxAgeMs: 10_000, jitter: 0 });
    expect(fast.maxAttempts).toBe(4);
    const schedule = new RetrySchedule(fast);
    expect(schedule.next({ attempts: 1, firstAttemptAt: 0, now: 100 })).toEqual({ retryAt: 110 });
    expect(schedule.next({ attempts: 3, firstAttemptAt: 0, now: 100 })).toEqual({ retryAt: 140 });
    expect(schedule.next({ attempts: 4, firstAttemptAt: 0, now: 100 })).toEqual({ dead: 'max-attempts' });
  });

  it('repeats the last delay when maxAttempts asks for more attempts than delays listed', () => {
    const schedule = new RetrySchedule(retryPolicy({ delaysMs: [10, 50], maxAttempts: 6, jitter: 0 }));
    expect(schedule.next({ attempts: 5, firstAttemptAt: 0, now: 0 })).toEqual({ retryAt: 50 });
    expect(schedule.next({ attempts: 6, firstAttemptAt: 0, now: 0 })).toEqual({ dead: 'max-attempts' });
  });

  it('gives up once the next attempt would start after the maximum age', () => {
    const schedule = new RetrySchedule(retryPolicy({ delaysMs: [100, 100, 100], maxAgeMs: 250, jitter: 0 }));
    expect(schedule.next({ attempts: 1, firstAttemptAt: 0, now: 150 })).toEqual({ retryAt: 250 });
    expect(schedule.next({ attempts: 2, firstAttemptAt: 0, now: 151 })).toEqual({ dead: 'max-age' });
    // With the defaults: an endpoint paused for 3 days kills the message at its next failure.
    const slow = new RetrySchedule(noJitter);
    expect(slow.next({ attempts: 2, firstAttemptAt: T0, now: T0 + 3 * DAY - MINUTE })).toEqual({ dead: 'max-age' });
  });

  it('honours Retry-After in seconds or as an HTTP-date when it asks for longer than the schedule', () => {
    const schedule = new RetrySchedule(noJitter);
    const first = { attempts: 1, firstAttemptAt: T0, now: T0 };
    expect(schedule.next({ ...first, retryAfter: '120' })).toEqual({ retryAt: T0 + 120 * SECOND });
    const date = new Date(T0 + 90 * SECOND).toUTCString();
    expect(schedule.next({ ...first, retryAfter: date })).toEqual({ retryAt: T0 + 90 * SECOND });
  });

  it('never lets Retry-After shorten the scheduled delay', () => {
    const schedule = new RetrySchedule(noJitter);
    const third = { attempts: 3, firstAttemptAt: T0, now: T0 };
    expect(schedule.next({ ...third, retryAfter: '0' })).toEqual({ retryAt: T0 + 30 * MINUTE });
    expect(schedule.next({ ...third, retryAfter: '60' })).toEqual({ retryAt: T0 + 30 * MINUTE });
    expect(schedule.next({ ...third, retryAfter: new Date(T0 - HOUR).toUTCString() })).toEqual({ retryAt: T0 + 30 * MINUTE });
  });

  it('caps Retry-After at maxRetryAfterMs', () => {
    const schedule = new RetrySchedule(retryPolicy({ jitter: 0, maxRetryAfterMs: HOUR }));
    const first = { attempts: 1, firstAttemptAt: T0, now: T0 };
    expect(schedule.next({ ...first, retryAfter: String(365 * 24 * 3600) })).toEqual({ retryAt: T0 + HOUR });
  });

  it('still dies of old age when Retry-After pushes past the maximum age', () => {
    const schedule = new RetrySchedule(retryPolicy({ delaysMs: [10], maxAgeMs: 1000, maxRetryAfterMs: 60_000, jitter: 0 }));
    expect(schedule.next({ attempts: 1, firstAttemptAt: 0, now: 0, retryAfter: '5' })).toEqual({ dead: 'max-age' });
  });

  it('ignores a Retry-After it cannot parse', () => {
    const schedule = new RetrySchedule(noJitter);
    const first = { attempts: 1, firstAttemptAt: T0, now: T0 };
    for (const junk of ['soon', '1.5', '-30', '', 'Friday, whenever']) {
      expect(schedule.next({ ...first, retryAfter: junk })).toEqual({ retryAt: T0 + 5 * SECOND });
    }
  });

  it('rejects an attempt count below 1', () => {
    expect(() => new RetrySchedule().next({ attempts: 0, firstAttemptAt: 0, now: 0 })).toThrow(/>= 1/);
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds and the three HTTP-date forms', () => {
    const now = Date.parse('Sun, 06 Nov 1994 08:49:00 GMT');
    expect(parseRetryAfter('30', now)).toBe(30_000);
    expect(parseRetryAfter(' 7 ', now)).toBe(7000);
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', now)).toBe(37_000);
    expect(parseRetryAfter('Sunday, 06-Nov-94 08:49:37 GMT', now)).toBe(37_000);
    expect(parseRetryAfter('Sun Nov  6 08:49:37 1994', now)).toBe(37_000);
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:48:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('1.5', now)).toBeUndefined();
    expect(parseRetryAfter('Sun, not a date', now)).toBeUndefined();
  });
});

describe('retryPolicy', () => {
  it('rejects nonsense', () => {
    expect(() => retryPolicy({ delaysMs: [-1] })).toThrow(/>= 0 ms/);
    expect(() => retryPolicy({ delaysMs: [Infinity] })).toThrow(/finite/);
    expect(() => retryPolicy({ delaysMs: [], maxAttempts: 3 })).toThrow(/delaysMs is empty/);
    expect(() => retryPolicy({ maxAttempts: 0 })).toThrow(/maxAttempts/);
    expect(() => retryPolicy({ jitter: 1.5 })).toThrow(/jitter/);
    expect(() => retryPolicy({ maxAgeMs: -5 })).toThrow(/maxAgeMs/);
    expect(() => retryPolicy({ maxRetryAfterMs: NaN })).toThrow(/maxRetryAfterMs/);
  });

  it('allows a single attempt and no retries', () => {
    const once = retryPolicy({ delaysMs: [] });
    expect(once.maxAttempts).toBe(1);
    expect(new RetrySchedule(once).next({ attempts: 1, firstAttemptAt: 0, now: 0 })).toEqual({ dead: 'max-attempts' });
  });
});
