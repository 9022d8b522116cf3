// Test-file side of the harness: the shared server's details and a client config built from them.
import type pg from 'pg';
import { inject } from 'vitest';
import type { TestPg, TestRole } from './types.ts';

export type { AuthMethod, PgKind, TestPg, TestRole, TestRoles } from './types.ts';

export const testPg: TestPg = inject('testPg');

export interface PgConfigOptions {
  /** Log in as this role instead of the superuser. */
  role?: TestRole;
  database?: string;
  /** Use TLS, verified against serverCaCert when there is one (verify-full). */
  tls?: boolean;
}

/** node-postgres config for a direct connection to the test server (not through the proxy). */
export function pgConfig(opts: PgConfigOptions = {}): pg.ClientConfig {
  const ca = testPg.serverCaCert;
  return {
    host: testPg.host,
    port: testPg.port,
    user: opts.role?.user ?? testPg.user,
    password: opts.role?.password ?? testPg.password,
    database: opts.database ?? testPg.database,
    ssl: opts.tls ? (ca ? { ca, rejectUnauthorized: true } : { rejectUnauthorized: false }) : false,
  };
}
