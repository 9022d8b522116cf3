// SHOW helios.* answered by the proxy itself, like PgBouncer's admin console, as ordinary
// result sets that psql and any driver print.

import type { CostEngine } from '../src/cost/index.ts';
import type { Observability } from '../src/observability/index.ts';
import type { WebhookService } from '../src/webhooks/service.ts';
import type { InterceptResult, Plugin, PluginContext, ProxyView, QueryInfo } from './contract.ts';
import { Decisions } from './contract.ts';
import { ADVICE_COLUMNS, adviceRows } from '../src/cost/advisor/report.ts';
import { cdcStatus, webhookStatuses } from '../src/api/webhook-status.ts';

type Show = (proxy: ProxyView, obs: Observability, cost: CostEngine | undefined, webhooks: WebhookService | undefined) => InterceptResult | Promise<InterceptResult>;

/** Dollars as exact decimal text (psql shows them as they are; rounding is the reader's choice). */
const usd = (v: number): string => v.toFixed(6);

/** A SHOW whose engine this sidecar does not run: refused with 55000 (object not in prerequisite state). */
class EngineMissing extends Error {}

function needCost(cost: CostEngine | undefined): CostEngine {
  if (!cost) throw new EngineMissing('the cost engine is not running (start with --plugins all or a list including cost)');
  return cost;
}

function needWebhooks(webhooks: WebhookService | undefined): WebhookService {
  if (!webhooks) throw new EngineMissing('webhooks are not running in this sidecar (no control connection to the database)');
  return webhooks;
}

const SHOWS: Record<string, Show> = {
  clients: (p) => ({
    columns: ['id', 'user', 'database', 'application_name', 'client_addr', 'tls', 'state', 'transaction_status', 'connected_at', 'queries', 'bytes_in', 'bytes_out'],
    rows: p.clients().map((c) => [
      c.session.id, c.session.user, c.session.database, c.session.applicationName, c.session.clientAddress, c.session.tls,
      c.state, c.transactionStatus, new Date(c.session.connectedAt).toISOString(), c.queries, c.bytesIn, c.bytesOut,
    ]),
  }),
  servers: (p) => ({
    columns: ['session_id', 'backend_pid', 'address', 'tls', 'protocol', 'connect_ms'],
    rows: p.servers().map((s) => [s.sessionId, s.backendPid, s.address, s.tls, s.protocolVersion, (s.connectSeconds * 1000).toFixed(3)]),
  }),
  stats: (p) => {
    const s = p.stats();
    return {
      columns: ['clients_accepted', 'clients_active', 'servers_active', 'queries', 'denied', 'protocol_errors', 'upstream_connect_errors', 'bytes_from_clients', 'bytes_from_servers', 'uptime_seconds'],
      rows: [[s.clientsAccepted, s.clientsActive, s.serversActive, s.queries, s.denied, s.protocolErrors, s.upstreamConnectErrors, s.bytesFromClients, s.bytesFromServers, Math.round((Date.now() - s.startedAt) / 1000)]],
    };
  },
  top_queries: (_p, obs) => ({
    columns: ['fingerprint', 'database', 'calls', 'errors', 'rows', 'total_ms', 'mean_ms', 'p50_ms', 'p95_ms', 'p99_ms', 'first_seen', 'last_seen', 'query'],
    rows: obs.stats.top({ sort: 'total', limit: 50 }).map((r) => [
      r.fingerprint, r.database, r.calls, r.errors, r.rows, r.total_ms, r.mean_ms, r.p50_ms, r.p95_ms, r.p99_ms, r.first_seen, r.last_seen, r.query,
    ]),
  }),
  slow_queries: (_p, obs) => ({
    columns: ['at', 'duration_ms', 'fingerprint', 'database', 'user', 'application_name', 'rows', 'sqlstate', 'query'],
    rows: obs.slowLog.list(100).map((s) => [s.at, s.durationMs, s.fingerprint, s.database, s.user, s.applicationName, s.rows, s.sqlstate, s.query]),
  }),
  costs: (_p, _o, c) => ({
    columns: ['tenant', 'statements_today', 'cost_today_usd', 'statements_month', 'cost_month_usd', 'compute_month_usd', 'io_month_usd', 'scanned_month_usd', 'egress_month_usd', 'rejected_month', 'budget_usd', 'budget_period', 'budget_action', 'budget_spent_usd', 'budget_percent', 'budget_status'],
    rows: needCost(c).tenants().map((t) => [
      t.tenant, t.day.statements, usd(t.day.total), t.month.statements, usd(t.month.total), usd(t.month.compute), usd(t.month.io), usd(t.month.scanned), usd(t.month.egress), t.month.rejected,
      t.budget ? usd(t.budget.limitUsd) : null, t.budget?.period ?? null, t.budget?.action ?? null, t.spentUsd === null ? null : usd(t.spentUsd),
      t.percent === null ? null : t.percent.toFixed(2), t.status,
    ]),
  }),
  query_costs: (_p, _o, c) => ({
    columns: ['fingerprint', 'database', 'calls', 'cost_usd', 'mean_cost_usd', 'compute_usd', 'io_usd', 'scanned_usd', 'egress_usd', 'estimated_calls', 'last_estimate_usd', 'estimate_error_factor', 'tenants', 'query'],
    rows: needCost(c).queries.list({ limit: 50 }).map((e) => [
      e.fingerprint, e.database, e.calls, usd(e.actual.total), usd(e.actual.total / e.calls), usd(e.actual.compute), usd(e.actual.io), usd(e.actual.scanned), usd(e.actual.egress),
      e.estimatedCalls, e.lastEstimateUsd === null ? null : usd(e.lastEstimateUsd), e.estimatedCalls ? Math.exp(e.meanAbsLogError).toFixed(2) : null, [...e.tenants].join(','), e.query,
    ]),
  }),
  // Runs the advisor (or joins the run under way): the client waits for it.
  advice: (_p, _o, c) => needCost(c).advisor.run().then((a) => ({ columns: [...ADVICE_COLUMNS], rows: adviceRows(a) })),
  webhooks: async (_p, _o, _c, w) => ({
    columns: ['name', 'url', 'state', 'state_reason', 'pending', 'dead_letters', 'delivered', 'failed', 'dead', 'lag_p99_ms', 'last_status', 'last_error', 'circuit'],
    rows: (await webhookStatuses(needWebhooks(w))).map((h) => [
      h.name, h.url, h.state, h.stateReason, h.queue.pending, h.queue.deadLetters, h.delivered, h.failed, h.dead, h.lagMs?.p99 ?? null, h.lastStatus, h.lastError, h.circuit,
    ]),
  }),
  cdc: async (_p, _o, _c, w) => {
    const s = await cdcStatus(needWebhooks(w));
    return {
      columns: ['slot', 'publication', 'keyed_sync', 'state', 'checkpoint_lsn', 'transactions', 'events', 'pending_events', 'slot_lag_bytes', 'retained_bytes', 'wal_status', 'alarm', 'last_error'],
      rows: [[s.slot, s.publication, s.keyedSync, s.state, s.checkpointLsn, s.transactions, s.events, s.pendingEvents, s.slotState?.lagBytes ?? null, s.slotState?.retainedBytes ?? null, s.slotState?.walStatus ?? null, s.alarm, s.lastError]],
    };
  },
  anomalies: (_p, obs) => ({
    columns: ['id', 'incident', 'state', 'severity', 'metric', 'expected', 'actual', 'peak', 'unit', 'score', 'cause', 'evidence', 'fingerprint', 'database', 'opened_at', 'closed_at'],
    rows: obs.anomalies.list({ limit: 100 }).map((a) => [
      a.id, a.incident, a.closedAt ? 'resolved' : 'open', a.severity, a.metric, a.expected, a.actual, a.peak, a.unit, a.score, a.cause,
      a.evidence[0]?.summary ?? null, a.fingerprint ?? null, a.database ?? null, a.openedAt, a.closedAt,
    ]),
  }),
};

