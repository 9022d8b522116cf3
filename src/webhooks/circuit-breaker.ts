// A circuit breaker per webhook endpoint: stop sending to an endpoint that keeps failing, probe it
// now and then, and report it `disabled` once it has failed for days, so the caller can pause the
// subscription and alert (the Standard Webhooks spec recommends disabling such endpoints and
// telling their owner; Svix disables after 5 days of failures).
//
//   closed ──(failureThreshold consecutive failures, or failure rate over a window)──▶ open
//   open ──(cool-down elapsed)──▶ half-open: one request, the probe, may go
//   half-open ──probe succeeds──▶ closed
//   half-open ──probe fails──▶ open again, for a cool-down `backoffFactor` times longer (up to maxOpenMs)
//   half-open ──probe fails, first opened ≥ disableAfterMs ago──▶ disabled (until reset())
//
// A pure state machine: no timers, time from an injectable clock, transitions evaluated when
// asked. Requests are tracked by ticket: acquire() hands out the current generation number, and an
// outcome counts only if its ticket is still current. That way results of requests sent before the
// breaker opened (which may arrive long after, at their timeout) cannot close or reopen it, and
// only the probe decides a half-open breaker.

export type BreakerState = 'closed' | 'open' | 'half-open' | 'disabled';

export interface FailureRateTrigger {
  /** Fraction of failed requests, 0 to 1, at or above which the breaker opens. */
  threshold: number;
  /** Over the last windowMs (tracked in 10 slots, so the window moves in steps of windowMs/10). */
  windowMs: number;
  /** Fewer outcomes than this in the window never open the breaker. */
  minRequests: number;
}

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker. Default 5. */
  failureThreshold?: number;
  /** Also open on a failure rate; off (null) by default. */
  failureRate?: FailureRateTrigger | null;
  /** First cool-down. Default 5 s. */
  openMs?: number;
  /** Each further cool-down without a success in between is this many times longer. Default 2. */
  backoffFactor?: number;
  /** Longest cool-down. Default 10 min. */
  maxOpenMs?: number;
  /**
   * A probe not reported within this long is taken as lost and another one allowed. Keep it
   * above the request timeout. Default 60 s.
   */
  probeTimeoutMs?: number;
  /** Failing continuously this long since the breaker first opened disables the endpoint. Default 5 days. */
  disableAfterMs?: number;
  /** Clock in ms. Default Date.now. */
  now?: () => number;
  /** Called on every state change, synchronously, e.g. to log, alert or pause the subscription. */
  onStateChange?: (to: BreakerState, from: BreakerState) => void;
}

const DEFAULTS = {
  failureThreshold: 5,
  openMs: 5_000,
  backoffFactor: 2,
  maxOpenMs: 10 * 60_000,
  probeTimeoutMs: 60_000,
  disableAfterMs: 5 * 24 * 3_600_000,
};

const WINDOW_SLOTS = 10;

/** Outcome counts over a sliding window, in fixed slots so that recording stays O(1). */
class OutcomeWindow {
  readonly #slotMs: number;
  readonly #failures = new Array<number>(WINDOW_SLOTS).fill(0);
  readonly #totals = new Array<number>(WINDOW_SLOTS).fill(0);
  #slot = -Infinity;
  failures = 0;
  total = 0;

  constructor(windowMs: number) {
    this.#slotMs = windowMs / WINDOW_SLOTS;
  }

  record(now: number, failed: boolean): void {
    this.#advance(now);
    const i = this.#slot % WINDOW_SLOTS;
    this.#totals[i]!++;
    this.total++;
    if (failed) {
      this.#failures[i]!++;
      this.failures++;
    }
  }

  clear(): void {
    this.#failures.fill(0);
    this.#totals.fill(0);
    this.failures = 0;
    this.total = 0;
  }

  #advance(now: number): void {
    const slot = Math.floor(now / this.#slotMs);
    if (slot <= this.#slot) return;
    if (slot - this.#slot >= WINDOW_SLOTS) {
      this.clear();
    } else {
      // Empty the slots that fell out of the window: at most WINDOW_SLOTS of them.
      for (let s = this.#slot + 1; s <= slot; s++) {
        const i = s % WINDOW_SLOTS;
        this.failures -= this.#failures[i]!;
        this.total -= this.#totals[i]!;
        this.#failures[i] = 0;
        this.#totals[i] = 0;
      }
    }
    this.#slot = slot;
  }
}

function atLeast(name: string, value: number, min: number): number {
  if (!(value >= min) || !Number.isFinite(value)) {
    throw new RangeError(`circuit breaker: ${name} must be a finite number >= ${min}, got ${value}`);
  }
  return value;
}

export class CircuitBreaker {
  readonly #failureThreshold: number;
  readonly #rate: FailureRateTrigger | null;
  readonly #window: OutcomeWindow | null;
  readonly #openMs: number;
  readonly #backoffFactor: number;
  readonly #maxOpenMs: number;
  readonly #probeTimeoutMs: number;
  readonly #disableAfterMs: number;
  readonly #now: () => number;
  readonly #onStateChange: ((to: BreakerState, from: BreakerState) => void) | undefined;

  #state: BreakerState = 'closed';
  /** Tickets carry this; it changes on every state change, which makes older tickets stale. */
  #generation = 1;
  #consecutiveFailures = 0;
  /** Times opened since the last success: sets the cool-down length. */
  #opens = 0;
  #openUntil = 0;
  /** When the breaker first opened in the current run of failures. */
  #failingSince = 0;
  /** When the half-open probe went out; 0 when none is out. */
  #probeSentAt = 0;

