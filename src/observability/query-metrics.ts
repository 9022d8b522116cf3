// Per-statement Prometheus metrics. prom-client hashes the label object on every observe();
// at tens of thousands of statements a second that is most of the cost, so these metrics keep
// plain numbers in slots resolved once per statement kind and hand prom-client the values only
// when /metrics is scraped (a registry accepts any object with get()).
//
// No fingerprint or statement text is ever a label: that is the cardinality trap of
// postgres_exporter. Per-query figures are in the API instead.
import type { Registry } from 'prom-client';
import { registerScrapeMetric, type MetricType, type MetricValue } from './scrape-metric.ts';

/** Upper bounds in seconds: fine steps from 100 µs, where a proxied point lookup lands, to 30 s. */
export const DURATION_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** The operation label: a closed set, so the label never grows with the statements seen. */
export type Operation = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE' | 'MERGE' | 'COPY' | 'DDL' | 'TRANSACTION' | 'UTILITY' | 'OTHER';

const DIRECT = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'COPY', 'TRANSACTION']);
const DDL_PREFIX = /^(CREATE|ALTER|DROP|TRUNCATE|COMMENT|GRANT|REVOKE|RENAME|REINDEX|CLUSTER|SECURITY_LABEL|ALTER_)/;

/** Maps an analyzer kind (SELECT, CREATE_TABLE, SET, UNKNOWN, ...) to the operation label. */
export function operationOf(kind: string): Operation {
  if (DIRECT.has(kind)) return kind as Operation;
  if (kind === 'UNKNOWN' || kind === 'EMPTY' || kind === '') return 'OTHER';
  if (DDL_PREFIX.test(kind)) return 'DDL';
  return 'UTILITY';
}

class HistogramSlot {
  readonly buckets = new Float64Array(DURATION_BUCKETS.length);
  count = 0;
  sum = 0;
  constructor(readonly labels: Readonly<Record<string, string>>) {}

  observe(seconds: number): void {
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) {
      if (seconds <= DURATION_BUCKETS[i]!) {
        b[i]!++;
        break;
      }
    }
    this.count++;
    this.sum += seconds;
  }
}

/** One statement kind's resolved slots: found with one Map lookup per statement. */
interface KindSlots {
  readonly ok: HistogramSlot;
  readonly error: HistogramSlot;
  readonly rows: CounterSlot;
}

interface CounterSlot {
  value: number;
  readonly labels: Readonly<Record<string, string>>;
}

export class QueryMetrics {
  private readonly byKind = new Map<string, KindSlots>();
  private readonly byOperation = new Map<Operation, KindSlots>();
  private readonly errorsByClass = new Map<string, CounterSlot>();
  private responseBytes = 0;
  private slowQueries = 0;

  constructor(registry: Registry) {
    const metric = (name: string, help: string, type: MetricType, values: () => MetricValue[]) => registerScrapeMetric(registry, name, help, type, values);
    metric('helios_query_duration_seconds', 'Statement duration from sending it upstream to its completion, by operation and status.', 'histogram', () => this.histogramValues());
    metric('helios_query_errors_total', 'Failed statements by SQLSTATE class (two characters, e.g. 42, 57).', 'counter', () =>
      [...this.errorsByClass.values()].map((s) => ({ value: s.value, labels: s.labels })),
    );
    metric('helios_query_rows_total', 'Rows returned or affected, by operation.', 'counter', () =>
      [...this.byOperation.values()].map((s) => ({ value: s.rows.value, labels: s.rows.labels })),
    );
    metric('helios_query_response_bytes_total', 'Bytes of result messages (DataRow, CopyData, ...) sent back for statements.', 'counter', () => [
      { value: this.responseBytes, labels: {} },
    ]);
    metric('helios_slow_queries_total', 'Statements at or above the slow-query threshold.', 'counter', () => [{ value: this.slowQueries, labels: {} }]);
  }

  /** Records one finished statement. `sqlstate` undefined means success. */
  observe(kind: string, seconds: number, sqlstate: string | undefined, rows: number, bytes: number): void {
    const slots = this.byKind.get(kind) ?? this.slotsFor(kind);
    if (sqlstate === undefined) slots.ok.observe(seconds);
    else {
      slots.error.observe(seconds);
      const cls = sqlstate.length >= 2 ? sqlstate.slice(0, 2) : 'XX';
      const e = this.errorsByClass.get(cls);
      if (e !== undefined) e.value++;
      else this.errorsByClass.set(cls, { value: 1, labels: { sqlstate_class: cls } });
    }
    slots.rows.value += rows;
    this.responseBytes += bytes;
  }

  slowQuery(): void {
    this.slowQueries++;
  }

  private slotsFor(kind: string): KindSlots {
    const operation = operationOf(kind);
    let slots = this.byOperation.get(operation);
    if (slots === undefined) {
      slots = {
        ok: new HistogramSlot({ operation, status: 'ok' }),
        error: new HistogramSlot({ operation, status: 'error' }),
        rows: { value: 0, labels: { operation } },
      };
      this.byOperation.set(operation, slots);
    }
    // Kinds are a closed set from the parser, so this map stays small.
    this.byKind.set(kind, slots);
    return slots;
  }

  private histogramValues(): MetricValue[] {
    const out: MetricValue[] = [];
    for (const slots of this.byOperation.values()) {
      for (const s of [slots.ok, slots.error]) {
        if (s.count === 0) continue;
        let cumulative = 0;
        for (let i = 0; i < DURATION_BUCKETS.length; i++) {
          cumulative += s.buckets[i]!;
          out.push({ metricName: 'helios_query_duration_seconds_bucket', labels: { ...s.labels, le: DURATION_BUCKETS[i]! }, value: cumulative });
        }
        out.push({ metricName: 'helios_query_duration_seconds_bucket', labels: { ...s.labels, le: '+Inf' }, value: s.count });
        out.push({ metricName: 'helios_query_duration_seconds_sum', labels: s.labels, value: s.sum });
        out.push({ metricName: 'helios_query_duration_seconds_count', labels: s.labels, value: s.count });
      }
    }
    return out;
  }
}
