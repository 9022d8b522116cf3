// Uses a server someone else runs, named by HELIOS_TEST_PG_URL; the harness neither starts nor stops it.
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import type { RunningPg } from './running.ts';

export async function useExternal(url: string): Promise<RunningPg> {
  const u = new URL(url);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let serverTls: boolean;
  try {
    serverTls = (await client.query<{ ssl: string }>('SHOW ssl')).rows[0]?.ssl === 'on';
  } finally {
    await client.end();
  }
  // Only the operator knows which CA signed their server's certificate.
  const caFile = process.env.HELIOS_TEST_PG_CA;
  return {
    kind: 'external',
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.slice(1)) || decodeURIComponent(u.username),
    url,
    serverTls,
    serverCaCert: caFile ? await readFile(caFile, 'utf8') : null,
    serverKeyPair: null,
    hbaControlled: false,
    stop: async () => {},
  };
}
