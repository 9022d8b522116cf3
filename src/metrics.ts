// Prometheus metrics. Proxy counters are read when scraped, so the proxy's hot path does no metrics work.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Plugin, ProxyCounters, ProxyView } from '../plugins/contract.ts';
import type { QueryCounter } from '../plugins/query-counter.ts';

export interface MetricsSources {
  /** The running proxy; undefined until it has started. */
  view(): ProxyView | undefined;
  /** The plugin instances in use now (a reload may replace them). */
  plugins(): readonly Plugin[];
}

export interface Metrics {
  readonly registry: Registry;
  /** Pass as ProxyOptions.onUpstreamConnect. */
  onUpstreamConnect(seconds: number, ok: boolean): void;
}

function queryCounter(plugins: readonly Plugin[]): QueryCounter | undefined {
  const p = plugins.find((x) => x.name === 'query-counter');
  return p && 'byKind' in p ? (p as QueryCounter) : undefined;
}

export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Gauges named like counters: promtool check metrics rejects them, and prom-client has no option to leave them out.
  for (const n of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(n);

  const stat = (read: (c: ProxyCounters) => number) => () => {
    const view = sources.view();
    return view ? read(view.stats()) : 0;
  };
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(read()); } });
  const byKind = (name: string, help: string, read: (qc: QueryCounter) => ReadonlyMap<string, number>) =>
    new Counter({
      name,
      help,
      labelNames: ['kind'],
      registers: [registry],
      collect() {
        this.reset();
        const qc = queryCounter(sources.plugins());
        if (qc) for (const [kind, n] of read(qc)) this.inc({ kind }, n);
      },
    });

  gauge('helios_client_connections', 'Client connections open now.', stat((c) => c.clientsActive));
  counter('helios_client_connections_accepted_total', 'Client connections accepted.', stat((c) => c.clientsAccepted));
  gauge('helios_upstream_connections', 'Upstream server connections open now.', stat((c) => c.serversActive));
  counter('helios_upstream_connect_errors_total', 'Failed upstream connection attempts.', stat((c) => c.upstreamConnectErrors));
  counter('helios_client_received_bytes_total', 'Bytes received from clients.', stat((c) => c.bytesFromClients));
  counter('helios_upstream_received_bytes_total', 'Bytes received from upstream servers.', stat((c) => c.bytesFromServers));
  counter('helios_protocol_errors_total', 'Protocol errors detected by the proxy.', stat((c) => c.protocolErrors));
  counter('helios_denied_statements_total', 'Statements denied by a plugin.', stat((c) => c.denied));
  byKind('helios_queries_total', 'Statements by kind (needs the query-counter plugin).', (qc) => qc.byKind);

  const connectSeconds = new Histogram({
    name: 'helios_upstream_connect_duration_seconds',
    help: 'Time to open an upstream connection (TCP and TLS), by outcome.',
    labelNames: ['outcome'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  return {
    registry,
    onUpstreamConnect(seconds, ok) {
      connectSeconds.observe({ outcome: ok ? 'ok' : 'error' }, seconds);
    },
  };
}
