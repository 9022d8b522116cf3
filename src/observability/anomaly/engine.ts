// The anomaly engine: once a second it closes the proxy's per-second figures, feeds them to
// streaming detectors (throughput, p95 latency, error rate and connections, overall and for
// the busiest fingerprints), and turns a detector's open episode into an alert carrying the
// metric, expected and actual values, a score, a severity and the likely cause.
import type { ProxyView } from '../../../plugins/contract.ts';
import type { ConnectDatabase } from '../control-pool.ts';
import type { LiveSeries, SecondPoint } from '../live-series.ts';
import type { QueryStats, QueryStatsEntry } from '../query-stats.ts';
import { LogHistogram } from '../log-histogram.ts';
import { explainable, genericPlanShape, lockWaitEvidence, saturationEvidence, type CauseKind, type Evidence } from './causes.ts';
import { StreamingDetector, type DetectorOptions, type DetectorOutput } from './detector.ts';
import type { RecentErrors } from './recent-errors.ts';

export type AnomalyMetric = 'throughput' | 'latency_p95' | 'error_rate' | 'connections' | 'active_statements' | 'query_latency_p95' | 'query_error_rate';
export type Severity = 'warning' | 'critical';

export interface Anomaly {
  id: number;
  /** Alerts opening while an incident is open join it, so one incident pages once. */
  incident: number;
  metric: AnomalyMetric;
  unit: 'qps' | 'ms' | 'ratio' | 'connections' | 'statements';
  direction: 'up' | 'down';
  fingerprint?: string;
  database?: string;
  /** Normalized text of the fingerprint's statement. */
  query?: string;
  expected: number;
  actual: number;
  /** The most extreme value seen while open. */
  peak: number;
  score: number;
  severity: Severity;
  cause: CauseKind;
  /** Evidence for each cause found, strongest first. */
  evidence: Evidence[];
  openedAt: string;
  closedAt: string | null;
}

export interface EngineOptions {
  /** How many of the busiest fingerprints get their own detectors. */
  watchedFingerprints: number;
  /** Seconds between re-picking the busiest fingerprints. */
  repickSeconds: number;
  /** Fewer statements than this in a second: that second's error rate is not judged. */
  minCallsForRate: number;
  /** |deviation| at or above this makes an alert critical. */
  criticalDeviation: number;
  /** Closed alerts kept for the API. */
  keepClosed: number;
  /** How long an incident stays open for new alerts to join after its last alert opened. */
  incidentSeconds: number;
  detector: Partial<DetectorOptions>;
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = {
  watchedFingerprints: 10,
  repickSeconds: 10,
  minCallsForRate: 5,
  criticalDeviation: 12,
  keepClosed: 200,
  incidentSeconds: 120,
  detector: {},
};

export interface EngineSources {
  series: LiveSeries;
  stats: QueryStats;
  errors: RecentErrors;
  view(): ProxyView | undefined;
  /** Diagnostic connections; absent when HeliosDB has no credentials of its own for the upstream. */
  connect?: ConnectDatabase;
  log(level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void;
  onOpen?(a: Anomaly): void;
  onClose?(a: Anomaly): void;
}

const UNITS: Record<AnomalyMetric, Anomaly['unit']> = {
  throughput: 'qps',
  latency_p95: 'ms',
  error_rate: 'ratio',
  connections: 'connections',
  active_statements: 'statements',
  query_latency_p95: 'ms',
  query_error_rate: 'ratio',
};

/** Rises are what matter for latency, errors and connections; throughput matters both ways. */
const DIRECTIONS: Record<AnomalyMetric, 'up' | 'down' | 'both'> = {
  throughput: 'both',
  latency_p95: 'up',
  error_rate: 'up',
  connections: 'up',
  active_statements: 'up',
  query_latency_p95: 'up',
  query_error_rate: 'up',
};

/**
 * Floors under each series' spread, in its own unit, so a series that sat perfectly still (an
 * error rate of 0, a p95 that never moved) does not turn its first small wobble into an alert:
 * one failed statement in forty is not an error burst, and 0.1 ms is not a latency regression.
 */
// Latency floors are in ms: with minDeviation 4, p95 must rise at least 2 ms above its baseline to
// alert. Sub-millisecond lookups on a shared host wobble from 0.3 to 1.3 ms for seconds at a time
// (a checkpoint, a neighbour's burst); nobody acts on that, and real regressions are tens of ms.
const SPREAD_FLOORS: Record<AnomalyMetric, Pick<DetectorOptions, 'minSpread' | 'relativeSpreadFloor'>> = {
  throughput: { minSpread: 2, relativeSpreadFloor: 0.05 },
  latency_p95: { minSpread: 0.5, relativeSpreadFloor: 0.1 },
  error_rate: { minSpread: 0.02, relativeSpreadFloor: 0.1 },
  connections: { minSpread: 1, relativeSpreadFloor: 0.05 },
  active_statements: { minSpread: 1, relativeSpreadFloor: 0.1 },
  query_latency_p95: { minSpread: 0.5, relativeSpreadFloor: 0.1 },
  query_error_rate: { minSpread: 0.02, relativeSpreadFloor: 0.1 },
};

/**
 * What a detector is fed, smoothed against one-second flukes: latency as the median of the last
 * three seconds' p95 (one slow second from a GC pause or checkpoint is not a regression), error
 * rate as errors over statements in the last five seconds (three failures in one second of forty
 * statements is not a burst). Both still move within a second or two of a real change.
 */
class Smoother {
  private readonly values: number[] = [];
  private readonly errors: number[] = [];
  private readonly calls: number[] = [];

