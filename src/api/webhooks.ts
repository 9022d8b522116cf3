// /api/v1/webhooks and /api/v1/cdc: webhook definitions with their queues and delivery figures,
// creating one (validated: URL, the endpoint answering, the condition compiling), the actions
// (pause, resume, rotate-secret, replay, replay-dead, backfill, delete), outbox rows, backfill
// progress and change-capture status. Changes go through the same helios.* SQL functions any
// SQL client uses, so every sidecar hears of them (NOTIFY helios_webhooks).
import type pg from 'pg';
import { listBackfills, type BackfillJob } from '../webhooks/backfill.ts';
import { WebhookValidationError, type NewWebhook, type WebhookService } from '../webhooks/service.ts';
import { enumParam, intParam } from './params.ts';
import { ApiError, ApiResult, type ApiRequest, type ApiRoute } from './routes.ts';
import { cdcStatus, webhookStatuses } from './webhook-status.ts';

const BASE = '/api/v1/webhooks';
const ACTIONS = ['pause', 'resume', 'rotate-secret', 'replay', 'replay-dead', 'backfill', 'deliveries', 'backfills'] as const;
type Action = (typeof ACTIONS)[number];

/** A failed helios.* call: the caller's mistake is a 4xx with the server's message, anything else a 503. */
export function webhookError(err: unknown): never {
  if (err instanceof ApiError) throw err;
  if (err instanceof WebhookValidationError) throw new ApiError(400, err.message);
  const e = err as { code?: string; message?: string };
  const message = e.message ?? String(err);
  // 42704: no such webhook; 42710: it exists already; 42P01: no such table; class 22 (bad
  // values: names, URLs, LSNs, times) and 23 (the table's own checks) are the request's fault.
  if (e.code === '42704') throw new ApiError(404, message);
  if (e.code === '42710' || e.code === '23505') throw new ApiError(409, message);
  if (e.code === '42P01' || e.code?.startsWith('22') || e.code?.startsWith('23')) throw new ApiError(400, message);
  throw new ApiError(503, `the helios control schema is not available: ${message}`);
}

function object(raw: unknown, known: readonly string[]): Record<string, unknown> {
  if (raw === undefined) return {};
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ApiError(400, 'request body must be a JSON object');
  const o = raw as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !known.includes(k));
  if (unknown.length) throw new ApiError(400, `unknown field(s) ${unknown.join(', ')}; known: ${known.join(', ')}`);
  return o;
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function newWebhookBody(raw: unknown): NewWebhook {
  if (raw === undefined) throw new ApiError(400, 'request body must be a JSON object');
  const o = object(raw, ['name', 'url', 'tables', 'operations', 'condition', 'secret', 'batchSize', 'rateLimit', 'maxAttempts']);
  if (typeof o.name !== 'string' || o.name === '') throw new ApiError(400, '"name" must be a non-empty string');
  if (typeof o.url !== 'string' || o.url === '') throw new ApiError(400, '"url" must be a non-empty string');
  if (o.tables !== undefined && !isStrings(o.tables)) throw new ApiError(400, '"tables" must be an array of table names');
  if (o.operations !== undefined && !isStrings(o.operations)) throw new ApiError(400, '"operations" must be an array of insert, update, delete, truncate, read');
  for (const k of ['condition', 'secret'] as const) {
    if (o[k] !== undefined && o[k] !== null && typeof o[k] !== 'string') throw new ApiError(400, `"${k}" must be a string or null`);
  }
  for (const k of ['batchSize', 'maxAttempts'] as const) {
    if (o[k] !== undefined && !Number.isInteger(o[k])) throw new ApiError(400, `"${k}" must be an integer`);
  }
  if (o.rateLimit !== undefined && o.rateLimit !== null && typeof o.rateLimit !== 'number') throw new ApiError(400, '"rateLimit" must be a number of requests per second or null');
  return o as unknown as NewWebhook;
}

/** NAME and the action after it, from /api/v1/webhooks/NAME[/ACTION]. */
function target(url: URL): { name: string; action: Action | null } {
  const parts = url.pathname.slice(BASE.length + 1).split('/');
  if (parts.length > 2 || !parts[0]) throw new ApiError(404, 'not found');
  let name: string;
  try {
    name = decodeURIComponent(parts[0]);
  } catch {
    throw new ApiError(404, 'not found');
  }
  const action = parts[1] ?? null;
  if (action !== null && !(ACTIONS as readonly string[]).includes(action)) {
    throw new ApiError(404, `unknown webhook action "${action}"; known: ${ACTIONS.join(', ')}`);
  }
  return { name, action: action as Action | null };
}

const OUTBOX_STATES = ['all', 'pending', 'inflight', 'delivered', 'dead'] as const;

async function deliveries(client: pg.Client, name: string, url: URL): Promise<unknown> {
  const state = enumParam(url, 'state', OUTBOX_STATES, 'all');
  const limit = intParam(url, 'limit', 50, 1, 1000);
  // Bodies stay out: they hold the rows' values, and can be large.
  const { rows } = await client.query(
    `SELECT seq::text, event_id, generation, state, attempts, last_status, last_error, lsn::text, commit_time, next_attempt_at, created_at, delivered_at
     FROM helios.webhook_outbox WHERE webhook = $1 AND ($2 = 'all' OR state = $2) ORDER BY seq DESC LIMIT $3`,
    [name, state, limit],
  );
  return { webhook: name, state, deliveries: rows };
}

