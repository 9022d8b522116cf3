import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createPlugins, type PluginSpec } from '../plugins/index.ts';
import type { HeliosConfig } from './config.ts';
import { DEFAULT_OBSERVABILITY_OPTIONS, Observability } from './observability/index.ts';
import { planReload as planReloadWith } from './reload.ts';

const observability = new Observability(
  { registry: new Registry(), view: () => undefined, control: () => undefined, upstream: () => ({ host: 'db', port: 5432 }), log: () => {} },
  { ...DEFAULT_OBSERVABILITY_OPTIONS, anomalies: false },
);
const planReload = (current: HeliosConfig, next: HeliosConfig, mode: 'up' | 'proxy') =>
  planReloadWith(current, next, mode, (spec: PluginSpec) => createPlugins(spec, { observability }));

const base: HeliosConfig = {
  listen: { host: '127.0.0.1', port: 6432 },
  http: { host: '127.0.0.1', port: 9187 },
  plugins: 'all',
  data: '/data',
  drainTimeoutSeconds: 30,
  logLevel: 'info',
  slowQueryMs: 1000,
  traceQueryText: 'normalized',
  traceLimit: 1000,
  planThresholdMs: 1000,
  rateCard: 'aurora-standard',
  costTenant: ['tag', 'role'],
  costStatementLimitUsd: null,
  cdc: { enabled: true, slot: 'helios_cdc', publication: 'helios_cdc', schemas: ['public'] },
  webhooks: { lanes: 4, timeoutMs: 15_000, leaseMs: 30_000, retryDelaysMs: [5000], pollMs: 500 },
  ledger: { enabled: true, origin: 'heliosdb.local/ledger', rows: false, tables: [], fullText: false, witnesses: [], witnessQuorum: 0, checkpointMs: 10_000 },
  upstream: { target: { host: 'db', port: 5432, sslmode: 'prefer' }, display: 'postgresql://db' },
};

describe('planReload', () => {
  it('changes nothing when nothing changed', () => {
    expect(planReload(base, { ...base }, 'proxy')).toEqual({ config: base, patch: {}, applied: [], restartNeeded: [] });
  });

  it('hands reloadable settings to the proxy and keeps restart-only ones as they run', () => {
    const next: HeliosConfig = {
      ...base,
      listen: { host: '0.0.0.0', port: 6432 },
      plugins: ['query-counter'],
      tls: { cert: 'C', key: 'K' },
      drainTimeoutSeconds: 5,
      maxMessageBytes: 1024,
      logLevel: 'debug',
    };
    const plan = planReload(base, next, 'proxy');
    expect(plan.patch).toEqual({
      plugins: [expect.objectContaining({ name: 'query-counter' })],
      tls: { cert: 'C', key: 'K' },
      drainTimeoutMs: 5000,
      maxMessageBytes: 1024,
    });
    expect(plan.applied.sort()).toEqual(['drainTimeoutSeconds', 'logLevel', 'maxMessageBytes', 'plugins', 'tls']);
    expect(plan.restartNeeded).toEqual(['listen']);
    expect(plan.config).toEqual({ ...next, listen: base.listen });
  });

  it('switches the upstream for helios proxy only', () => {
    const next: HeliosConfig = { ...base, upstream: { target: { host: 'db2', port: 5432, sslmode: 'require' }, display: 'postgresql://db2' } };
    expect(planReload(base, next, 'proxy').patch).toEqual({ upstream: next.upstream!.target });
    expect(planReload(base, next, 'up')).toMatchObject({ patch: {}, applied: [], restartNeeded: [] });
  });

  it('needs a restart to turn TLS off', () => {
    const withTls: HeliosConfig = { ...base, tls: { cert: 'C', key: 'K' } };
    const plan = planReload(withTls, base, 'proxy');
    expect(plan.patch).toEqual({});
    expect(plan.restartNeeded).toEqual(['tls (turning it off)']);
    expect(plan.config.tls).toEqual(withTls.tls);
  });
});
