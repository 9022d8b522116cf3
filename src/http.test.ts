import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Plugin, ProxyCounters, ProxyView } from '../plugins/contract.ts';
import { createQueryCounter } from '../plugins/query-counter.ts';
import { startHttpServer, type HttpServer, type Readiness } from './http.ts';
import { createMetrics } from './metrics.ts';

const counters: ProxyCounters = {
  clientsAccepted: 7,
  clientsActive: 2,
  serversActive: 2,
  upstreamConnectErrors: 1,
  protocolErrors: 3,
  bytesFromClients: 1000,
  bytesFromServers: 5000,
  queries: 12,
  denied: 4,
  startedAt: Date.now(),
};
const view: ProxyView = { clients: () => [], servers: () => [], stats: () => counters };
const queryCounter = createQueryCounter();
let plugins: readonly Plugin[] = [queryCounter];
let readiness: Readiness = { ready: true, checks: { proxy: 'ok', upstream: 'ok', controlSchema: 'ok' } };

let server: HttpServer;
const metrics = createMetrics({ view: () => view, plugins: () => plugins });

beforeAll(async () => {
  server = await startHttpServer({ host: '127.0.0.1', port: 0, registry: metrics.registry, readiness: async () => readiness });
});
afterAll(() => server.close());

const get = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init);

describe('HTTP endpoint', () => {
  it('/healthz answers ok', async () => {
    const res = await get('/healthz');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('/readyz is 200 when ready and 503 with the reason when not', async () => {
    let res = await get('/readyz');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ready' });

    readiness = { ready: false, reason: 'upstream unreachable: ECONNREFUSED', checks: { proxy: 'ok', upstream: 'unreachable: ECONNREFUSED' } };
    res = await get('/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'not ready', reason: 'upstream unreachable: ECONNREFUSED', checks: readiness.checks });
  });

  it('/metrics serves the proxy counters, query kinds and process metrics as Prometheus text', async () => {
    const q = (kind: string) => ({ kind, phase: 'execute' }) as Parameters<NonNullable<Plugin['onQuery']>>[0];
    queryCounter.onQuery!(q('SELECT'));
    queryCounter.onQuery!(q('SELECT'));
    queryCounter.onQuery!(q('INSERT'));
    metrics.onUpstreamConnect(0.003, true);
    metrics.onUpstreamConnect(2, false);

    const res = await get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(metrics.registry.contentType);
    const text = await res.text();
    for (const line of [
      'helios_client_connections 2',
      'helios_client_connections_accepted_total 7',
      'helios_upstream_connections 2',
      'helios_upstream_connect_errors_total 1',
      'helios_client_received_bytes_total 1000',
      'helios_upstream_received_bytes_total 5000',
      'helios_protocol_errors_total 3',
      'helios_denied_statements_total 4',
      'helios_queries_total{kind="SELECT"} 2',
      'helios_queries_total{kind="INSERT"} 1',
      'helios_upstream_connect_duration_seconds_count{outcome="ok"} 1',
      'helios_upstream_connect_duration_seconds_bucket{le="0.005",outcome="ok"} 1',
      'helios_upstream_connect_duration_seconds_count{outcome="error"} 1',
    ]) {
      expect(text).toContain(`\n${line}\n`);
    }
    expect(text).toContain('# TYPE helios_queries_total counter');
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
  });

  it('/metrics follows the current plugin list', async () => {
    plugins = [];
    const text = await (await get('/metrics')).text();
    expect(text).not.toContain('helios_queries_total{');
    plugins = [queryCounter];
  });

  it('unknown paths get 404 and other methods 405, as JSON', async () => {
    let res = await get('/nope');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'not found' });
    res = await get('/metrics', { method: 'POST', body: 'x' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    expect(await res.json()).toEqual({ error: 'method not allowed' });
  });

  it('ignores the query string', async () => {
    expect((await get('/healthz?verbose=1')).status).toBe(200);
  });

  it('reports a taken port as a clear error', async () => {
    await expect(
      startHttpServer({ host: '127.0.0.1', port: server.port, registry: metrics.registry, readiness: async () => readiness }),
    ).rejects.toThrow(`cannot listen for HTTP on 127.0.0.1:${server.port}: address already in use`);
  });
});
