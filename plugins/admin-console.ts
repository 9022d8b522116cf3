// SHOW helios.* answered by the proxy itself, like PgBouncer's admin console, as ordinary
// result sets that psql and any driver print.

import type { InterceptResult, Plugin, PluginContext, ProxyView, QueryInfo } from './contract.ts';
import { Decisions } from './contract.ts';

type Show = (proxy: ProxyView) => InterceptResult;

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
};

/** `SHOW helios.<name>` in the statement's comment-free, normalized text. */
const SHOW_HELIOS = /^\s*show\s+helios\.([a-z_][a-z0-9_]*)\s*$/i;

export function createAdminConsole(): Plugin {
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
      return Decisions.intercept(show(proxy));
    },
  };
}
