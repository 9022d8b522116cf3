// postgres -c settings shared by every server the harness runs itself (embedded and container).

export interface ServerFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
  hbaFile: string;
}

export const SUPERUSER = 'postgres';
export const SUPERUSER_PASSWORD = 'helios-test-super';

export function serverSettings(files: ServerFiles): Record<string, string> {
  return {
    wal_level: 'logical',
    // One test opens 200 concurrent clients through the proxy, while other files run beside it.
    max_connections: '400',
    max_replication_slots: '32',
    max_wal_senders: '32',
    ssl: 'on',
    ssl_cert_file: files.certFile,
    ssl_key_file: files.keyFile,
    ssl_ca_file: files.caFile,
    hba_file: files.hbaFile,
    // The md5 role is deliberate; PostgreSQL 18 would warn about it on every connection.
    md5_password_warnings: 'off',
    // Buffer counts per statement for the cost engine's I/O figures.
    shared_preload_libraries: 'pg_stat_statements',
    // A throwaway server: durability only costs time.
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
  };
}

export function asFlags(settings: Record<string, string>): string[] {
  return Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
}
