// Backfills: a table's existing rows sent to a webhook as "read" events, walked in primary-key
// order in chunks. Each chunk's outbox rows and the job's progress (last key, rows done) commit
// together, so a restarted sidecar resumes after the last chunk without sending one twice.
import type pg from 'pg';
import type { ChangeEvent, Row } from '../cdc/event.ts';
import { valueParser } from '../cdc/values.ts';
import { OutboxBatch } from './outbox.ts';
import type { Webhook, WebhookRegistry } from './registry.ts';

export interface BackfillJob {
  id: string;
  webhook: string;
  table: string;
  state: 'pending' | 'running' | 'done' | 'failed' | 'cancelled';
  rowsDone: number;
  rowsTotal: number | null;
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
}

export async function listBackfills(client: pg.Client, webhook?: string): Promise<BackfillJob[]> {
  const { rows } = await client.query<{
    id: string; webhook: string; table_name: string; state: BackfillJob['state']; rows_done: string; rows_total: string | null; error: string | null; created_at: Date; finished_at: Date | null;
  }>(
    `SELECT id, webhook, table_name, state, rows_done, rows_total, error, created_at, finished_at FROM helios.webhook_backfills
     WHERE $1::text IS NULL OR webhook = $1 ORDER BY id DESC LIMIT 100`,
    [webhook ?? null],
  );
  return rows.map((r) => ({
    id: r.id,
    webhook: r.webhook,
    table: r.table_name,
    state: r.state,
    rowsDone: Number(r.rows_done),
    rowsTotal: r.rows_total === null ? null : Number(r.rows_total),
    error: r.error,
    createdAt: r.created_at.toISOString(),
    finishedAt: r.finished_at ? r.finished_at.toISOString() : null,
  }));
}