/** `SHOW helios.<name>` in the statement's comment-free, normalized text. */
const SHOW_HELIOS = /^\s*show\s+helios\.([a-z_][a-z0-9_]*)\s*$/i;

export function createAdminConsole(deps: { observability: Observability; cost?: CostEngine; webhooks?: WebhookService }): Plugin {
  const obs = deps.observability;
  let proxy: ProxyView | null = null;
  return {
    name: 'admin-console',
    init(ctx: PluginContext) {
      proxy = ctx.proxy;
    },
    onQuery(q: QueryInfo) {
      if (q.kind !== 'SHOW' || proxy === null) return;
      const m = SHOW_HELIOS.exec(q.normalized);
      if (!m) return;
      const show = SHOWS[m[1]!.toLowerCase()];
      if (!show) {
        return Decisions.deny('42704', `unrecognized HeliosDB command "helios.${m[1]}"`, `available: ${Object.keys(SHOWS).map((n) => `helios.${n}`).join(', ')}`);
      }
      try {
        const result = show(proxy, obs, deps.cost, deps.webhooks);
        if (result instanceof Promise) {
          return result.then(Decisions.intercept, (err: Error) => Decisions.deny(err instanceof EngineMissing ? '55000' : 'XX000', err instanceof EngineMissing ? err.message : `helios.${m[1]}: ${err.message}`));
        }
        return Decisions.intercept(result);
      } catch (err) {
        if (err instanceof EngineMissing) return Decisions.deny('55000', err.message);
        throw err;
      }
    },
  };
}
