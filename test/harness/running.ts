// The shape every server source (embedded, container, external) reports back to the global setup.
import type { TestPg } from './types.ts';

export type RunningPg = Pick<
  TestPg,
  'kind' | 'host' | 'port' | 'user' | 'password' | 'database' | 'url' | 'serverTls' | 'serverCaCert' | 'serverKeyPair' | 'hbaControlled'
> & { stop(): Promise<void> };

export function pgUrl(user: string, password: string, host: string, port: number, database: string): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${h}:${port}/${encodeURIComponent(database)}`;
}
