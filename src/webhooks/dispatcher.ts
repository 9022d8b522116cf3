// Delivery workers: claim outbox rows, POST them signed, settle the outcomes in one statement per
// batch. Several lanes run in each process, and any number of processes can share the outbox;
// FOR UPDATE SKIP LOCKED and leases keep them from delivering the same row at once, and the
// outbox's per-row-key rule keeps a later change of a row from overtaking an earlier one.
import { createHash } from 'node:crypto';
import { DDSketch } from '@datadog/sketches-js';
import type pg from 'pg';
import { CircuitBreaker, type BreakerState } from './circuit-breaker.ts';
import { deliveryTarget, type DeliveryTarget, type HttpSender, type SendResult } from './http-sender.ts';
import { claim, reclaimExpired, settle, type OutboxRow, type Settlement } from './outbox.ts';
import { TokenBucket } from './rate-limit.ts';
import type { Webhook, WebhookRegistry } from './registry.ts';
import { RetrySchedule, retryPolicy, type RetryPolicy } from './retry-schedule.ts';
import { Signer } from './signing.ts';

/** Settlements gathered for one UPDATE, and how long a lane waits to gather them while requests are in flight. */
const SETTLE_BATCH = 200;
const SETTLE_GATHER_MS = 3;

export interface DispatcherOptions {
  /** A connection of the lane's own to the database holding the helios schema. */
  connect: () => Promise<pg.Client>;
  registry: WebhookRegistry;
  sender: HttpSender;
  /** Delays between attempts; each webhook's max_attempts and max_age apply on top. */
  retry: RetryPolicy;
  /** Claim-deliver-settle loops per process. */
  lanes: number;
  /** Rows one claim takes. */
  claimLimit: number;
  /** Rows a lane has in flight at most (default 1000). */
  maxInFlight?: number;
  /** How long a claimed row stays with this worker before another may take it (a crashed worker's rows). */
  leaseSeconds: number;
  /** Longest sleep between claims when nothing wakes the lanes (retries due, other sidecars' rows). */
  pollMs: number;
  breaker?: { failureThreshold?: number; openMs?: number; maxOpenMs?: number; disableAfterMs?: number };
  log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  /** An endpoint that kept failing, or answered 410 Gone: the caller disables the webhook and alerts. */
  onDisable: (webhook: string, reason: string) => void;
}

export interface WebhookStats {
  delivered: number;
  failed: number;
  dead: number;
  /** Commit to 2xx, seconds. */
  lag: DDSketch;
  /** Request round trips, seconds. */
  request: DDSketch;
  lastStatus: number | null;
  lastError: string | null;
  lastDeliveredAt: number | null;
  circuit: BreakerState;
}

/** Per webhook: what sending to it needs, remade when its definition changes. */
interface Endpoint {
  url: string;
  secrets: string;
  target: DeliveryTarget;
  signer: Signer;
  breaker: CircuitBreaker;
  bucket: TokenBucket | null;
  retry: RetrySchedule;
  rateLimit: number | null;
}

export class Dispatcher {
  private readonly endpoints = new Map<string, Endpoint>();
  readonly stats = new Map<string, WebhookStats>();
  private lanes: Promise<void>[] = [];
  private stopped = true;
  private sleepers: (() => void)[] = [];
  private wakeups = 0;
  /** Rows a lane has in flight at most. */
  private readonly maxInFlight: number;

  constructor(private readonly o: DispatcherOptions) {
    this.maxInFlight = o.maxInFlight ?? 1000;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    for (let i = 0; i < this.o.lanes; i++) this.lanes.push(this.lane(i));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await Promise.all(this.lanes);
    this.lanes = [];
  }

  /** New rows or changed webhooks: idle lanes claim again now. */
  wake(): void {
    this.wakeups++;
    const s = this.sleepers;
    this.sleepers = [];
    for (const f of s) f();
  }

  statsFor(name: string): WebhookStats {
    let s = this.stats.get(name);
    if (!s) {
      s = { delivered: 0, failed: 0, dead: 0, lag: new DDSketch({ relativeAccuracy: 0.01 }), request: new DDSketch({ relativeAccuracy: 0.01 }), lastStatus: null, lastError: null, lastDeliveredAt: null, circuit: 'closed' };
      this.stats.set(name, s);
    }
    return s;
  }

