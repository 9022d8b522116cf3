// What the global setup hands to every test file (through vitest's provide/inject).

export type PgKind = 'embedded' | 'container' | 'external';

export type AuthMethod = 'trust' | 'password' | 'md5' | 'scram-sha-256';

export interface TestRole {
  user: string;
  password: string;
  /** The method pg_hba.conf assigns this role when the harness controls the server. */
  method: AuthMethod;
}

export interface TestRoles {
  trust: TestRole;
  cleartext: TestRole;
  md5: TestRole;
  scram: TestRole;
  /** scram-sha-256 over TLS only; rejected without TLS, to prove a hop is encrypted. */
  tlsOnly: TestRole;
}

export interface TestPg {
  kind: PgKind;
  host: string;
  port: number;
  /** Superuser. */
  user: string;
  password: string;
  database: string;
  url: string;
  /** Whether the server accepts TLS. */
  serverTls: boolean;
  /** PEM of a CA that verifies the server's certificate (the test CA unless external). */
  serverCaCert: string | null;
  /** The server's own certificate and key (PEM) when the harness made them; null for an external server. */
  serverKeyPair: { cert: string; key: string } | null;
  /** The test CA, made per run: signs the server certificate (when the harness runs it) and the proxy's. */
  caCertPath: string;
  caCert: string;
  /** Certificate and key (PEM) for the proxy's own TLS termination; SAN localhost, 127.0.0.1, ::1. */
  proxyCertPath: string;
  proxyKeyPath: string;
  proxyCert: string;
  proxyKey: string;
  /** False in external mode: the server's own pg_hba.conf decides each role's method. */
  hbaControlled: boolean;
  /** False when the roles could not be created (external server, not superuser). */
  rolesCreated: boolean;
  roles: TestRoles;
  /** Scratch directory of this run, removed at teardown. */
  tmpDir: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    testPg: TestPg;
  }
}
