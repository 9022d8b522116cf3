// Delivery workers: claim outbox rows, POST them signed, settle the outcomes in one statement per
// batch. Several lanes run in each process, and any number of processes can share the outbox;
// FOR UPDATE SKIP LOCKED and leases keep them from delivering the same row at once, and the
// outbox's per-row-key rule keeps a later change of a row from overtaking an earlier one.
import { createHash } from 'node:crypto';
import { DDSketch } from '@datadog/sketches-js';
import type pg from 'pg';
import { CircuitBreaker, type BreakerState } from './circuit-breaker.ts';
import { deliveryTarget, type DeliveryTarget, type HttpSender, type SendResult } from './http-sender.ts';
import { claim, settle, type OutboxRow, type Settlement } from './outbox.ts';
import { TokenBucket } from './rate-limit.ts';
import type { Webhook, WebhookRegistry } from './registry.ts';
import { RetrySchedule, retryPolicy, type RetryPolicy } from './retry-schedule.ts';
import { Signer } from './signing.ts';

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

  constructor(private readonly o: DispatcherOptions) {}

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

  private async lane(index: number): Promise<void> {
    let client: pg.Client | null = null;
    while (!this.stopped) {
      const seen = this.wakeups;
      let idle = true;
      let waitMs = this.o.pollMs;
      try {
        client ??= await this.o.connect();
        for (const h of this.o.registry.list()) {
          if (this.stopped) break;
          if (h.state !== 'active' || h.invalid !== null) continue;
          const ep = this.endpoint(h);
          const closedFor = ep.breaker.waitMs();
          if (closedFor > 0) {
            waitMs = Math.min(waitMs, closedFor);
            continue;
          }
          // Half-open lets one probe through; a rate limit lets as many as it has tokens for.
          let limit = ep.breaker.state === 'half-open' ? 1 : this.o.claimLimit;
          if (ep.bucket) {
            const tokens = Math.floor(ep.bucket.available(performance.now()));
            if (tokens < 1) {
              waitMs = Math.min(waitMs, Math.ceil(1000 / ep.rateLimit!));
              continue;
            }
            limit = Math.min(limit, tokens * h.batchSize);
          }
          const rows = await claim(client, { webhook: h.name, limit, leaseSeconds: this.o.leaseSeconds });
          if (rows.length === 0) continue;
          idle = false;
          const results = await this.deliver(h, ep, rows);
          await settle(client, results);
        }
      } catch (err) {
        this.o.log('warn', 'webhooks: delivery lane failed; retrying', { lane: index, error: (err as Error).message });
        await client?.end().catch(() => {});
        client = null;
        waitMs = 1000;
        idle = true;
      }
      if (idle && !this.stopped && this.wakeups === seen) await this.sleep(waitMs);
    }
    await client?.end().catch(() => {});
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(t);
        const i = self.sleepers.indexOf(done);
        if (i >= 0) self.sleepers.splice(i, 1);
        resolve();
      }
      this.sleepers.push(done);
    });
  }

  /** Sends the claimed rows (one request each, or batches of batch_size) at once; never throws. */
  private async deliver(h: Webhook, ep: Endpoint, rows: OutboxRow[]): Promise<Settlement[]> {
    const groups: OutboxRow[][] = [];
    if (h.batchSize <= 1) for (const r of rows) groups.push([r]);
    else for (let i = 0; i < rows.length; i += h.batchSize) groups.push(rows.slice(i, i + h.batchSize));
    const out: Settlement[] = [];
    await Promise.all(groups.map(async (group) => {
      const ticket = ep.breaker.acquire();
      if (ticket === 0 || (ep.bucket && ep.bucket.take(performance.now()) > 0)) {
        for (const r of group) out.push({ seq: r.seq, outcome: 'release' });
        return;
      }
      const { id, body } = group.length === 1 && h.batchSize <= 1 ? { id: group[0]!.eventId, body: group[0]!.body } : batchBody(h.name, group);
      const res = await this.o.sender.send(ep.target, body, ep.signer.headers(id, Math.floor(Date.now() / 1000), body));
      this.settleGroup(h, ep, ticket, group, res, out);
    }));
    return out;
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
        out.push({ seq: r.seq, outcome: 'delivered', status: res.status! });
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
        out.push({ seq: r.seq, outcome: 'dead', status: res.status ?? null, error: `${next.dead} after ${r.attempts} attempt(s): ${error}` });
      } else {
        s.failed++;
        out.push({ seq: r.seq, outcome: 'retry', status: res.status ?? null, error, retryAt: new Date(next.retryAt) });
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