const RAW_TEXT = { getTypeParser: () => (v: string) => v };

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export class BackfillRunner {
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly scratch: Webhook[] = [];

  constructor(
    private readonly o: {
      connect: () => Promise<pg.Client>;
      registry: WebhookRegistry;
      chunkRows: number;
      log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
      /** After each chunk: workers have rows to send. */
      onChunk: () => void;
    },
  ) {}

  /** Runs pending jobs one after another; a call while running is a no-op (the loop picks new jobs up). */
  kick(): void {
    if (this.running || this.stopped) return;
    this.running = this.runAll()
      .catch((err: Error) => this.o.log('warn', 'webhooks: backfill runner failed; retried on the next change', { error: err.message }))
      .finally(() => {
        this.running = null;
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async runAll(): Promise<void> {
    const client = await this.o.connect();
    try {
      for (;;) {
        if (this.stopped) return;
        // Several sidecars: a job is taken by whoever locks it first (others skip it).
        await client.query('BEGIN');
        const { rows } = await client.query<{ id: string }>(
          `SELECT id FROM helios.webhook_backfills WHERE state IN ('pending', 'running') ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`,
        );
        await client.query('COMMIT');
        const job = rows[0];
        if (!job) return;
        const lock = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtextextended('helios backfill', $1::bigint)) AS ok", [job.id]);
        if (!lock.rows[0]!.ok) return;
        try {
          await this.run(client, job.id);
        } finally {
          await client.query("SELECT pg_advisory_unlock(hashtextextended('helios backfill', $1::bigint))", [job.id]);
        }
      }
    } finally {
      await client.end().catch(() => {});
    }
  }

  private async run(client: pg.Client, id: string): Promise<void> {
    const { rows: [job] } = await client.query<{ webhook: string; table_name: string; last_key: unknown[] | null; rows_done: string; state: string }>(
      'SELECT webhook, table_name, last_key, rows_done, state FROM helios.webhook_backfills WHERE id = $1',
      [id],
    );
    if (!job || (job.state !== 'pending' && job.state !== 'running')) return;
    const fail = async (error: string) => {
      await client.query("UPDATE helios.webhook_backfills SET state = 'failed', error = $2, updated_at = now(), finished_at = now() WHERE id = $1", [id, error]);
      this.o.log('warn', 'webhooks: backfill failed', { backfill: id, webhook: job.webhook, table: job.table_name, error });
    };
    const rel = await client.query<{ oid: number }>('SELECT to_regclass($1)::oid AS oid', [job.table_name]);
    const oid = rel.rows[0]?.oid;
    if (!oid) return fail(`table ${job.table_name} no longer exists`);
    const pk = await client.query<{ attname: string }>(
      `SELECT a.attname FROM pg_index i JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
       WHERE i.indrelid = $1 AND i.indisprimary ORDER BY k.n`,
      [oid],
    );
    const keyColumns = pk.rows.map((r) => r.attname);
    if (keyColumns.length === 0) return fail(`table ${job.table_name} has no primary key`);
    const [schema, ...rest] = job.table_name.split('.');
    const table = `${quoteIdent(schema!)}.${quoteIdent(rest.join('.'))}`;
    const keyList = keyColumns.map(quoteIdent).join(', ');
    let total: number | null = null;
    if (job.state === 'pending') {
      const est = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
      total = Number(est.rows[0]!.n);
      await client.query("UPDATE helios.webhook_backfills SET state = 'running', rows_total = $2, updated_at = now() WHERE id = $1", [id, total]);
      this.o.log('info', 'webhooks: backfill started', { backfill: id, webhook: job.webhook, table: job.table_name, rows: total });
    }
    const snapshot = await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    let lastKey = job.last_key;
    let done = Number(job.rows_done);
    for (;;) {
      if (this.stopped) return;
      const hook = this.o.registry.get(job.webhook);
      if (!hook) return fail(`webhook ${job.webhook} was deleted`);
      const where = lastKey ? `WHERE (${keyList}) > (${keyColumns.map((_, i) => `$${i + 1}`).join(', ')})` : '';
      const chunk = await client.query({ text: `SELECT * FROM ${table} ${where} ORDER BY ${keyList} LIMIT ${this.o.chunkRows}`, values: lastKey ?? [], types: RAW_TEXT });
      if (chunk.rows.length === 0) break;
      const parsers = chunk.fields.map((f) => valueParser(f.dataTypeID));
      const batch = new OutboxBatch();
      const now = new Date().toISOString();
      for (const raw of chunk.rows as Record<string, string | null>[]) {
        const row: Row = {};
        chunk.fields.forEach((f, i) => {
          const v = raw[f.name];
          row[f.name] = v === null || v === undefined ? null : parsers[i]!(v);
        });
        const key: Row = {};
        for (const k of keyColumns) key[k] = row[k] ?? null;
        const e: ChangeEvent = {
          id: `backfill:${id}:${done}`,
          lsn: snapshot.rows[0]!.lsn,
          table: job.table_name,
          op: 'read',
          new: row,
          old: null,
          key,
          unchanged: [],
          commitTime: now,
          xid: 0,
          index: 0,
          count: 1,
        };
        // A backfill goes to the webhook that asked for it, if its condition takes the row.
        if (!hook.compiled || hook.compiled.matches(e)) batch.add(hook.name, e);
        done++;
      }
      const last = chunk.rows[chunk.rows.length - 1] as Record<string, string>;
      lastKey = keyColumns.map((k) => last[k]);
      await client.query('BEGIN');
      try {
        await batch.insert(client);
        await client.query('UPDATE helios.webhook_backfills SET last_key = $2, rows_done = $3, updated_at = now() WHERE id = $1', [id, JSON.stringify(lastKey), done]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
      this.o.onChunk();
      this.o.log('debug', 'webhooks: backfill progress', { backfill: id, rows: done });
    }
    await client.query("UPDATE helios.webhook_backfills SET state = 'done', updated_at = now(), finished_at = now() WHERE id = $1", [id]);
    this.o.log('info', 'webhooks: backfill done', { backfill: id, webhook: job.webhook, table: job.table_name, rows: done });
  }
}
