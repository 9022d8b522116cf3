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
  /** The server's own certificate and key (PEM) when the harness made them; null for an external server. */
  serverKeyPair: { cert: string; key: string } | null;
  hbaControlled: boolean;
  stop(): Promise<void>;
}

export function pgUrl(user: string, password: string, host: string, port: number, database: string): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${h}:${port}/${encodeURIComponent(database)}`;
}
