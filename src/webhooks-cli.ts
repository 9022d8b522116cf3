// `helios webhook ...` and `helios cdc`: manage CDC webhooks of a running sidecar through its
// REST API (--http, the same HOST:PORT the sidecar serves on) and print plain tables.
import { call, parseApiCommand, table } from './api-cli.ts';
import { UserError } from './errors.ts';

const USAGE = `Usage:
  helios webhook list
  helios webhook create NAME URL [--table T]... [--op insert,update,delete,truncate,read]
                        [--condition EXPR] [--secret whsec_...] [--batch N] [--rate PER_SECOND]
                        [--max-attempts N]
  helios webhook show NAME
  helios webhook pause|resume|delete NAME
  helios webhook rotate NAME [--secret whsec_...]
  helios webhook replay NAME (--from-lsn LSN | --from-time TIMESTAMP)
  helios webhook replay-dead NAME
  helios webhook backfill NAME TABLE [--wait]
  helios webhook deliveries NAME [--state pending|inflight|delivered|dead] [--limit N]
  helios cdc
Common options: --http HOST:PORT (default $HELIOS_HTTP or 127.0.0.1:9187)
`;

const path = (name: string, action = '') => `/api/v1/webhooks/${encodeURIComponent(name)}${action ? `/${action}` : ''}`;

function integer(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new UserError(`--${flag} must be a whole number, not "${raw}"`);
  return n;
}

/** Key: value lines, nested objects flattened with dots; empty values left out. */
function details(o: Record<string, unknown>, prefix = ''): string {
  let out = '';
  for (const [k, v] of Object.entries(o)) {
    if (v === null || v === undefined) continue;
    if (typeof v === 'object' && !Array.isArray(v)) out += details(v as Record<string, unknown>, `${prefix}${k}.`);
    else out += `${prefix}${k}: ${Array.isArray(v) ? v.join(',') : String(v)}\n`;
  }
  return out;
}

function progress(b: any): string {
  const total = b.rowsTotal === null ? '?' : b.rowsTotal;
  const percent = b.percent === null ? '' : ` (${b.percent.toFixed(1)}%)`;
  return `backfill ${b.id} of ${b.table} for ${b.webhook}: ${b.rowsDone}/${total} rows${percent}, ${b.state}${b.error ? `: ${b.error}` : ''}`;
}

