import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { operationOf, QueryMetrics } from './query-metrics.ts';

describe('operationOf', () => {
  it('maps analyzer kinds to a closed set of operations', () => {
    expect(['SELECT', 'INSERT', 'COPY', 'TRANSACTION'].map(operationOf)).toEqual(['SELECT', 'INSERT', 'COPY', 'TRANSACTION']);
    expect(['CREATE_TABLE', 'ALTER_TABLE', 'DROP', 'TRUNCATE', 'GRANT'].map(operationOf)).toEqual(['DDL', 'DDL', 'DDL', 'DDL', 'DDL']);
    expect(['SET', 'SHOW', 'EXPLAIN', 'VACUUM'].map(operationOf)).toEqual(['UTILITY', 'UTILITY', 'UTILITY', 'UTILITY']);
    expect(['UNKNOWN', 'EMPTY'].map(operationOf)).toEqual(['OTHER', 'OTHER']);
  });
});

describe('QueryMetrics', () => {
  it('exposes cumulative duration buckets by operation and status, errors by SQLSTATE class, rows and bytes', async () => {
    const registry = new Registry();
    const m = new QueryMetrics(registry);
    m.observe('SELECT', 0.0002, undefined, 3, 100);
    m.observe('SELECT', 0.002, undefined, 1, 50);
    m.observe('SELECT', 40, '57014', 0, 0);
    m.observe('CREATE_TABLE', 0.01, '42P07', 0, 0);
    m.slowQuery();
    const text = await registry.metrics();
    expect(text).toContain('helios_query_duration_seconds_bucket{operation="SELECT",status="ok",le="0.0001"} 0');
    expect(text).toContain('helios_query_duration_seconds_bucket{operation="SELECT",status="ok",le="0.00025"} 1');
    expect(text).toContain('helios_query_duration_seconds_bucket{operation="SELECT",status="ok",le="0.0025"} 2');
    expect(text).toContain('helios_query_duration_seconds_bucket{operation="SELECT",status="ok",le="+Inf"} 2');
    expect(text).toContain('helios_query_duration_seconds_count{operation="SELECT",status="ok"} 2');
    expect(text).toContain('helios_query_duration_seconds_bucket{operation="SELECT",status="error",le="30"} 0');
    expect(text).toContain('helios_query_duration_seconds_bucket{operation="SELECT",status="error",le="+Inf"} 1');
    expect(text).toContain('helios_query_duration_seconds_count{operation="DDL",status="error"} 1');
    expect(text).toContain('helios_query_errors_total{sqlstate_class="57"} 1');
    expect(text).toContain('helios_query_errors_total{sqlstate_class="42"} 1');
    expect(text).toContain('helios_query_rows_total{operation="SELECT"} 4');
    expect(text).toContain('helios_query_response_bytes_total 150');
    expect(text).toContain('helios_slow_queries_total 1');
    expect(text).toContain('# TYPE helios_query_duration_seconds histogram');
    expect(text).not.toMatch(/fingerprint/);
  });
});
