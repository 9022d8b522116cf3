// Starts an in-process proxy in front of the test server, for end-to-end tests.
import type { Plugin } from '../../plugins/contract.ts';
import { Registry } from 'prom-client';
import { createPlugins, type PluginSpec } from '../../plugins/index.ts';
import type { CostEngine } from '../../src/cost/index.ts';
import type { WebhookService } from '../../src/webhooks/service.ts';
import { DEFAULT_OBSERVABILITY_OPTIONS, Observability, type ObservabilityOptions } from '../../src/observability/index.ts';
import type { ProxyHandle, ProxyOptions, UpstreamTarget } from '../../proxy/options.ts';
import { startProxy } from '../../proxy/server.ts';
import { testPg } from '../harness/pg.ts';

export interface TestProxy extends ProxyHandle {
  /** Connection settings for drivers: the proxy's address with the test server's superuser. */
  readonly connection: { host: string; port: number; user: string; password: string; database: string };
  /** postgresql:// URL through the proxy for `user` (superuser by default). */
  url(user?: string, password?: string, database?: string): string;
  /** The hub the built-in plugins feed; its anomaly timer is off unless asked for. */
  readonly observability: Observability;
}

export interface TestProxyOptions extends Partial<Omit<ProxyOptions, 'plugins' | 'upstream'>> {
  /** Built-in plugins by spec, and/or extra plugin instances (appended). */
  plugins?: PluginSpec;
  extraPlugins?: Plugin[];
  upstream?: Partial<UpstreamTarget>;
  observability?: Partial<ObservabilityOptions>;
  /** A running cost engine for the cost and budget plugins (left out of 'all' without one). */
  cost?: CostEngine;
  /** A running webhook service for the webhooks plugin and SHOW helios.webhooks / helios.cdc (left out of 'all' without one). */
  webhooks?: WebhookService;
}

export async function startTestProxy(opts: TestProxyOptions = {}): Promise<TestProxy> {
  const { plugins = 'all', extraPlugins = [], upstream, observability: obsOptions, cost, webhooks, ...rest } = opts;
  let view: ProxyHandle['view'] | undefined;
  const upstreamAddress = { host: upstream?.host ?? testPg.host, port: upstream?.port ?? testPg.port };
  const observability = new Observability(
    {
      registry: new Registry(),
      view: () => view,
      control: () => ({ target: { host: testPg.host, port: testPg.port, sslmode: 'disable' }, user: testPg.user, password: testPg.password, database: testPg.database }),
      upstream: () => upstreamAddress,
      log: () => {},
    },
    { ...DEFAULT_OBSERVABILITY_OPTIONS, anomalies: false, ...obsOptions },
  );
  const handle = await startProxy({
    listenHost: '127.0.0.1',
    listenPort: 0,
    upstream: { host: testPg.host, port: testPg.port, sslmode: 'disable', ...upstream },
    plugins: [...createPlugins(plugins, { observability, cost, webhooks }), ...extraPlugins],
    ...rest,
  });
  view = handle.view;
  const close = handle.close.bind(handle);
  const drain = handle.drain.bind(handle);
  const connection = { host: '127.0.0.1', port: handle.port, user: testPg.user, password: testPg.password, database: testPg.database };
  return Object.assign(handle, {
    connection,
    observability,
    close: async () => {
      await close();
      await observability.close();
    },
    drain: async (timeoutMs?: number) => {
      await drain(timeoutMs);
      await observability.close();
    },
    url: (user = testPg.user, password = testPg.password, database = testPg.database) =>
      `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${handle.port}/${encodeURIComponent(database)}`,
  });
}