  private endpoint(h: Webhook): Endpoint {
    const secrets = h.secrets.join(' ');
    let ep = this.endpoints.get(h.name);
    if (ep && ep.url === h.url && ep.secrets === secrets && ep.rateLimit === h.rateLimit && ep.retry.policy.maxAttempts === h.maxAttempts) return ep;
    const breaker = ep?.url === h.url ? ep.breaker : new CircuitBreaker({
      // Requests run concurrently, so failures arrive in clusters (a burst of timeouts ends together):
      // the breaker opens on a sustained failure rate, or on a long unbroken run of failures.
      failureThreshold: 50,
      failureRate: { threshold: 0.5, windowMs: 30_000, minRequests: 20 },
      ...this.o.breaker,
      onStateChange: (to, from) => {
        this.statsFor(h.name).circuit = to;
        this.o.log(to === 'closed' ? 'info' : 'warn', `webhook endpoint circuit ${to}`, { webhook: h.name, from });
        if (to === 'disabled') this.o.onDisable(h.name, `the endpoint kept failing (circuit open since its failures began); last error: ${this.statsFor(h.name).lastError ?? 'none'}`);
      },
    });
    ep = {
      url: h.url,
      secrets,
      target: deliveryTarget(h.url),
      signer: new Signer(h.secrets),
      breaker,
      bucket: h.rateLimit === null ? null : new TokenBucket({ perSecond: h.rateLimit, burst: Math.max(1, Math.ceil(h.rateLimit)) }, performance.now()),
      retry: new RetrySchedule(retryPolicy({ ...this.o.retry, maxAttempts: h.maxAttempts, maxAgeMs: Math.min(this.o.retry.maxAgeMs, h.maxAgeSeconds * 1000) })),
      rateLimit: h.rateLimit,
    };
    this.endpoints.set(h.name, ep);
    return ep;
  }

