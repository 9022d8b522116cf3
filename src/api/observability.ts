// /api/v1/observability/*: live figures, per-query statistics, slow statements, anomalies and
// traces, as JSON. Bad query parameters get a 400 naming the parameter.
import type { Observability } from '../observability/index.ts';
import { SORT_KEYS, type SortKey } from '../observability/query-stats.ts';
import { enumParam, intParam } from './params.ts';
import { ApiError, type ApiRoute } from './routes.ts';

export function observabilityRoutes(obs: () => Observability | undefined): Record<string, ApiRoute> {
  const hub = (): Observability => {
    const o = obs();
    if (!o) throw new ApiError(503, 'observability is not running yet');
    return o;
  };
  return {
    '/api/v1/observability/summary': (url) => {
      const o = hub();
      const seconds = intParam(url, 'seconds', 300, 1, 3600);
      const series = o.series.last(seconds);
      const latest = o.anomalies.lastSecond();
      return {
        now: new Date().toISOString(),
        latest,
        series,
        fingerprints: o.stats.count,
        anomaliesOpen: o.anomalies.openCount(),
      };
    },
    '/api/v1/observability/queries': (url) => {
      const o = hub();
      const sort = enumParam<SortKey>(url, 'sort', SORT_KEYS, 'total');
      const limit = intParam(url, 'limit', 50, 1, 1000);
      const database = url.searchParams.get('database') || undefined;
      return { sort, since: new Date(o.stats.resetAt).toISOString(), evicted: o.stats.evicted, queries: o.stats.top({ sort, limit, database }) };
    },
    '/api/v1/observability/slow-queries': (url) => {
      const o = hub();
      return { thresholdMs: o.slowLog.thresholdMs, statements: o.slowLog.list(intParam(url, 'limit', 100, 1, 500)) };
    },
    '/api/v1/observability/traces': (url) => {
      const o = hub();
      const minDurationMs = url.searchParams.get('minDurationMs');
      const min = minDurationMs === null || minDurationMs === '' ? undefined : Number(minDurationMs);
      if (min !== undefined && !(min >= 0)) throw new ApiError(400, 'query parameter "minDurationMs" must be a number >= 0');
      return {
        exporting: o.tracing.exporting,
        traces: o.tracing.store.list({
          limit: intParam(url, 'limit', 100, 1, 1000),
          minDurationMs: min,
          fingerprint: url.searchParams.get('fingerprint') || undefined,
          errorsOnly: enumParam(url, 'errors', ['0', '1'] as const, '0') === '1',
        }),
      };
    },
    '/api/v1/observability/traces/': (url) => {
      const id = url.pathname.slice('/api/v1/observability/traces/'.length);
      if (!/^[0-9a-f]{32}$/.test(id)) throw new ApiError(400, 'trace id must be 32 lowercase hex digits');
      const trace = hub().tracing.store.get(id);
      if (!trace) throw new ApiError(404, `no trace ${id} in memory (only the last ${hub().options.traceLimit} are kept)`);
      return trace;
    },
    '/api/v1/observability/anomalies': (url) => {
      const o = hub();
      const state = enumParam(url, 'state', ['open', 'all'] as const, 'all');
      return { anomalies: o.anomalies.list({ limit: intParam(url, 'limit', 100, 1, 1000), openOnly: state === 'open' }) };
    },
  };
}
