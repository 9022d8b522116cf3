// The observability hub: the long-lived state every observability plugin feeds and the API,
// SHOW commands and dashboard read. It outlives plugin instances, so a SIGHUP that rebuilds the
// plugins keeps the statistics, series and alerts.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ProxyView, ResultInfo } from '../../plugins/contract.ts';
import type { ControlTarget } from '../control-client.ts';
import { AnomalyEngine, type Anomaly, type EngineOptions } from './anomaly/engine.ts';
import { CAUSE_KINDS } from './anomaly/causes.ts';
import { RecentErrors } from './anomaly/recent-errors.ts';
import { createControlPool, type ControlPool } from './control-pool.ts';
import { LiveSeries } from './live-series.ts';
import { QueryMetrics } from './query-metrics.ts';
import { QueryStats } from './query-stats.ts';
import { SlowLog } from './slow-log.ts';
import { createTracing, type Tracing } from './tracing/index.ts';

export interface ObservabilityOptions {
  /** Statements at or above this many milliseconds go to the slow log. */
  slowQueryMs: number;
  /** Fingerprint × database entries kept before the least-called are dropped. */
  maxFingerprints: number;
  /** Run the anomaly engine (a timer once a second). */
  anomalies: boolean;
  engine?: Partial<EngineOptions>;
  /** db.query.text in spans: normalized (literals as $n) unless full text is allowed. */
  traceQueryText: 'normalized' | 'full';
  /** Traces kept in memory for the API and dashboard. */
  traceLimit: number;
  /** Spans at or above this get the statement's plan; null: never. */
  planThresholdMs: number | null;
  /** Where OTEL_* settings are read (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export const DEFAULT_OBSERVABILITY_OPTIONS: ObservabilityOptions = {
  slowQueryMs: 1000,
  maxFingerprints: 5000,
  anomalies: true,
  traceQueryText: 'normalized',
  traceLimit: 1000,
  planThresholdMs: 1000,
};

export interface ObservabilitySources {
  registry: Registry;
  view(): ProxyView | undefined;
  /** HeliosDB's own credentials for the upstream (diagnostics); undefined when it has none. */
  control(): ControlTarget | undefined;
  /** The upstream's address, for spans' server.address and server.port. */
  upstream(): { host: string; port: number };
  log(level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void;
}

export class Observability {
  readonly metrics: QueryMetrics;
  readonly stats: QueryStats;
  readonly series = new LiveSeries();
  readonly errors = new RecentErrors();
  readonly slowLog: SlowLog;
  readonly anomalies: AnomalyEngine;
  readonly control: ControlPool;
  readonly tracing: Tracing;
  private readonly slowSeconds: number;

  constructor(
    readonly sources: ObservabilitySources,
    readonly options: ObservabilityOptions = DEFAULT_OBSERVABILITY_OPTIONS,
  ) {
    this.metrics = new QueryMetrics(sources.registry);
    this.stats = new QueryStats(options.maxFingerprints);
    this.slowSeconds = options.slowQueryMs / 1000;
    this.slowLog = new SlowLog(options.slowQueryMs, sources.log);
    this.control = createControlPool(sources.control);
    this.tracing = createTracing({
      queryText: options.traceQueryText,
      traceLimit: options.traceLimit,
      planThresholdMs: options.planThresholdMs,
      connect: (db) => this.control.connect(db),
      sharedConnections: true,
      onPlanError: (err) => sources.log('debug', 'could not capture a plan', { error: err.message }),
      env: options.env,
    });
    const raised = new Counter({
      name: 'helios_anomalies_total',
      help: 'Anomaly alerts raised, by metric, severity and likely cause.',
      labelNames: ['metric', 'severity', 'cause'],
      registers: [sources.registry],
    });
    const engine = new AnomalyEngine(
      {
        series: this.series,
        stats: this.stats,
        errors: this.errors,
        view: sources.view,
        connect: (db) => this.control.connect(db),
        log: sources.log,
        onOpen: (a: Anomaly) => raised.inc({ metric: a.metric, severity: a.severity, cause: a.cause }),
      },
      options.engine,
    );
    this.anomalies = engine;
    new Gauge({
      name: 'helios_anomalies_active',
      help: 'Anomaly alerts open now, by metric and severity.',
      labelNames: ['metric', 'severity'],
      registers: [sources.registry],
      collect() {
        this.reset();
        for (const a of engine.list({ openOnly: true, limit: Infinity })) this.inc({ metric: a.metric, severity: a.severity });
      },
    });
    // Zero series for every cause, so rate() and alert rules see the counter before the first alert.
    for (const cause of CAUSE_KINDS) raised.inc({ metric: 'throughput', severity: 'warning', cause }, 0);
    if (options.anomalies) engine.start();
  }

  /** One finished statement: Prometheus metrics, per-second series, per-fingerprint stats, slow log. */
  record(r: ResultInfo): void {
    const q = r.query;
    const seconds = r.durationSeconds;
    const failed = r.sqlstate !== undefined;
    this.metrics.observe(q.kind, seconds, r.sqlstate, r.rows, r.bytes);
    this.series.record(seconds, failed, r.rows, r.bytes);
    if (failed) this.errors.add(r.sqlstate!, r.errorMessage);
    const now = Date.now();
    const e = this.stats.entry(q, q.session.database, now);
    if (e !== undefined) this.stats.record(e, seconds, failed, r.rows, now);
    if (seconds >= this.slowSeconds) {
      this.metrics.slowQuery();
      this.series.recordSlow();
      this.slowLog.add(r);
    }
  }

  async close(): Promise<void> {
    this.anomalies.stop();
    await this.tracing.shutdown();
    await this.control.close();
  }
}
