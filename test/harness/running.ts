// The shape every server source (embedded, container, external) reports back to the global setup.
import type { PgKind } from './types.ts';

export interface RunningPg {
  kind: PgKind;
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  url: string;
  serverTls: boolean;
  serverCaCert: string | null;
  hbaControlled: boolean;
  stop(): Promise<void>;
}

export function pgUrl(user: string, password: string, host: string, port: number, database: string): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${h}:${port}/${encodeURIComponent(database)}`;
}
