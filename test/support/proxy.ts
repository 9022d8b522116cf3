// Starts an in-process proxy in front of the test server, for end-to-end tests.
import type { Plugin } from '../../plugins/contract.ts';
import { createPlugins, type PluginSpec } from '../../plugins/index.ts';
import type { ProxyHandle, ProxyOptions, UpstreamTarget } from '../../proxy/options.ts';
import { startProxy } from '../../proxy/server.ts';
import { testPg } from '../harness/pg.ts';

export interface TestProxy extends ProxyHandle {
  /** Connection settings for drivers: the proxy's address with the test server's superuser. */
  readonly connection: { host: string; port: number; user: string; password: string; database: string };
  /** postgresql:// URL through the proxy for `user` (superuser by default). */
  url(user?: string, password?: string, database?: string): string;
}

export interface TestProxyOptions extends Partial<Omit<ProxyOptions, 'plugins' | 'upstream'>> {
  /** Built-in plugins by spec, and/or extra plugin instances (appended). */
  plugins?: PluginSpec;
  extraPlugins?: Plugin[];
  upstream?: Partial<UpstreamTarget>;
}

export async function startTestProxy(opts: TestProxyOptions = {}): Promise<TestProxy> {
  const { plugins = 'all', extraPlugins = [], upstream, ...rest } = opts;
  const handle = await startProxy({
    listenHost: '127.0.0.1',
    listenPort: 0,
    upstream: { host: testPg.host, port: testPg.port, sslmode: 'disable', ...upstream },
    plugins: [...createPlugins(plugins), ...extraPlugins],
    ...rest,
  });
  const connection = { host: '127.0.0.1', port: handle.port, user: testPg.user, password: testPg.password, database: testPg.database };
  return Object.assign(handle, {
    connection,
    url: (user = testPg.user, password = testPg.password, database = testPg.database) =>
      `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${handle.port}/${encodeURIComponent(database)}`,
  });
}
