import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type BreakerState, type CircuitBreakerOptions } from './circuit-breaker.ts';

function makeBreaker(options: CircuitBreakerOptions = {}) {
  const clock = { now: 1_000_000 };
  const changes: string[] = [];
  const breaker = new CircuitBreaker({
    failureThreshold: 3,
    openMs: 100,
    backoffFactor: 2,
    maxOpenMs: 1000,
    probeTimeoutMs: 500,
    disableAfterMs: 10_000,
    now: () => clock.now,
    onStateChange: (to: BreakerState, from: BreakerState) => changes.push(`${from}->${to}`),
    ...options,
  });
  /** Sends one request through the breaker and reports its outcome; false when not allowed. */
  const send = (ok: boolean): boolean => {
    const ticket = breaker.acquire();
    if (!ticket) return false;
    if (ok) breaker.onSuccess(ticket);
    else breaker.onFailure(ticket);
    return true;
  };
  return { breaker, clock, changes, send };
}

describe('CircuitBreaker', () => {
  it('stays closed through failures interrupted by successes', () => {
    const { breaker, send } = makeBreaker();
    for (let i = 0; i < 10; i++) {
      send(false);
      send(false);
      send(true);
    }
    expect(breaker.state).toBe('closed');
    expect(breaker.waitMs()).toBe(0);
  });

  it('opens after N consecutive failures and refuses requests for the cool-down', () => {
    const { breaker, clock, changes, send } = makeBreaker();
    send(false);
    send(false);
    expect(breaker.state).toBe('closed');
    send(false);
    expect(breaker.state).toBe('open');
    expect(changes).toEqual(['closed->open']);
    expect(breaker.acquire()).toBe(0);
    expect(breaker.waitMs()).toBe(100);
    clock.now += 60;
    expect(breaker.waitMs()).toBe(40);
    expect(breaker.acquire()).toBe(0);
  });

  it('lets one probe through when half-open, and closes when it succeeds', () => {
    const { breaker, clock, changes, send } = makeBreaker();
    for (let i = 0; i < 3; i++) send(false);
    clock.now += 100;
    expect(breaker.state).toBe('half-open');
    expect(breaker.waitMs()).toBe(0);
    const probe = breaker.acquire();
    expect(probe).toBeGreaterThan(0);
    // Only the probe: everything else waits for its outcome.
    expect(breaker.acquire()).toBe(0);
    expect(breaker.waitMs()).toBe(500);
    breaker.onSuccess(probe);
    expect(breaker.state).toBe('closed');
    expect(changes).toEqual(['closed->open', 'open->half-open', 'half-open->closed']);
    // Closed with a clean count: it takes N failures again to open.
    send(false);
    send(false);
    expect(breaker.state).toBe('closed');
  });

  it('reopens for an exponentially longer cool-down, capped, each time the probe fails', () => {
    const { breaker, clock, send } = makeBreaker();
    for (let i = 0; i < 3; i++) send(false);
    const cooldowns: number[] = [];
    for (let i = 0; i < 6; i++) {
      cooldowns.push(breaker.waitMs());
      clock.now += breaker.waitMs();
      expect(send(false)).toBe(true);
    }
    expect(cooldowns).toEqual([100, 200, 400, 800, 1000, 1000]);
    // A success resets the growth.
    clock.now += breaker.waitMs();
    send(true);
    for (let i = 0; i < 3; i++) send(false);
    expect(breaker.waitMs()).toBe(100);
  });

  it('ignores outcomes of requests sent before it opened, and of anything but the probe', () => {
    const { breaker, clock, send } = makeBreaker();
    const early = [breaker.acquire(), breaker.acquire(), breaker.acquire()];
    for (let i = 0; i < 3; i++) send(false);
    expect(breaker.state).toBe('open');
    // Still in flight when it opened; they report in the open state and after.
    breaker.onSuccess(early[0]!);
    expect(breaker.state).toBe('open');
    clock.now += 100;
    const probe = breaker.acquire();
    breaker.onFailure(early[1]!);
    expect(breaker.state).toBe('half-open');
    breaker.onSuccess(probe);
    expect(breaker.state).toBe('closed');
    breaker.onFailure(early[2]!);
    breaker.onFailure(early[2]!);
    breaker.onFailure(early[2]!);
    expect(breaker.state).toBe('closed');
    // A refused acquire (ticket 0) reports nothing either.
    breaker.onFailure(0);
    expect(breaker.state).toBe('closed');
  });

  it('allows another probe when the first is never reported', () => {
    const { breaker, clock, send } = makeBreaker();
    for (let i = 0; i < 3; i++) send(false);
    clock.now += 100;
    const lost = breaker.acquire();
    expect(lost).toBeGreaterThan(0);
    clock.now += 499;
    expect(breaker.acquire()).toBe(0);
    clock.now += 1;
    const second = breaker.acquire();
    expect(second).toBeGreaterThan(0);
    // The lost probe turning up late decides nothing.
    breaker.onFailure(lost);
    expect(breaker.state).toBe('half-open');
    breaker.onSuccess(second);
    expect(breaker.state).toBe('closed');
  });

  it('disables an endpoint whose probes keep failing for disableAfterMs after it first opened', () => {
    const { breaker, clock, changes, send } = makeBreaker();
    for (let i = 0; i < 3; i++) send(false);
    const openedAt = clock.now;
    while (clock.now - openedAt < 10_000) {
      expect(breaker.state).not.toBe('disabled');
      clock.now += breaker.waitMs();
      send(false);
    }
    expect(breaker.state).toBe('disabled');
    expect(changes.at(-1)).toBe('half-open->disabled');
    expect(breaker.acquire()).toBe(0);
    expect(breaker.waitMs()).toBe(Infinity);
    // Time alone does not bring it back.
    clock.now += 1e9;
    expect(breaker.state).toBe('disabled');
    breaker.reset();
    expect(breaker.state).toBe('closed');
    expect(send(true)).toBe(true);
  });

  it('does not disable an endpoint that recovers in between', () => {
    const { breaker, clock, send } = makeBreaker();
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 3; i++) send(false);
      clock.now += breaker.waitMs();
      send(true);
    }
    expect(breaker.state).toBe('closed');
  });

  it('can be disabled at once, e.g. on 410 Gone', () => {
    const { breaker, changes } = makeBreaker();
    breaker.disable();
    expect(breaker.state).toBe('disabled');
    expect(changes).toEqual(['closed->disabled']);
    expect(breaker.acquire()).toBe(0);
  });

  it('opens on a failure rate over a window when configured', () => {
    const { breaker, send } = makeBreaker({
      failureThreshold: 100,
      failureRate: { threshold: 0.5, windowMs: 1000, minRequests: 10 },
    });
    // 4 failures out of 8: rate reached but too few requests.
    for (let i = 0; i < 4; i++) {
      send(true);
      send(false);
    }
    expect(breaker.state).toBe('closed');
    send(true);
    send(false);
    expect(breaker.state).toBe('open');
  });

  it('forgets outcomes that slid out of the failure-rate window', () => {
    const { breaker, clock, send } = makeBreaker({
      failureThreshold: 100,
      failureRate: { threshold: 0.5, windowMs: 1000, minRequests: 10 },
    });
    for (let i = 0; i < 9; i++) send(false);
    clock.now += 1000;
    for (let i = 0; i < 9; i++) send(i % 3 !== 0);
    // Now 3 failures in 9 within the window; the old 9 no longer count.
    send(false);
    expect(breaker.state).toBe('closed');
    for (let i = 0; i < 6; i++) send(false);
    expect(breaker.state).toBe('open');
  });

  it('rejects bad options', () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0 })).toThrow(/failureThreshold/);
    expect(() => new CircuitBreaker({ openMs: -1 })).toThrow(/openMs/);
    expect(() => new CircuitBreaker({ openMs: 100, maxOpenMs: 50 })).toThrow(/maxOpenMs/);
    expect(() => new CircuitBreaker({ backoffFactor: 0.5 })).toThrow(/backoffFactor/);
    expect(() => new CircuitBreaker({ failureRate: { threshold: 0, windowMs: 10, minRequests: 1 } })).toThrow(/threshold/);
    expect(() => new CircuitBreaker({ failureRate: { threshold: 0.5, windowMs: 0, minRequests: 1 } })).toThrow(/windowMs/);
  });

  it('defaults to 5 failures, 5 s first cool-down and 5 days to disable', () => {
    const clock = { now: 0 };
    const breaker = new CircuitBreaker({ now: () => clock.now });
    for (let i = 0; i < 4; i++) breaker.onFailure(breaker.acquire());
    expect(breaker.state).toBe('closed');
    breaker.onFailure(breaker.acquire());
    expect(breaker.state).toBe('open');
    expect(breaker.waitMs()).toBe(5000);
    while (clock.now < 5 * 86_400_000 - 700_000) {
      clock.now += breaker.waitMs();
      breaker.onFailure(breaker.acquire());
      expect(breaker.state).toBe('open');
    }
    for (let i = 0; i < 2; i++) {
      clock.now += breaker.waitMs();
      breaker.onFailure(breaker.acquire());
    }
    expect(breaker.state).toBe('disabled');
  });
});
