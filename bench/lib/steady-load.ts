// A steady, paced load from inside the bench process: N pg connections, each issuing one
// statement on its own fixed schedule so the total is `rate` statements per second. A
// connection that falls behind (a slow or blocked statement) does not catch up in a burst: it
// resumes the schedule from now, as a fixed pool of application workers would. Statement
// errors are counted and never stop the load; a broken connection is reopened.
import type pg from 'pg';
import { newClient, type ConnInfo } from './conn.ts';

export interface SteadyLoadOptions {
  connections: number;
  /** Statements per second, all connections together. */
  rate: number;
  sql: string;
  params: () => unknown[];
}

export interface LoadCounters {
  ok: number;
  errors: number;
  /** Errors by SQLSTATE ('conn' for a broken connection). */
  byCode: Record<string, number>;
  reconnects: number;
}

export class SteadyLoad {
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly clients = new Set<pg.Client>();
  private readonly counters: LoadCounters = { ok: 0, errors: 0, byCode: {}, reconnects: 0 };

  constructor(
    private readonly conn: ConnInfo,
    readonly options: SteadyLoadOptions,
  ) {}

  /** Opens the connections (throws if the first cannot), then starts the schedules. */
  async start(): Promise<void> {
    if (this.running) return;
    const first: pg.Client[] = [];
    for (let i = 0; i < this.options.connections; i++) first.push(await this.connect());
    this.running = true;
    const interval = (1000 * this.options.connections) / this.options.rate;
    this.loops = first.map((c, i) => this.loop(c, interval, (interval * i) / this.options.connections));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    await Promise.all([...this.clients].map((c) => c.end().catch(() => {})));
    this.clients.clear();
  }

  /** A copy of the counters since start. */
  snapshot(): LoadCounters {
    return { ...this.counters, byCode: { ...this.counters.byCode } };
  }

  private async connect(): Promise<pg.Client> {
    const c = newClient(this.conn);
    await c.connect();
    this.clients.add(c);
    return c;
  }

  private async loop(client: pg.Client, intervalMs: number, offsetMs: number): Promise<void> {
    let next = Date.now() + offsetMs;
    let c: pg.Client | null = client;
    while (this.running) {
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      if (!this.running) break;
      if (!c) {
        try {
          c = await this.connect();
          this.counters.reconnects++;
        } catch {
          await sleep(1000);
          next = Date.now();
          continue;
        }
      }
      try {
        await c.query(this.options.sql, this.options.params());
        this.counters.ok++;
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        const key = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : 'conn';
        this.counters.errors++;
        this.counters.byCode[key] = (this.counters.byCode[key] ?? 0) + 1;
        if (key === 'conn') {
          // The session is gone (or in an unknown state): drop it and open a new one.
          this.clients.delete(c);
          void c.end().catch(() => {});
          c = null;
        }
      }
      next += intervalMs;
      const now = Date.now();
      if (next < now) next = now;
    }
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