/** Polls a backfill until it ends, printing each change of its progress. */
async function waitForBackfill(base: string, name: string, id: string, out: (s: string) => void): Promise<void> {
  let shown = '';
  for (;;) {
    const { backfills } = await call(base, 'GET', `/api/v1/webhooks/backfills?webhook=${encodeURIComponent(name)}`);
    const b = (backfills as any[]).find((x) => String(x.id) === String(id));
    if (!b) throw new UserError(`backfill ${id} is gone (was the webhook deleted?)`);
    const line = progress(b);
    if (line !== shown) out(`${(shown = line)}\n`);
    if (b.state === 'done') return;
    if (b.state === 'failed' || b.state === 'cancelled') throw new UserError(line);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export async function webhookCommand(command: 'webhook' | 'cdc', args: string[]): Promise<void> {
  const parsed = parseApiCommand(
    args,
    {
      table: { type: 'string', multiple: true },
      op: { type: 'string', multiple: true },
      condition: { type: 'string' },
      secret: { type: 'string' },
      batch: { type: 'string' },
      rate: { type: 'string' },
      'max-attempts': { type: 'string' },
      'from-lsn': { type: 'string' },
      'from-time': { type: 'string' },
      wait: { type: 'boolean' },
      state: { type: 'string' },
      limit: { type: 'string' },
    },
    USAGE,
  );
  if (!parsed) return;
  const { values: v, positionals, base } = parsed;
  const out = (s: string) => process.stdout.write(s);
  if (command === 'cdc') {
    out(details(await call(base, 'GET', '/api/v1/cdc')));
    return;
  }
  const [sub, name, third] = positionals;
  const needName = () => {
    if (!name) throw new UserError(`webhook ${sub} needs a webhook name\n${USAGE}`);
    return name;
  };
  switch (sub) {
    case 'list':
    case undefined: {
      const { webhooks } = await call(base, 'GET', '/api/v1/webhooks');
      out(table(
        ['name', 'state', 'url', 'tables', 'operations', 'pending', 'dead_letters', 'delivered', 'failed', 'lag_p99_ms', 'last_status', 'circuit'],
        webhooks.map((w: any) => [w.name, w.state, w.url, w.tables.join(',') || '*', w.operations.join(','), w.queue.pending, w.queue.deadLetters, w.delivered, w.failed, w.lagMs?.p99, w.lastStatus, w.circuit]),
      ));
      return;
    }
    case 'create': {
      if (!name || !third) throw new UserError(`webhook create needs a name and a URL\n${USAGE}`);
      const body: Record<string, unknown> = { name, url: third };
      if (v.table?.length) body.tables = v.table;
      if (v.op?.length) body.operations = v.op.flatMap((o) => o.split(',')).map((o) => o.trim().toLowerCase()).filter(Boolean);
      if (v.condition !== undefined) body.condition = v.condition;
      if (v.secret !== undefined) body.secret = v.secret;
      if (v.batch !== undefined) body.batchSize = integer(v.batch, 'batch');
      if (v['max-attempts'] !== undefined) body.maxAttempts = integer(v['max-attempts'], 'max-attempts');
      if (v.rate !== undefined) {
        const rate = Number(v.rate);
        if (!(rate > 0)) throw new UserError(`--rate must be a positive number of requests per second, not "${v.rate}"`);
        body.rateLimit = rate;
      }
      // The probe of the URL can take the sidecar's probe timeout on top of the usual wait.
      const created = await call(base, 'POST', '/api/v1/webhooks', body, 30_000);
      out(`created webhook ${created.name}\nsigning secret: ${created.secret}\n(shown once: give it to the receiver to verify the webhook-signature header)\n`);
      return;
    }
    case 'show': {
      const w = await call(base, 'GET', path(needName()));
      out(details(w));
      return;
    }
    case 'pause':
    case 'resume': {
      const r = await call(base, 'POST', path(needName(), sub));
      out(`webhook ${r.name} is ${r.state}\n`);
      return;
    }
    case 'delete': {
      await call(base, 'DELETE', path(needName()));
      out(`deleted webhook ${name}\n`);
      return;
    }
    case 'rotate': {
      const r = await call(base, 'POST', path(needName(), 'rotate-secret'), v.secret === undefined ? undefined : { secret: v.secret });
      out(`new signing secret for ${r.name}: ${r.secret}\n(the previous secret keeps signing beside it until the next rotation)\n`);
      return;
    }
    case 'replay': {
      needName();
      if ((v['from-lsn'] === undefined) === (v['from-time'] === undefined)) throw new UserError(`webhook replay needs one of --from-lsn and --from-time\n${USAGE}`);
      const body = v['from-lsn'] !== undefined ? { fromLsn: v['from-lsn'] } : { fromTime: v['from-time'] };
      const r = await call(base, 'POST', path(name!, 'replay'), body);
      out(`queued ${r.queued} event(s) of ${r.name} for delivery again\n`);
      return;
    }
    case 'replay-dead': {
      const r = await call(base, 'POST', path(needName(), 'replay-dead'));
      out(`queued ${r.queued} dead letter(s) of ${r.name} for delivery again\n`);
      return;
    }
    case 'backfill': {
      if (!name || !third) throw new UserError(`webhook backfill needs a webhook name and a table\n${USAGE}`);
      const r = await call(base, 'POST', path(name, 'backfill'), { table: third });
      out(`backfill ${r.backfill} of ${r.table} queued for ${r.name}\n`);
      if (v.wait) await waitForBackfill(base, name, String(r.backfill), out);
      return;
    }
    case 'deliveries': {
      const q = new URLSearchParams();
      if (v.state) q.set('state', v.state);
      if (v.limit) q.set('limit', v.limit);
      const { deliveries } = await call(base, 'GET', `${path(needName(), 'deliveries')}${q.size ? `?${q}` : ''}`);
      out(table(
        ['seq', 'event_id', 'state', 'attempts', 'last_status', 'next_attempt_at', 'created_at', 'delivered_at', 'last_error'],
        deliveries.map((d: any) => [d.seq, d.event_id, d.state, d.attempts, d.last_status, d.state === 'pending' || d.state === 'inflight' ? d.next_attempt_at : '', d.created_at, d.delivered_at, d.last_error]),
      ));
      return;
    }
    default:
      throw new UserError(`unknown webhook command "${sub}"\n${USAGE}`);
  }
}