  median3(v: number): number {
    this.values.push(v);
    if (this.values.length > 3) this.values.shift();
    const s = [...this.values].sort((a, b) => a - b);
    return s[Math.floor((s.length - 1) / 2)]!;
  }

  rate5(errors: number, calls: number): { rate: number; calls: number } {
    this.errors.push(errors);
    this.calls.push(calls);
    if (this.calls.length > 5) {
      this.errors.shift();
      this.calls.shift();
    }
    const c = this.calls.reduce((a, b) => a + b, 0);
    return { rate: c ? this.errors.reduce((a, b) => a + b, 0) / c : 0, calls: c };
  }
}

class Watch {
  readonly detector: StreamingDetector;
  readonly smooth = new Smoother();
  alert: Anomaly | null = null;
  /** The detector's last output: its expected value is the current baseline. */
  last: DetectorOutput | null = null;
  constructor(
    readonly metric: AnomalyMetric,
    options: Partial<DetectorOptions>,
    readonly entry?: QueryStatsEntry,
  ) {
    this.detector = new StreamingDetector({ minDeviation: 4, calibrationClip: 3, ...SPREAD_FLOORS[metric], ...options, direction: DIRECTIONS[metric] });
  }
}

interface FingerprintWatch {
  readonly entry: QueryStatsEntry;
  readonly latency: Watch;
  readonly errors: Watch;
  /** Plan shape when it started being watched (EXPLAIN GENERIC_PLAN); undefined until known. */
  planBaseline?: string;
}

const EVIDENCE_TIMEOUT_MS = 3000;

export class AnomalyEngine {
  readonly options: EngineOptions;
  private readonly global: Record<'throughput' | 'latency_p95' | 'error_rate' | 'connections' | 'active_statements', Watch>;
  private readonly watched = new Map<QueryStatsEntry, FingerprintWatch>();
  private readonly open: Anomaly[] = [];
  private readonly closed: Anomaly[] = [];
  private nextId = 1;
  private incident = { id: 0, lastOpen: -Infinity };
  private ticks = 0;
  private timer: NodeJS.Timeout | null = null;
  private lastPoint: SecondPoint | null = null;
  /** Calls per entry at the last pick, to rank fingerprints by recent calls. */
  private readonly callsAtPick = new WeakMap<QueryStatsEntry, number>();

  constructor(
    private readonly src: EngineSources,
    options: Partial<EngineOptions> = {},
  ) {
    this.options = { ...DEFAULT_ENGINE_OPTIONS, ...options };
    const d = this.options.detector;
    this.global = {
      throughput: new Watch('throughput', d),
      latency_p95: new Watch('latency_p95', d),
      error_rate: new Watch('error_rate', d),
      connections: new Watch('connections', d),
      active_statements: new Watch('active_statements', d),
    };
  }