  constructor(options: CircuitBreakerOptions = {}) {
    const o = options;
    this.#failureThreshold = atLeast('failureThreshold', o.failureThreshold ?? DEFAULTS.failureThreshold, 1);
    this.#openMs = atLeast('openMs', o.openMs ?? DEFAULTS.openMs, 0);
    this.#backoffFactor = atLeast('backoffFactor', o.backoffFactor ?? DEFAULTS.backoffFactor, 1);
    this.#maxOpenMs = atLeast('maxOpenMs', o.maxOpenMs ?? Math.max(DEFAULTS.maxOpenMs, this.#openMs), this.#openMs);
    this.#probeTimeoutMs = atLeast('probeTimeoutMs', o.probeTimeoutMs ?? DEFAULTS.probeTimeoutMs, 1);
    this.#disableAfterMs = atLeast('disableAfterMs', o.disableAfterMs ?? DEFAULTS.disableAfterMs, 0);
    this.#rate = o.failureRate ?? null;
    if (this.#rate) {
      if (!(this.#rate.threshold > 0 && this.#rate.threshold <= 1)) {
        throw new RangeError(`circuit breaker: failureRate.threshold must be in (0, 1], got ${this.#rate.threshold}`);
      }
      atLeast('failureRate.windowMs', this.#rate.windowMs, 1);
      atLeast('failureRate.minRequests', this.#rate.minRequests, 1);
    }
    this.#window = this.#rate ? new OutcomeWindow(this.#rate.windowMs) : null;
    this.#now = o.now ?? Date.now;
    this.#onStateChange = o.onStateChange;
  }

  get state(): BreakerState {
    this.#tick(this.#now());
    return this.#state;
  }

  /**
   * Asks to send one request now. Returns its ticket (> 0) when it may go, to be passed to
   * onSuccess/onFailure, or 0 when it may not (see waitMs). In half-open, the request allowed is
   * the probe, and nothing else goes until it is reported or lost.
   */
  acquire(): number {
    const now = this.#now();
    this.#tick(now);
    switch (this.#state) {
      case 'closed':
        return this.#generation;
      case 'half-open':
        if (this.#probeSentAt !== 0) {
          if (now - this.#probeSentAt < this.#probeTimeoutMs) return 0;
          // The probe was lost: a fresh generation makes a late report of it stale.
          this.#generation++;
        }
        this.#probeSentAt = now;
        return this.#generation;
      default:
        return 0;
    }
  }

  /** Milliseconds until acquire() may allow a request: 0 now, Infinity when disabled. */
  waitMs(): number {
    const now = this.#now();
    this.#tick(now);
    switch (this.#state) {
      case 'closed':
        return 0;
      case 'open':
        return this.#openUntil - now;
      case 'half-open':
        return this.#probeSentAt === 0 ? 0 : Math.max(0, this.#probeSentAt + this.#probeTimeoutMs - now);
      case 'disabled':
        return Infinity;
    }
  }

  /** Reports that the request holding `ticket` succeeded (a 2xx response). */
  onSuccess(ticket: number): void {
    if (ticket !== this.#generation) return;
    const now = this.#now();
    if (this.#state === 'closed') {
      this.#consecutiveFailures = 0;
      this.#window?.record(now, false);
    } else if (this.#state === 'half-open') {
      this.#close();
    }
  }

  /** Reports that the request holding `ticket` failed (no response, or not 2xx). */
  onFailure(ticket: number): void {
    if (ticket !== this.#generation) return;
    const now = this.#now();
    if (this.#state === 'closed') {
      this.#consecutiveFailures++;
      const w = this.#window;
      if (w) w.record(now, true);
      const rateTripped = w !== null && w.total >= this.#rate!.minRequests && w.failures >= this.#rate!.threshold * w.total;
      if (this.#consecutiveFailures >= this.#failureThreshold || rateTripped) {
        this.#failingSince = now;
        this.#open(now);
      }
    } else if (this.#state === 'half-open') {
      if (now - this.#failingSince >= this.#disableAfterMs) this.#set('disabled');
      else this.#open(now);
    }
  }

  /** Disables at once, e.g. on 410 Gone, which asks the sender to stop for good. */
  disable(): void {
    this.#set('disabled');
  }

  /** Back to closed with a clean slate, e.g. when an operator re-enables the endpoint. */
  reset(): void {
    this.#close();
  }

  #tick(now: number): void {
    if (this.#state === 'open' && now >= this.#openUntil) {
      this.#probeSentAt = 0;
      this.#set('half-open');
    }
  }

  #open(now: number): void {
    this.#opens++;
    const cooldown = this.#openMs * this.#backoffFactor ** (this.#opens - 1);
    this.#openUntil = now + (cooldown < this.#maxOpenMs ? cooldown : this.#maxOpenMs);
    this.#set('open');
  }

  #close(): void {
    this.#consecutiveFailures = 0;
    this.#opens = 0;
    this.#probeSentAt = 0;
    this.#window?.clear();
    this.#set('closed');
  }

  #set(to: BreakerState): void {
    const from = this.#state;
    this.#generation++;
    this.#state = to;
    if (to !== from) this.#onStateChange?.(to, from);
  }
}
