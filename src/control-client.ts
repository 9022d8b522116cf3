// Opens HeliosDB's own connection to the upstream (for migrations), honouring the URL's sslmode like libpq.
import pg from 'pg';
import type { ConnectionOptions } from 'node:tls';
import type { UpstreamTarget } from '../proxy/options.ts';

export interface ControlTarget {
  target: UpstreamTarget;
  user?: string;
  password?: string;
  database?: string;
}

function tlsOptions(t: UpstreamTarget): ConnectionOptions | false {
  const material = { ca: t.ca, cert: t.cert, key: t.key };
  switch (t.sslmode) {
    case 'disable':
    case 'allow':
      return false;
    case 'prefer':
    case 'require':
      return { ...material, rejectUnauthorized: false };
    case 'verify-ca':
      return { ...material, rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { ...material, rejectUnauthorized: true, servername: t.servername ?? t.host };
  }
}

/** Client settings for HeliosDB's own login; `ssl` defaults to what the target's sslmode asks for first. */
export function controlConfig(c: ControlTarget, ssl: ConnectionOptions | false = tlsOptions(c.target), applicationName = 'heliosdb-control'): pg.ClientConfig {
  return {
    host: c.target.host,
    port: c.target.port,
    user: c.user,
    password: c.password,
    database: c.database ?? c.user,
    ssl,
    application_name: applicationName,
    connectionTimeoutMillis: 10_000,
  };
}

async function open(c: ControlTarget, ssl: ConnectionOptions | false): Promise<pg.Client> {
  const client = new pg.Client(controlConfig(c, ssl));
  // A server going away between queries surfaces on the next query; unhandled, it would crash the process.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }
  return client;
}

export async function connectControl(c: ControlTarget): Promise<pg.Client> {
  const ssl = tlsOptions(c.target);
  try {
    return await open(c, ssl);
  } catch (err) {
    // prefer: a server without TLS is fine, as with libpq.
    if (c.target.sslmode === 'prefer' && /does not support SSL/i.test((err as Error).message)) return open(c, false);
    throw err;
  }
}
