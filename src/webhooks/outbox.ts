// The webhook outbox in helios.webhook_outbox: events stored with the change-capture checkpoint,
// claimed by delivery workers with FOR UPDATE SKIP LOCKED, and settled in batches.
//
// Per-row order: a row is claimable only while no earlier row of the same webhook and row key is
// still pending (waiting, leased to a worker, or backing off). Other keys are not held up.
import { randomInt } from 'node:crypto';
import type pg from 'pg';
import { rowKey, type ChangeEvent, type CommittedTransaction } from '../cdc/event.ts';
import type { ChangeSink } from '../cdc/capture.ts';
import type { Webhook, WebhookRegistry } from './registry.ts';

export const OUTBOX_CHANNEL = 'helios_outbox';

/** The request body of one event: the Standard Webhooks envelope around the change. */
export function eventBody(webhook: string, e: ChangeEvent): string {
  return JSON.stringify({
    type: `row.${e.op}`,
    timestamp: e.commitTime,
    webhook,
    data: {
      id: e.id,
      table: e.table,
      op: e.op,
      new: e.new,
      old: e.old,
      key: e.key,
      unchanged: e.unchanged,
      lsn: e.lsn,
      xid: e.xid,
      commit_time: e.commitTime,
      index: e.index,
      count: e.count,
    },
  });
}

export interface OutboxRow {
  seq: string;
  /** The claim this worker holds the row under. */
  token: string;
  webhook: string;
  eventId: string;
  generation: number;
  rowKey: string;
  commitTime: Date;
  body: string;
  /** Attempts including this one. */
  attempts: number;
  createdAt: Date;
}

/** Outbox rows gathered for one INSERT. */
export class OutboxBatch {
  readonly webhooks: string[] = [];
  private readonly ids: string[] = [];
  private readonly keys: string[] = [];
  private readonly lsns: string[] = [];
  private readonly times: string[] = [];
  private readonly bodies: string[] = [];

  get size(): number {
    return this.webhooks.length;
  }

  add(webhook: string, e: ChangeEvent, key = rowKey(e)): void {
    this.webhooks.push(webhook);
    this.ids.push(e.id);
    this.keys.push(key);
    this.lsns.push(e.lsn);
    this.times.push(e.commitTime);
    this.bodies.push(eventBody(webhook, e));
  }

  /** Adds the event for every webhook that wants it. */
  addMatching(registry: WebhookRegistry, e: ChangeEvent, scratch: Webhook[]): void {
    const hooks = registry.matching(e, scratch);
    if (hooks.length === 0) return;
    const key = rowKey(e);
    for (const h of hooks) this.add(h.name, e, key);
  }

  /**
   * Inserts the rows and signals workers (NOTIFY is delivered at commit). Rows already present
   * are kept as they are: a transaction handed off before a crash but not confirmed arrives again.
   */
  async insert(client: pg.Client): Promise<number> {
    if (this.webhooks.length === 0) return 0;
    await client.query(
      `INSERT INTO helios.webhook_outbox (webhook, event_id, row_key, lsn, commit_time, body)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::pg_lsn[], $5::timestamptz[], $6::text[])
       ON CONFLICT (webhook, event_id, generation) DO NOTHING`,
      [this.webhooks, this.ids, this.keys, this.lsns, this.times, this.bodies],
    );
    await client.query(`SELECT pg_notify('${OUTBOX_CHANNEL}', '')`);
    return this.webhooks.length;
  }
}

/** Writes matched events into the outbox inside the change-capture hand-off transaction. */
export class OutboxSink implements ChangeSink {
  readonly name = 'webhooks';
  private readonly matched: Webhook[] = [];
  /** Events stored per webhook, since start. */
  readonly stored = new Map<string, number>();

  constructor(
    private readonly registry: WebhookRegistry,
    private readonly onStored: () => void,
  ) {}

  async write(client: pg.Client, txs: readonly CommittedTransaction[]): Promise<void> {
    const batch = new OutboxBatch();
    for (const tx of txs) for (const e of tx.events) batch.addMatching(this.registry, e, this.matched);
    const n = await batch.insert(client);
    if (n > 0) for (const w of batch.webhooks) this.stored.set(w, (this.stored.get(w) ?? 0) + 1);
  }

  committed(): void {
    this.onStored();
  }
}

export interface ClaimOptions {
  webhook: string;
  limit: number;
  leaseSeconds: number;
}

/**
 * Claims up to `limit` due rows of one webhook, oldest first, leasing them to this worker under
 * a fresh claim token. A row whose row key has an earlier undelivered row (waiting, backing off
 * or in flight) is not due yet.
 */
