// Per-endpoint request rate limits: token buckets that say how long to wait, and never wait
// themselves (no timers; the caller schedules). Time comes from the caller's clock in
// milliseconds; a monotonic one (performance.now) is best, and a clock that steps back is treated
// as standing still.

export interface RateLimit {
  /** Sustained requests per second, > 0. */
  perSecond: number;
  /** Requests that may go at once after a quiet period, >= 1. */
  burst: number;
}

function checkLimit({ perSecond, burst }: RateLimit): void {
  if (!(perSecond > 0) || perSecond === Infinity) {
    throw new RangeError(`rate limit: perSecond must be a finite number > 0, got ${perSecond}`);
  }
  if (!(burst >= 1) || burst === Infinity) {
    throw new RangeError(`rate limit: burst must be a finite number >= 1, got ${burst}`);
  }
}

/**
 * A token bucket holding up to `burst` tokens, refilled at `perSecond`; a request takes one. It
 * starts full. Every operation is O(1).
 */
export class TokenBucket {
  #perMs: number;
  #burst: number;
  #tokens: number;
  #updatedAt: number;

  constructor(limit: RateLimit, now: number) {
    checkLimit(limit);
    this.#perMs = limit.perSecond / 1000;
    this.#burst = limit.burst;
    this.#tokens = limit.burst;
    this.#updatedAt = now;
  }

  /** Changes the limit, keeping the tokens earned so far (up to the new burst). */
  configure(limit: RateLimit, now: number): void {
    checkLimit(limit);
    this.#refill(now);
    this.#perMs = limit.perSecond / 1000;
    this.#burst = limit.burst;
    if (this.#tokens > this.#burst) this.#tokens = this.#burst;
  }

  /**
   * Takes a token if one is there: returns 0, and the request may go. Otherwise takes nothing and
   * returns the milliseconds (possibly fractional) until one will be; ask again then.
   */
  take(now: number): number {
    this.#refill(now);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return (1 - this.#tokens) / this.#perMs;
  }

  /** Tokens available at `now`, fractional (for metrics and tests). */
  available(now: number): number {
    this.#refill(now);
    return this.#tokens;
  }

  #refill(now: number): void {
    const elapsed = now - this.#updatedAt;
    if (elapsed <= 0) return;
    const tokens = this.#tokens + elapsed * this.#perMs;
    this.#tokens = tokens < this.#burst ? tokens : this.#burst;
    this.#updatedAt = now;
  }
}

/** Token buckets by endpoint id. Endpoints without a limit are not limited. */
export class EndpointRateLimiter {
  readonly #buckets = new Map<string, TokenBucket>();

  /** Sets or changes an endpoint's limit; null removes it. */
  set(endpointId: string, limit: RateLimit | null, now: number): void {
    if (limit === null) {
      this.#buckets.delete(endpointId);
      return;
    }
    const bucket = this.#buckets.get(endpointId);
    if (bucket) bucket.configure(limit, now);
    else this.#buckets.set(endpointId, new TokenBucket(limit, now));
  }

  /** 0 when a request to the endpoint may go now (it is counted), else ms to wait before asking again. */
  take(endpointId: string, now: number): number {
    const bucket = this.#buckets.get(endpointId);
    return bucket === undefined ? 0 : bucket.take(now);
  }

  delete(endpointId: string): void {
    this.#buckets.delete(endpointId);
  }
}