  /**
   * One lane: keeps up to maxInFlight requests going, claiming more as results come in, and
   * settles finished ones in small batches. Rows stay leased (and their row keys held) until
   * settled, so a slow request holds up only its own row key, not the lane.
   */
  private async lane(index: number): Promise<void> {
    let client: pg.Client | null = null;
    const state = { inFlight: 0, done: [] as Settlement[], wake: null as (() => void) | null };
    let lastReclaim = 0;
    const finished = (results: Settlement[]) => {
      state.inFlight -= results.length;
      for (const r of results) state.done.push(r);
      state.wake?.();
    };
    while (!this.stopped || state.inFlight > 0 || state.done.length > 0) {
      const seen = this.wakeups;
      let claimed = false;
      let waitMs = this.o.pollMs;
      try {
        client ??= await this.o.connect();
        if (index === 0 && Date.now() - lastReclaim > 1000) {
          lastReclaim = Date.now();
          if ((await reclaimExpired(client)) > 0) this.wake();
        }
        if (state.done.length) {
          // Results trickle in one by one: a moment's wait gathers them into one UPDATE.
          if (state.inFlight > 0 && state.done.length < SETTLE_BATCH) await new Promise((r) => setTimeout(r, SETTLE_GATHER_MS));
          const batch = state.done;
          state.done = [];
          await settle(client, batch);
        }
        if (!this.stopped && state.inFlight < this.maxInFlight) {
          for (const h of this.o.registry.list()) {
            if (h.state !== 'active' || h.invalid !== null) continue;
            const ep = this.endpoint(h);
            const closedFor = ep.breaker.waitMs();
            if (closedFor > 0) {
              waitMs = Math.min(waitMs, closedFor);
              continue;
            }
            // Half-open lets one probe through; a rate limit lets as many as it has tokens for.
            let limit = ep.breaker.state === 'half-open' ? 1 : Math.min(this.o.claimLimit, this.maxInFlight - state.inFlight);
            if (ep.bucket) {
              const tokens = Math.floor(ep.bucket.available(performance.now()));
              if (tokens < 1) {
                waitMs = Math.min(waitMs, Math.ceil(1000 / ep.rateLimit!));
                continue;
              }
              limit = Math.min(limit, tokens * h.batchSize);
            }
            if (limit < 1) break;
            const rows = await claim(client, { webhook: h.name, limit, leaseSeconds: this.o.leaseSeconds });
            if (rows.length === 0) continue;
            claimed = true;
            state.inFlight += rows.length;
            this.deliver(h, ep, rows, finished);
          }
        }
      } catch (err) {
        this.o.log('warn', 'webhooks: delivery lane failed; retrying', { lane: index, error: (err as Error).message });
        await client?.end().catch(() => {});
        client = null;
        waitMs = 1000;
      }
      if (claimed || state.done.length > 0) continue;
      if (this.stopped && state.inFlight === 0) break;
      if (this.wakeups !== seen && !this.stopped) continue;
      // Idle, or waiting for requests in flight: sleep until a result, a wake-up or the poll.
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, waitMs);
        const self = this;
        function done() {
          clearTimeout(t);
          state.wake = null;
          const i = self.sleepers.indexOf(done);
          if (i >= 0) self.sleepers.splice(i, 1);
          resolve();
        }
        state.wake = done;
        this.sleepers.push(done);
      });
    }
    await client?.end().catch(() => {});
  }

  /** Sends the claimed rows (one request each, or batches of batch_size) and reports each request's settlements as it finishes. */
  private deliver(h: Webhook, ep: Endpoint, rows: OutboxRow[], finished: (results: Settlement[]) => void): void {
    const one = h.batchSize <= 1;
    for (let i = 0; i < rows.length; i += one ? 1 : h.batchSize) {
      const group = one ? [rows[i]!] : rows.slice(i, i + h.batchSize);
      const ticket = ep.breaker.acquire();
      if (ticket === 0 || (ep.bucket && ep.bucket.take(performance.now()) > 0)) {
        finished(group.map((r) => ({ seq: r.seq, token: r.token, outcome: 'release' as const })));
        continue;
      }
      const { id, body } = one ? { id: group[0]!.eventId, body: group[0]!.body } : batchBody(h.name, group);
      void this.o.sender.send(ep.target, body, ep.signer.headers(id, Math.floor(Date.now() / 1000), body)).then((res) => {
        const out: Settlement[] = [];
        this.settleGroup(h, ep, ticket, group, res, out);
        finished(out);
      });
    }
  }

  private settleGroup(h: Webhook, ep: Endpoint, ticket: number, group: OutboxRow[], res: SendResult, out: Settlement[]): void {
    const s = this.statsFor(h.name);
    s.request.accept(Math.max(res.ms, 0.001) / 1000);
    s.lastStatus = res.status ?? null;
    const now = Date.now();
    if (res.ok) {
      ep.breaker.onSuccess(ticket);
      s.delivered += group.length;
      s.lastDeliveredAt = now;
      for (const r of group) {
        s.lag.accept(Math.max((now - r.commitTime.getTime()) / 1000, 0.0001));
        out.push({ seq: r.seq, token: r.token, outcome: 'delivered', status: res.status! });
      }
      return;
    }
    // 410 Gone: the receiver asks to stop sending for good (Standard Webhooks).
    if (res.status === 410) ep.breaker.disable();
    else ep.breaker.onFailure(ticket);
    const error = res.error ?? `HTTP ${res.status}${res.responseBody ? `: ${res.responseBody.slice(0, 200)}` : ''}`;
    s.lastError = error;
    for (const r of group) {
      const next = ep.retry.next({ attempts: r.attempts, firstAttemptAt: r.createdAt.getTime(), now, retryAfter: res.retryAfter ?? null });
      if ('dead' in next) {
        s.dead++;
        out.push({ seq: r.seq, token: r.token, outcome: 'dead', status: res.status ?? null, error: `${next.dead} after ${r.attempts} attempt(s): ${error}` });
      } else {
        s.failed++;
        out.push({ seq: r.seq, token: r.token, outcome: 'retry', status: res.status ?? null, error, retryAt: new Date(next.retryAt) });
      }
    }
  }
}

/** Several events in one request. The batch's webhook-id names its events; each event keeps its own id inside. */
export function batchBody(webhook: string, rows: readonly OutboxRow[]): { id: string; body: string } {
  const hash = createHash('sha256');
  for (const r of rows) hash.update(r.eventId).update('\n');
  return {
    id: `batch_${hash.digest('hex').slice(0, 32)}`,
    body: `{"type":"batch","webhook":${JSON.stringify(webhook)},"count":${rows.length},"data":[${rows.map((r) => r.body).join(',')}]}`,
  };
}