export async function claim(client: pg.Client, o: ClaimOptions): Promise<OutboxRow[]> {
  const token = randomInt(1, 2 ** 47);
  const { rows } = await client.query<{
    seq: string; webhook: string; event_id: string; generation: number; row_key: string; commit_time: Date; body: string; attempts: number; created_at: Date;
  }>(
    `WITH c AS (
       SELECT o.seq FROM helios.webhook_outbox o
       WHERE o.state = 'pending' AND o.webhook = $1 AND o.next_attempt_at <= now()
         AND NOT EXISTS (SELECT 1 FROM helios.webhook_outbox p
                         WHERE p.state IN ('pending', 'inflight') AND p.webhook = o.webhook AND p.row_key = o.row_key AND p.seq < o.seq)
       ORDER BY o.next_attempt_at, o.seq
       LIMIT $2
       FOR UPDATE SKIP LOCKED
     )
     UPDATE helios.webhook_outbox o SET state = 'inflight', lease_until = now() + make_interval(secs => $3), attempts = o.attempts + 1, claim_token = $4
     FROM c WHERE o.seq = c.seq
     RETURNING o.seq, o.webhook, o.event_id, o.generation, o.row_key, o.commit_time, o.body, o.attempts, o.created_at`,
    [o.webhook, o.limit, o.leaseSeconds, token],
  );
  rows.sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1));
  return rows.map((r) => ({
    seq: r.seq,
    token: String(token),
    webhook: r.webhook,
    eventId: r.event_id,
    generation: r.generation,
    rowKey: r.row_key,
    commitTime: r.commit_time,
    body: r.body,
    attempts: r.attempts,
    createdAt: r.created_at,
  }));
}

/** Rows whose worker's lease ran out (it crashed, or lost its connection) go back to the queue. */
export async function reclaimExpired(client: pg.Client): Promise<number> {
  const r = await client.query(
    "UPDATE helios.webhook_outbox SET state = 'pending', lease_until = NULL, claim_token = NULL WHERE state = 'inflight' AND lease_until < now()",
  );
  return r.rowCount ?? 0;
}

type SettlementOf<T> = T & { seq: string; token: string };
export type Settlement =
  | SettlementOf<{ outcome: 'delivered'; status: number }>
  | SettlementOf<{ outcome: 'retry'; status: number | null; error: string; retryAt: Date }>
  | SettlementOf<{ outcome: 'dead'; status: number | null; error: string }>
  /** Not attempted after all (circuit opened, shutting down): back to the queue, the attempt not counted. */
  | SettlementOf<{ outcome: 'release' }>;

/**
 * Records the outcomes of a batch of deliveries in one statement. Only the claim that holds a
 * row settles it: a worker whose lease ran out and whose row was claimed again changes nothing.
 */
export async function settle(client: pg.Client, results: readonly Settlement[]): Promise<void> {
  if (results.length === 0) return;
  const seqs: string[] = [];
  const tokens: string[] = [];
  const outcomes: string[] = [];
  const statuses: (number | null)[] = [];
  const errors: (string | null)[] = [];
  const retryAts: (Date | null)[] = [];
  for (const r of results) {
    seqs.push(r.seq);
    tokens.push(r.token);
    outcomes.push(r.outcome);
    statuses.push(r.outcome === 'release' ? null : r.status);
    errors.push(r.outcome === 'retry' || r.outcome === 'dead' ? r.error.slice(0, 1000) : null);
    retryAts.push(r.outcome === 'retry' ? r.retryAt : null);
  }
  await client.query(
    `UPDATE helios.webhook_outbox o SET
       state = CASE s.outcome WHEN 'delivered' THEN 'delivered' WHEN 'dead' THEN 'dead' ELSE 'pending' END,
       delivered_at = CASE WHEN s.outcome = 'delivered' THEN now() ELSE o.delivered_at END,
       next_attempt_at = CASE WHEN s.outcome = 'retry' THEN s.retry_at ELSE o.next_attempt_at END,
       attempts = CASE WHEN s.outcome = 'release' THEN greatest(o.attempts - 1, 0) ELSE o.attempts END,
       last_status = CASE WHEN s.outcome = 'release' THEN o.last_status ELSE s.status END,
       last_error = CASE WHEN s.outcome IN ('retry', 'dead') THEN s.error WHEN s.outcome = 'delivered' THEN NULL ELSE o.last_error END,
       lease_until = NULL,
       claim_token = NULL
     FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::int[], $5::text[], $6::timestamptz[]) AS s(seq, token, outcome, status, error, retry_at)
     WHERE o.seq = s.seq AND o.state = 'inflight' AND o.claim_token = s.token`,
    [seqs, tokens, outcomes, statuses, errors, retryAts],
  );
}

/** Pending rows per webhook and the oldest one's age, for metrics and SHOW helios.webhooks. */
export async function queueDepths(client: pg.Client): Promise<Map<string, { pending: number; dead: number; oldestSeconds: number | null }>> {
  const { rows } = await client.query<{ webhook: string; pending: string; dead: string; oldest: number | null }>(
    `SELECT webhook, count(*) FILTER (WHERE state <> 'dead') AS pending, count(*) FILTER (WHERE state = 'dead') AS dead,
            extract(epoch FROM now() - min(created_at) FILTER (WHERE state <> 'dead'))::float8 AS oldest
     FROM helios.webhook_outbox WHERE state IN ('pending', 'inflight', 'dead') GROUP BY webhook`,
  );
  return new Map(rows.map((r) => [r.webhook, { pending: Number(r.pending), dead: Number(r.dead), oldestSeconds: r.oldest }]));
}

/** Deletes delivered rows older than the retention (they are only kept for replay). */
export async function prune(client: pg.Client, retentionSeconds: number): Promise<number> {
  const r = await client.query(
    `DELETE FROM helios.webhook_outbox WHERE seq IN (
       SELECT seq FROM helios.webhook_outbox WHERE state = 'delivered' AND created_at < now() - make_interval(secs => $1) LIMIT 10000)`,
    [retentionSeconds],
  );
  return r.rowCount ?? 0;
}
