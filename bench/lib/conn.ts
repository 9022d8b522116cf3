// How the benches reach a PostgreSQL endpoint: one set of credentials, many host:port fronts.
import pg from 'pg';

export interface ConnInfo {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
}

export function parseUrl(url: string): ConnInfo {
  const u = new URL(url);
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new Error(`not a postgres URL: ${url}`);
  return {
    host: u.hostname || '127.0.0.1',
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username || 'postgres'),
    password: u.password ? decodeURIComponent(u.password) : undefined,
    database: decodeURIComponent(u.pathname.slice(1)) || 'postgres',
  };
}

export function toUrl(c: ConnInfo): string {
  const auth = encodeURIComponent(c.user) + (c.password ? `:${encodeURIComponent(c.password)}` : '');
  return `postgres://${auth}@${c.host}:${c.port}/${encodeURIComponent(c.database)}?sslmode=disable`;
}

/** libpq environment for pgbench. TLS off everywhere so no target pays an extra SSLRequest round trip. */
export function libpqEnv(c: ConnInfo): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PGHOST: c.host, PGPORT: String(c.port), PGUSER: c.user, PGDATABASE: c.database, PGSSLMODE: 'disable',
  };
  if (c.password) env.PGPASSWORD = c.password;
  else delete env.PGPASSWORD;
  return env;
}

export function newClient(c: ConnInfo, timeoutMs = 5000): pg.Client {
  const client = new pg.Client({ ...c, ssl: false, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => {}); // a dropped idle session is reported by the caller's next query
  return client;
}

/** One full session: startup, auth, a query, terminate. Throws with the server's message. */
export async function probe(c: ConnInfo): Promise<void> {
  const client = newClient(c, 2000);
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Waits until a real session through host:port works. Gives up early when `gone`
 * resolves (the child serving that port died) or after timeoutMs.
 */
export async function waitReady(c: ConnInfo, gone: Promise<unknown>, timeoutMs = 30_000): Promise<void> {
  let died = false;
  void gone.then(() => { died = true; }, () => { died = true; });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await probe(c);
      return;
    } catch (err) {
      if (died) throw new Error('process exited before accepting connections');
      if (Date.now() > deadline) throw new Error(`not ready after ${timeoutMs} ms: ${(err as Error).message}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