  /** Ticks at each wall-clock second boundary until stop(). */
  start(): void {
    if (this.timer) return;
    const schedule = () => {
      const now = Date.now();
      this.timer = setTimeout(() => {
        this.tick(Math.floor(Date.now() / 1000) * 1000 - 1000);
        schedule();
      }, 1000 - (now % 1000) + 1);
      this.timer.unref();
    };
    schedule();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Closes the second that started at `t` (epoch ms) and judges it. Public for tests and benches. */
  tick(t: number): SecondPoint {
    const view = this.src.view();
    const counters = view?.stats();
    const point = this.src.series.close(t, counters?.clientsActive ?? 0, counters?.serversActive ?? 0);
    this.src.errors.rotate();
    this.lastPoint = point;
    const g = this.global;
    const active = view ? view.clients().reduce((n, c) => n + (c.state === 'active' ? 1 : 0), 0) : 0;
    this.feed(g.throughput, point.qps, t, (out) => out.deviation > 0 || active > 0);
    if (point.qps > 0 && point.p95 !== null) this.feed(g.latency_p95, g.latency_p95.smooth.median3(point.p95), t);
    this.feedRate(g.error_rate, point.errors, point.qps, t);
    this.feed(g.connections, point.clients, t);
    // Statements in flight at the tick: a pile-up behind a lock or a slow plan shows here at once,
    // even while nothing completes and throughput alone is noisy.
    this.feed(g.active_statements, g.active_statements.smooth.median3(active), t);

    for (const w of this.watched.values()) {
      const sec = w.entry.second;
      if (sec === null) continue;
      if (sec.calls > 0) this.feed(w.latency, w.latency.smooth.median3(sec.latency.quantile(0.95) * 1000), t);
      this.feedRate(w.errors, sec.errors, sec.calls, t);
      sec.latency.reset();
      sec.calls = 0;
      sec.errors = 0;
    }
    if (++this.ticks % this.options.repickSeconds === 1) this.repick();
    return point;
  }

  /** Open alerts first (newest first), then closed ones (newest first). */
  list(opts: { limit?: number; openOnly?: boolean } = {}): Anomaly[] {
    const open = [...this.open].reverse();
    const all = opts.openOnly ? open : [...open, ...[...this.closed].reverse()];
    return all.slice(0, opts.limit ?? 100);
  }

  openCount(): number {
    return this.open.length;
  }

  lastSecond(): SecondPoint | null {
    return this.lastPoint;
  }

  private feedRate(w: Watch, errors: number, calls: number, t: number): void {
    const r = w.smooth.rate5(errors, calls);
    if (r.calls >= this.options.minCallsForRate) this.feed(w, r.rate, t);
  }

  /**
   * `publishable` lets a metric hold back an episode the detector opened (a throughput drop
   * while no client is waiting is the load ending, not an incident).
   */
  private feed(w: Watch, value: number, t: number, publishable?: (out: DetectorOutput) => boolean): void {
    const out = w.detector.update(value, t);
    w.last = out;
    if (w.alert) {
      const a = w.alert;
      if ((a.direction === 'up' && value > a.peak) || (a.direction === 'down' && value < a.peak)) a.peak = value;
      if (!out.open) this.close(w, t);
      return;
    }
    if (out.open && (publishable === undefined || publishable(out))) this.raise(w, out, t);
  }

  private raise(w: Watch, out: DetectorOutput, t: number): void {
    const now = t + 1000;
    if (now - this.incident.lastOpen > this.options.incidentSeconds * 1000) this.incident = { id: this.nextId, lastOpen: now };
    else this.incident.lastOpen = now;
    const e = w.entry;
    const a: Anomaly = {
      id: this.nextId++,
      incident: this.incident.id,
      metric: w.metric,
      unit: UNITS[w.metric],
      direction: out.deviation >= 0 ? 'up' : 'down',
      ...(e && { fingerprint: e.fingerprint, database: e.database, query: e.query }),
      expected: round(out.expected),
      actual: round(out.actual),
      peak: out.actual,
      score: round(out.score),
      severity: Math.abs(out.deviation) >= this.options.criticalDeviation ? 'critical' : 'warning',
      cause: 'unknown',
      evidence: [],
      openedAt: new Date(now).toISOString(),
      closedAt: null,
    };
    w.alert = a;
    this.open.push(a);
    void this.explain(a).then((evidence) => {
      a.evidence = evidence;
      a.cause = evidence[0]?.cause ?? 'unknown';
      const joined = a.incident !== a.id;
      this.src.log(joined ? 'info' : 'warn', joined ? 'anomaly (same incident)' : 'anomaly detected', {
        id: a.id,
        incident: a.incident,
        metric: a.metric,
        severity: a.severity,
        expected: a.expected,
        actual: a.actual,
        score: a.score,
        cause: a.cause,
        because: evidence[0]?.summary,
        ...(a.fingerprint && { fingerprint: a.fingerprint, database: a.database }),
      });
      this.src.onOpen?.(a);
    });
  }

  private close(w: Watch, t: number): void {
    const a = w.alert!;
    w.alert = null;
    a.closedAt = new Date(t + 1000).toISOString();
    a.peak = round(a.peak);
    this.open.splice(this.open.indexOf(a), 1);
    this.closed.push(a);
    if (this.closed.length > this.options.keepClosed) this.closed.shift();
    this.src.log('info', 'anomaly resolved', { id: a.id, metric: a.metric, openedAt: a.openedAt, ...(a.fingerprint && { fingerprint: a.fingerprint }) });
    this.src.onClose?.(a);
    // The plan after an incident is the one to compare the next incident with.
    if (a.fingerprint) {
      for (const fw of this.watched.values()) if (fw.entry.fingerprint === a.fingerprint && fw.entry.database === a.database) this.refreshPlan(fw);
    }
  }

  /** Gathers evidence for each cause that fits the metric, strongest first, within a time limit. */
  private async explain(a: Anomaly): Promise<Evidence[]> {
    const checks: Promise<Evidence | null>[] = [];
    const ev = (e: Evidence | null) => Promise.resolve(e);
    const connect = this.src.connect;
    const databases = this.databasesInPlay(a);
    const throughputExpected = this.global.throughput.alert?.expected ?? this.lastExpectedThroughput();

    if (a.metric === 'error_rate' || a.metric === 'query_error_rate') checks.push(ev(this.errorBurst()));
    if (a.metric === 'throughput' && a.direction === 'up') checks.push(ev(this.volumeSpike(a.actual, a.expected)));
    if (a.metric === 'connections') checks.push(ev(this.volumeSpike(this.lastPoint?.qps ?? 0, throughputExpected)));
    if (a.metric === 'latency_p95' || a.metric === 'query_latency_p95' || a.metric === 'active_statements' || (a.metric === 'throughput' && a.direction === 'down')) {
      checks.push(ev(this.newSlowFingerprint(a)));
      checks.push(ev(this.volumeSpike(this.lastPoint?.qps ?? 0, throughputExpected, 0.5)));
      if (connect) {
        for (const db of databases) checks.push(lockWaitEvidence(connect, db));
        checks.push(...this.planChanges(a));
      }
    }
    if (connect && databases.length && a.metric !== 'error_rate' && a.metric !== 'query_error_rate') {
      checks.push(saturationEvidence(connect, databases[0]!, this.connectErrorsDelta()));
    }
    const settled = await Promise.all(checks.map((c) => withTimeout(c, EVIDENCE_TIMEOUT_MS).catch((err: Error) => {
      this.src.log('debug', 'anomaly evidence check failed', { error: err.message });
      return null;
    })));
    return settled.filter((e): e is Evidence => e !== null && e.weight > 0).sort((x, y) => y.weight - x.weight);
  }

  private databasesInPlay(a: Anomaly): string[] {
    if (a.database) return [a.database];
    const dbs = new Map<string, number>();
    for (const c of this.src.view()?.clients() ?? []) {
      if (c.state === 'active') dbs.set(c.session.database, (dbs.get(c.session.database) ?? 0) + 1);
    }
    for (const w of this.watched.values()) if (!dbs.has(w.entry.database)) dbs.set(w.entry.database, 0);
    return [...dbs.entries()].sort((x, y) => y[1] - x[1]).slice(0, 3).map(([d]) => d);
  }

  private errorBurst(): Evidence | null {
    const top = this.src.errors.top(5);
    if (!top.length) return null;
    const total = top.reduce((n, e) => n + e.count, 0);
    return {
      cause: 'error_burst',
      weight: 0.9,
      // The summary goes to the log: SQLSTATEs only, as a server message can quote a statement's values.
      summary: `${total} errors in the last ${this.src.errors.seconds} s: ${top.map((e) => `${e.count}× ${e.sqlstate}`).join(', ')}`,
      details: { errors: top },
    };
  }

  private volumeSpike(actual: number, expected: number, minWeight = 0): Evidence | null {
    if (!(expected > 0) || actual < expected * 1.5 || actual - expected < 5) return null;
    const ratio = actual / expected;
    const weight = Math.min(0.85, 0.4 + ratio / 10);
    if (weight < minWeight) return null;
    return {
      cause: 'volume_spike',
      weight,
      summary: `throughput ${Math.round(actual)}/s against ${Math.round(expected)}/s expected (${ratio.toFixed(1)}×)`,
      details: { actual, expected, ratio, busiest: this.busiest(3).map((e) => ({ fingerprint: e.fingerprint, database: e.database, query: e.query })) },
    };
  }

  /** A fingerprint first seen in the minute before the anomaly that is slow against the baseline. */
  private newSlowFingerprint(a: Anomaly): Evidence | null {
    const now = Date.now();
    const since = Date.parse(a.openedAt) - 60_000;
    let best: { e: QueryStatsEntry; p95: number } | null = null;
    for (const e of this.src.stats.entries()) {
      if (e.firstSeen < since || e.calls === 0) continue;
      const p95 = e.sketch.getValueAtQuantile(0.95) * 1000;
      const baseline = this.global.latency_p95.last?.expected ?? 0;
      if (p95 > Math.max(2 * baseline, 1) && (!best || p95 > best.p95)) best = { e, p95 };
    }
    if (!best) return null;
    return {
      cause: 'new_slow_fingerprint',
      weight: 0.7,
      summary: `new statement ${best.e.fingerprint} first seen ${Math.round((now - best.e.firstSeen) / 1000)} s ago, p95 ${best.p95.toFixed(1)} ms`,
      details: { fingerprint: best.e.fingerprint, database: best.e.database, query: best.e.query, p95Ms: best.p95, calls: best.e.calls, firstSeen: new Date(best.e.firstSeen).toISOString() },
    };
  }

  /** Re-plans the affected fingerprints and compares with the plan they had when first watched. */
  private planChanges(a: Anomaly): Promise<Evidence | null>[] {
    const connect = this.src.connect!;
    const targets = [...this.watched.values()].filter((w) =>
      w.planBaseline !== undefined && (a.fingerprint ? w.entry.fingerprint === a.fingerprint && w.entry.database === a.database : true),
    );
    return targets.slice(0, 3).map(async (w) => {
      const now = await genericPlanShape(connect, w.entry.database, w.entry.query);
      if (!now || now === w.planBaseline) return null;
      return {
        cause: 'plan_change' as const,
        weight: 0.95,
        summary: `plan of ${w.entry.fingerprint} changed: ${w.planBaseline} → ${now}`,
        details: { fingerprint: w.entry.fingerprint, database: w.entry.database, query: w.entry.query, before: w.planBaseline, after: now },
      };
    });
  }

  private lastExpectedThroughput(): number {
    return this.global.throughput.last?.expected ?? 0;
  }

  private lastConnectErrors = 0;
  private connectErrorsDelta(): number {
    const now = this.src.view()?.stats().upstreamConnectErrors ?? 0;
    const d = now - this.lastConnectErrors;
    this.lastConnectErrors = now;
    return d;
  }

  private busiest(n: number): QueryStatsEntry[] {
    const ranked: { e: QueryStatsEntry; recent: number }[] = [];
    for (const e of this.src.stats.entries()) ranked.push({ e, recent: e.calls - (this.callsAtPick.get(e) ?? 0) });
    return ranked.sort((x, y) => y.recent - x.recent).slice(0, n).map((r) => r.e);
  }

  /** Gives the busiest fingerprints since the last pick their own per-second figures and detectors. */
  private repick(): void {
    const keep = new Set(this.busiest(this.options.watchedFingerprints).filter((e) => e.calls - (this.callsAtPick.get(e) ?? 0) > 0));
    for (const e of this.src.stats.entries()) this.callsAtPick.set(e, e.calls);
    for (const [e, w] of this.watched) {
      // An entry with an open alert stays watched until the alert closes.
      if (keep.has(e) || w.latency.alert || w.errors.alert) continue;
      e.second = null;
      this.watched.delete(e);
    }
    for (const e of keep) {
      if (this.watched.has(e)) continue;
      e.second = { latency: new LogHistogram(), calls: 0, errors: 0 };
      const d = this.options.detector;
      const fw: FingerprintWatch = { entry: e, latency: new Watch('query_latency_p95', d, e), errors: new Watch('query_error_rate', d, e) };
      this.watched.set(e, fw);
      this.refreshPlan(fw);
    }
  }

  private refreshPlan(fw: FingerprintWatch): void {
    const connect = this.src.connect;
    if (!connect || !explainable(fw.entry.kind)) return;
    genericPlanShape(connect, fw.entry.database, fw.entry.query).then(
      (shape) => {
        if (shape) fw.planBaseline = shape;
      },
      (err: Error) => this.src.log('debug', 'could not plan a watched statement', { fingerprint: fw.entry.fingerprint, error: err.message }),
    );
  }
}

function round(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
