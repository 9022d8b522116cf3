// What the webhooks and change capture look like right now, for the REST API, the CLI and
// SHOW helios.webhooks / helios.cdc. Definitions and queues are read from the database (so a
// webhook created from any SQL client or sidecar shows at once, and queues count every
// sidecar's rows); delivery counters, latencies and circuits are this process's own.
import type pg from 'pg';
import type { DDSketch } from '@datadog/sketches-js';
import type { CaptureStatus } from '../cdc/capture.ts';
import { readSlot, type SlotState } from '../cdc/slot.ts';
import type { WebhookService } from '../webhooks/service.ts';

export interface WebhookStatus {
  name: string;
  url: string;
  tables: string[];
  operations: string[];
  condition: string | null;
  batchSize: number;
  rateLimit: number | null;
  maxAttempts: number;
  maxAgeSeconds: number;
  /** Secrets signing right now: 2 during a rotation. The secrets themselves are never shown. */
  signingSecrets: number;
  /** active, paused (by a user) or disabled (by HeliosDB: a failing endpoint or an invalid condition). */
  state: string;
  stateReason: string | null;
  createdAt: string;
  updatedAt: string;
  /** The outbox, all sidecars: rows waiting (or backing off), dead letters, the oldest waiting row's age. */
  queue: { pending: number; deadLetters: number; oldestPendingSeconds: number | null };
  /** Delivery outcomes since this sidecar started: delivered events, failed attempts (retried later), events given up on. */
  delivered: number;
  failed: number;
  dead: number;
  /** Commit to delivery, this sidecar's deliveries since start; null before the first one. */
  lagMs: Quantiles | null;
  /** Request round trips, likewise. */
  requestMs: Quantiles | null;
  lastStatus: number | null;
  lastError: string | null;
  lastDeliveredAt: string | null;
  /** This sidecar's circuit breaker for the endpoint: closed, open, half-open or disabled. */
  circuit: string;
}

export interface Quantiles {
  p50: number;
  p95: number;
  p99: number;
}

function quantilesMs(sketch: DDSketch): Quantiles | null {
  if (sketch.count === 0) return null;
  const q = (p: number) => Math.round(sketch.getValueAtQuantile(p) * 1e6) / 1e3;
  return { p50: q(0.5), p95: q(0.95), p99: q(0.99) };
}

/** All webhooks, or the one named (an empty list when it does not exist). */
export async function webhookStatuses(service: WebhookService, name?: string): Promise<WebhookStatus[]> {
  const client = await service.client();
  const { rows } = await client.query<{
    name: string; url: string; tables: string[]; operations: string[]; condition: string | null; batch_size: number; rate_limit: number | null;
    max_attempts: number; max_age_s: number; secrets: number; state: string; state_reason: string | null; created_at: Date; updated_at: Date;
    pending: string; dead: string; oldest: number | null;
  }>(
    `SELECT w.name, w.url, w.tables, w.operations, w.condition, w.batch_size, w.rate_limit, w.max_attempts,
            extract(epoch FROM w.max_age)::float8 AS max_age_s, cardinality(w.secrets) AS secrets, w.state, w.state_reason, w.created_at, w.updated_at,
            coalesce(q.pending, 0) AS pending, coalesce(q.dead, 0) AS dead, q.oldest
     FROM helios.webhooks w
     LEFT JOIN LATERAL (
       SELECT count(*) FILTER (WHERE o.state <> 'dead') AS pending, count(*) FILTER (WHERE o.state = 'dead') AS dead,
              extract(epoch FROM now() - min(o.created_at) FILTER (WHERE o.state <> 'dead'))::float8 AS oldest
       FROM helios.webhook_outbox o WHERE o.webhook = w.name AND o.state IN ('pending', 'inflight', 'dead')
     ) q ON true
     WHERE $1::text IS NULL OR w.name = $1
     ORDER BY w.name`,
    [name ?? null],
  );
  return rows.map((r) => {
    const s = service.dispatcher.stats.get(r.name);
    return {
      name: r.name,
      url: r.url,
      tables: r.tables,
      operations: r.operations,
      condition: r.condition,
      batchSize: r.batch_size,
      rateLimit: r.rate_limit,
      maxAttempts: r.max_attempts,
      maxAgeSeconds: r.max_age_s,
      signingSecrets: r.secrets,
      state: r.state,
      stateReason: r.state_reason,
      createdAt: r.created_at.toISOString(),
      updatedAt: r.updated_at.toISOString(),
      queue: { pending: Number(r.pending), deadLetters: Number(r.dead), oldestPendingSeconds: r.oldest },
      delivered: s?.delivered ?? 0,
      failed: s?.failed ?? 0,
      dead: s?.dead ?? 0,
      lagMs: s ? quantilesMs(s.lag) : null,
      requestMs: s ? quantilesMs(s.request) : null,
      lastStatus: s?.lastStatus ?? null,
      lastError: s?.lastError ?? null,
      lastDeliveredAt: s?.lastDeliveredAt ? new Date(s.lastDeliveredAt).toISOString() : null,
      circuit: s?.circuit ?? 'closed',
    };
  });
}

export interface CdcStatus extends Omit<CaptureStatus, 'state' | 'slotState'> {
  /** Capture configured at all (the cdc setting). */
  enabled: boolean;
  /** The capture state, or "off" (the cdc setting), or "idle" (no webhook yet, so no slot is created). */
  state: CaptureStatus['state'] | 'off' | 'idle';
  schemas: string[];
  slotState: SlotState | null;
}

/**
 * Capture as this sidecar runs it; when it does not (cdc off, no webhook yet), the slot and the
 * durable checkpoint as the database has them, so lag and wal_status still show.
 */
export async function cdcStatus(service: WebhookService): Promise<CdcStatus> {
  const running = service.captureStatus();
  const base = { enabled: service.cdc.enabled, schemas: [...service.cdc.schemas] };
  if (running) return { ...running, ...base };
  const status: CdcStatus = {
    ...base,
    state: service.cdc.enabled ? 'idle' : 'off',
    slot: service.cdc.slot,
    publication: service.cdc.publication,
    publications: [],
    keyedSync: null,
    checkpointLsn: null,
    transactions: 0,
    events: 0,
    pendingTransactions: 0,
    pendingEvents: 0,
    lastCommitTime: null,
    alarm: null,
    lastError: null,
    slotState: null,
  };
  try {
    const client: pg.Client = await service.client();
    const { rows } = await client.query<{ checkpoint_lsn: string }>('SELECT checkpoint_lsn::text FROM helios.cdc_slots WHERE slot_name = $1', [service.cdc.slot]);
    status.checkpointLsn = rows[0]?.checkpoint_lsn ?? null;
    status.slotState = await readSlot(client, service.cdc.slot);
  } catch (err) {
    status.lastError = (err as Error).message;
  }
  return status;
}
