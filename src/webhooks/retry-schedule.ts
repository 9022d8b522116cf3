// When to try a failed webhook delivery again, or when to give up on it (dead letter).
//
// The default schedule is Svix's, which the Standard Webhooks spec recommends in shape (exponential
// backoff spanning days, with jitter):
//
//   attempt   1      2     3      4       5     6     7      8
//   delay     0      5 s   5 min  30 min  2 h   5 h   10 h   10 h     (before that attempt)
//   elapsed   0      5 s   5 min  35 min  2.6h  7.6h  17.6h  27.6h    (about, without jitter)
//
// After the 8th failed attempt, or once the next attempt would start more than 3 days after the
// first one, the message is dead. The age limit matters when Retry-After or a paused endpoint (open
// circuit breaker) pushes attempts later than the schedule alone would.
//
// Decisions:
// - Jitter: each scheduled delay is drawn uniformly from delay × [1 − jitter, 1 + jitter] (±20% by
//   default), so that messages failed together by one outage do not all come back together.
// - Retry-After (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) can only lengthen the wait: the
//   next attempt is at max(jittered schedule delay, Retry-After), with Retry-After capped at
//   maxRetryAfterMs. Never shorter, because the schedule is what protects a failing receiver (a
//   "Retry-After: 0" would otherwise turn retries into a tight loop); capped, because a receiver
//   could otherwise park a message for a year. A Retry-After that cannot be parsed is ignored.
// - Every failed attempt counts towards maxAttempts, whatever Retry-After said.
// - Times are epoch milliseconds supplied by the caller; nothing here reads a clock.

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export interface RetryPolicy {
  /** Delay before attempt 2, 3, …; the last one repeats when maxAttempts asks for more attempts. */
  readonly delaysMs: readonly number[];
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  /** No attempt starts later than this after the first attempt. */
  readonly maxAgeMs: number;
  /** Fraction each scheduled delay may vary by, 0 to 1: 0.2 means ±20%. */
  readonly jitter: number;
  /** Longest wait a Retry-After header can ask for; longer requests are cut to this. */
  readonly maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  delaysMs: Object.freeze([5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR]),
  maxAttempts: 8,
  maxAgeMs: 3 * DAY,
  jitter: 0.2,
  maxRetryAfterMs: 10 * HOUR,
});

/**
 * A policy from overrides of the default one, checked. When delaysMs is given without maxAttempts,
 * maxAttempts becomes delaysMs.length + 1 (every listed delay used once).
 */
export function retryPolicy(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  const delaysMs = overrides.delaysMs ?? DEFAULT_RETRY_POLICY.delaysMs;
  const policy: RetryPolicy = {
    ...DEFAULT_RETRY_POLICY,
    ...overrides,
    delaysMs: Object.freeze([...delaysMs]),
    maxAttempts: overrides.maxAttempts ?? (overrides.delaysMs ? delaysMs.length + 1 : DEFAULT_RETRY_POLICY.maxAttempts),
  };
  if (policy.delaysMs.length === 0 && policy.maxAttempts > 1) {
    throw new RangeError('retry policy: delaysMs is empty but maxAttempts allows retries');
  }
  for (const d of policy.delaysMs) {
    if (!Number.isFinite(d) || d < 0) throw new RangeError(`retry policy: delays must be finite and >= 0 ms, got ${d}`);
  }
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) {
    throw new RangeError(`retry policy: maxAttempts must be a whole number >= 1, got ${policy.maxAttempts}`);
  }
  if (!(policy.maxAgeMs >= 0)) throw new RangeError(`retry policy: maxAgeMs must be >= 0, got ${policy.maxAgeMs}`);
  if (!(policy.jitter >= 0 && policy.jitter <= 1)) {
    throw new RangeError(`retry policy: jitter must be between 0 and 1, got ${policy.jitter}`);
  }
  if (!(policy.maxRetryAfterMs >= 0)) {
    throw new RangeError(`retry policy: maxRetryAfterMs must be >= 0, got ${policy.maxRetryAfterMs}`);
  }
  return Object.freeze(policy);
}

/** Why a message will not be tried again. */
export type DeadReason = 'max-attempts' | 'max-age';

export type RetryDecision = { retryAt: number } | { dead: DeadReason };

export interface FailedAttempt {
  /** Attempts made so far, the one that just failed included (1 after the first failure). */
  attempts: number;
  /** When the first attempt started (epoch ms). */
  firstAttemptAt: number;
  /** Now (epoch ms). */
  now: number;
  /** The response's Retry-After header, if any. */
  retryAfter?: string | null;
}

// RFC 9110 HTTP-date forms all start with a day name (IMF-fixdate, obsolete RFC 850, asctime).
// Checking it first keeps Date.parse, which accepts nearly anything, from reading "1.5" as a date.
const HTTP_DATE_START = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)/i;
const DELAY_SECONDS = /^\d+$/;

/**
 * Milliseconds a Retry-After value asks to wait, from `now` (epoch ms): delay-seconds or an
 * HTTP-date (a past date means 0). Undefined when the value is neither.
 */
export function parseRetryAfter(value: string, now: number): number | undefined {
  const v = value.trim();
  if (DELAY_SECONDS.test(v)) return Number(v) * SECOND;
  if (!HTTP_DATE_START.test(v)) return undefined;
  // asctime carries no zone but means GMT, where Date.parse would assume local time.
  const at = Date.parse(/gmt$/i.test(v) ? v : v + ' GMT');
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

export class RetrySchedule {
  readonly policy: RetryPolicy;
  readonly #random: () => number;

  /** `random`: uniform in [0, 1); inject a seeded one for reproducible jitter. */
  constructor(policy: RetryPolicy = DEFAULT_RETRY_POLICY, random: () => number = Math.random) {
    this.policy = policy;
    this.#random = random;
  }

  /** What to do after a failed attempt. */
  next(failed: FailedAttempt): RetryDecision {
    const { policy } = this;
    if (!Number.isInteger(failed.attempts) || failed.attempts < 1) {
      throw new RangeError(`attempts must count the failed attempt (>= 1), got ${failed.attempts}`);
    }
    if (failed.attempts >= policy.maxAttempts) return { dead: 'max-attempts' };

    const delays = policy.delaysMs;
    const base = delays[Math.min(failed.attempts, delays.length) - 1]!;
    let wait = base * (1 + policy.jitter * (2 * this.#random() - 1));
    if (failed.retryAfter) {
      const asked = parseRetryAfter(failed.retryAfter, failed.now);
      if (asked !== undefined) wait = Math.max(wait, Math.min(asked, policy.maxRetryAfterMs));
    }

    const retryAt = Math.round(failed.now + wait);
    if (retryAt > failed.firstAttemptAt + policy.maxAgeMs) return { dead: 'max-age' };
    return { retryAt };
  }
}