/** Backfill progress with a percentage; a finished job is 100% whatever the first count said. */
export function withPercent(b: BackfillJob): BackfillJob & { percent: number | null } {
  const percent = b.state === 'done' ? 100 : b.rowsTotal ? Math.min(100, Math.round((b.rowsDone / b.rowsTotal) * 1000) / 10) : b.rowsTotal === 0 ? 100 : null;
  return { ...b, percent };
}

export function webhookRoutes(webhooks: () => WebhookService | undefined): Record<string, ApiRoute> {
  const service = (): WebhookService => {
    const s = webhooks();
    if (!s) throw new ApiError(503, 'webhooks are not running (no control connection to the database)');
    return s;
  };
  const withClient = async <T>(f: (client: pg.Client) => Promise<T>): Promise<T> => {
    const s = service();
    return s.client().then(f).catch(webhookError);
  };
  const sql = <T>(text: string, values: unknown[]): Promise<T> => withClient(async (c) => (await c.query(text, values)).rows[0] as T);
  // The registry is reloaded on NOTIFY anyway; doing it before answering means the change is in
  // effect when the caller hears back. Twice: a reload already under way (which the first call
  // joins) may have read the definitions before this change committed.
  const reloaded = async () => {
    const s = service();
    await s.reload().catch(() => {});
    await s.reload().catch(() => {});
  };
  const exists = async (name: string) => {
    const [w] = await webhookStatuses(service(), name).catch(webhookError);
    if (!w) throw new ApiError(404, `webhook "${name}" does not exist`);
    return w;
  };

  const act = async (name: string, action: Action, req: ApiRequest, url: URL): Promise<unknown> => {
    switch (action) {
      case 'pause':
      case 'resume': {
        await sql(`SELECT helios.${action}_webhook($1)`, [name]);
        await reloaded();
        return { name, state: action === 'pause' ? 'paused' : 'active' };
      }
      case 'rotate-secret': {
        const body = object(await req.optionalJson(), ['secret']);
        if (body.secret !== undefined && body.secret !== null && typeof body.secret !== 'string') throw new ApiError(400, '"secret" must be a string');
        const r = await sql<{ secret: string }>('SELECT helios.rotate_webhook_secret($1, $2) AS secret', [name, body.secret ?? null]);
        await reloaded();
        // The previous secret keeps signing beside it until the next rotation.
        return { name, secret: r.secret };
      }
      case 'replay': {
        const body = object(await req.optionalJson(), ['fromLsn', 'fromTime']);
        if ((body.fromLsn === undefined) === (body.fromTime === undefined)) throw new ApiError(400, 'give exactly one of "fromLsn" and "fromTime"');
        const from = body.fromLsn ?? body.fromTime;
        if (typeof from !== 'string' || from === '') throw new ApiError(400, `"${body.fromLsn !== undefined ? 'fromLsn' : 'fromTime'}" must be a non-empty string`);
        const r = await sql<{ n: string }>('SELECT helios.replay_webhook($1, $2::pg_lsn, $3::timestamptz) AS n', [name, body.fromLsn ?? null, body.fromTime ?? null]);
        return { name, queued: Number(r.n) };
      }
      case 'replay-dead': {
        await exists(name);
        const r = await sql<{ n: string }>('SELECT helios.replay_dead_letters($1) AS n', [name]);
        return { name, queued: Number(r.n) };
      }
      case 'backfill': {
        const body = object(await req.json(), ['table']);
        if (typeof body.table !== 'string' || body.table === '') throw new ApiError(400, '"table" must be a non-empty string');
        const r = await sql<{ id: string }>('SELECT helios.backfill_webhook($1, $2) AS id', [name, body.table]);
        service().backfills.kick();
        return { name, table: body.table, backfill: r.id };
      }
      case 'deliveries':
        await exists(name);
        return withClient((c) => deliveries(c, name, url));
      case 'backfills':
        await exists(name);
        return { backfills: (await withClient((c) => listBackfills(c, name))).map(withPercent) };
    }
  };

  return {
    [BASE]: {
      GET: async () => ({ webhooks: await webhookStatuses(service()).catch(webhookError) }),
      POST: async (_url, req) => {
        const w = newWebhookBody(await req.json());
        const created = await service().create(w).catch(webhookError);
        // The signing secret is shown here once; afterwards only rotate-secret gives one out.
        return new ApiResult(201, created);
      },
    },
    // Before the prefix route below, so it is not taken for a webhook called "backfills".
    [`${BASE}/backfills`]: async (url) => {
      const webhook = url.searchParams.get('webhook') || undefined;
      return { backfills: (await withClient((c) => listBackfills(c, webhook))).map(withPercent) };
    },
    [`${BASE}/`]: {
      GET: async (url, req) => {
        const { name, action } = target(url);
        if (action === null) return exists(name);
        if (action !== 'deliveries' && action !== 'backfills') throw new ApiError(405, `use POST for ${action}`);
        return act(name, action, req, url);
      },
      POST: async (url, req) => {
        const { name, action } = target(url);
        if (action === null || action === 'deliveries' || action === 'backfills') throw new ApiError(405, 'method not allowed');
        return act(name, action, req, url);
      },
      DELETE: async (url) => {
        const { name, action } = target(url);
        if (action !== null) throw new ApiError(405, 'method not allowed');
        const r = await sql<{ deleted: boolean }>('SELECT helios.delete_webhook($1) AS deleted', [name]);
        if (!r.deleted) throw new ApiError(404, `webhook "${name}" does not exist`);
        await reloaded();
        return { deleted: name };
      },
    },
    '/api/v1/cdc': async () => cdcStatus(service()),
  };
}
