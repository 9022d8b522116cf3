// The login roles that exercise each authentication method, their pg_hba.conf, and how to create them.
import type pg from 'pg';
import type { TestRoles } from './types.ts';

export const TEST_ROLES: TestRoles = {
  trust: { user: 'helios_trust', password: 'trust-secret', method: 'trust' },
  cleartext: { user: 'helios_clear', password: 'clear-secret', method: 'password' },
  md5: { user: 'helios_md5', password: 'md5-secret', method: 'md5' },
  scram: { user: 'helios_scram', password: 'scram-secret', method: 'scram-sha-256' },
  tlsOnly: { user: 'helios_tls', password: 'tls-secret', method: 'scram-sha-256' },
};

/**
 * pg_hba.conf for a server the harness runs. `addresses` are the client addresses to match:
 * loopback for the embedded server, `all` for a container (clients arrive through Docker's bridge).
 * First match wins, so per-role lines come before the catch-all for roles tests create themselves.
 */
export function hbaConf(superuser: string, addresses: readonly string[]): string {
  const lines = ['# Written by test/harness; one rule per role and client address.', 'local all all trust'];
  const add = (type: string, db: string, user: string, method: string) => {
    for (const addr of addresses) lines.push(`${type} ${db} ${user} ${addr} ${method}`);
  };
  const { tlsOnly, ...plain } = TEST_ROLES;
  for (const role of Object.values(plain)) add('host', 'all', role.user, role.method);
  add('hostssl', 'all', tlsOnly.user, tlsOnly.method);
  add('hostnossl', 'all', tlsOnly.user, 'reject');
  add('host', 'all', superuser, 'scram-sha-256');
  add('host', 'replication', 'all', 'scram-sha-256');
  add('host', 'all', 'all', 'scram-sha-256');
  return lines.join('\n') + '\n';
}

function literal(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** Creates (or resets) every test role. Needs a superuser connection; idempotent for reused servers. */
export async function createRoles(client: pg.Client): Promise<void> {
  for (const role of Object.values(TEST_ROLES)) {
    const ident = client.escapeIdentifier(role.user);
    await client.query(
      `DO $$ BEGIN CREATE ROLE ${ident} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`,
    );
    // An md5 rule only sends an MD5 challenge when the stored verifier is MD5; otherwise it silently uses SCRAM.
    const encryption = role.method === 'md5' ? 'md5' : 'scram-sha-256';
    await client.query(`SET password_encryption = ${literal(encryption)}`);
    await client.query(`ALTER ROLE ${ident} LOGIN PASSWORD ${literal(role.password)}`);
  }
  await client.query('RESET password_encryption');
}
