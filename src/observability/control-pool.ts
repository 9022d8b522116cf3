// HeliosDB's own upstream connections for diagnostics (EXPLAIN, pg_locks, pg_stat_activity):
// one per database, opened on first use with the control credentials, with a statement
// timeout so a diagnostic can never hold a lock or run long on the user's server.
import type pg from 'pg';
import { connectControl, type ControlTarget } from '../control-client.ts';

export type ConnectDatabase = (database: string) => Promise<pg.Client>;

export interface ControlPool {
  /** A connection to `database`; rejects when no control target is configured or it cannot connect. */
  connect: ConnectDatabase;
  close(): Promise<void>;
}

export function createControlPool(target: () => ControlTarget | undefined, statementTimeoutMs = 5000): ControlPool {
  const clients = new Map<string, Promise<pg.Client>>();
  const open = async (database: string): Promise<pg.Client> => {
    const t = target();
    if (!t) throw new Error('no control connection configured');
    const client = await connectControl({ ...t, database });
    await client.query(`SET statement_timeout = ${Math.max(1, Math.floor(statementTimeoutMs))}; SET lock_timeout = 1000`);
    return client;
  };
  return {
    connect(database) {
      const cached = clients.get(database);
      if (cached) return cached;
      const p = open(database);
      clients.set(database, p);
      // A failed or broken connection leaves the cache, so the next use opens a fresh one.
      const forget = () => {
        if (clients.get(database) === p) clients.delete(database);
      };
      p.then((c) => {
        c.on('error', forget);
        c.on('end', forget);
      }, forget);
      return p;
    },
    async close() {
      const all = [...clients.values()];
      clients.clear();
      await Promise.all(all.map((p) => p.then((c) => c.end(), () => {}).catch(() => {})));
    },
  };
}
