// Spend per tenant: added in memory as statements complete, flushed to helios.cost_spend as
// per-hour deltas (so several sidecars on one database add up), and read back after each flush
// so every sidecar sees the others' spend. A budget check reads memory only.
//
// Spend between the last flush and a crash is lost (at most one flush interval, a second by
// default); a failed flush keeps its deltas and retries them with the next one.
import type pg from 'pg';
import { RESOURCES, type Cost } from './usage.ts';

export type Period = 'day' | 'month';
export const PERIODS: readonly Period[] = ['day', 'month'];
const HOUR_MS = 3_600_000;

export function periodStart(period: Period, t: number): number {
  const d = new Date(t);
  return period === 'day' ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) : Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

export function periodEnd(period: Period, t: number): number {
  const d = new Date(periodStart(period, t));
  return period === 'day' ? d.getTime() + 24 * HOUR_MS : Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

export function hourStart(t: number): number {
  return t - (t % HOUR_MS);
}

interface Delta extends Cost {
  statements: number;
  rejected: number;
}

function emptyDelta(): Delta {
  return { compute: 0, io: 0, scanned: 0, egress: 0, total: 0, statements: 0, rejected: 0 };
}

/** A tenant's figures for one period, from the database plus what is not flushed yet. */
export interface PeriodSpend extends Cost {
  statements: number;
  rejected: number;
}

interface Synced {
  start: number;
  spend: PeriodSpend;
}

class TenantSpend {
  pending = new Map<number, Delta>();
  flushing: Map<number, Delta> | null = null;
  readonly synced: Record<Period, Synced | null> = { day: null, month: null };
  lastActive = 0;
}

function addTo(into: Delta | PeriodSpend, d: Delta): void {
  into.compute += d.compute;
  into.io += d.io;
  into.scanned += d.scanned;
  into.egress += d.egress;
  into.total += d.total;
  into.statements += d.statements;
  into.rejected += d.rejected;
}

interface SyncRow {
  tenant: string;
  period: Period;
  total: number;
  compute: number;
  io: number;
  scanned: number;
  egress: number;
  statements: string;
  rejected: string;
}

export class SpendBook {
  private readonly tenants = new Map<string, TenantSpend>();
  lastSyncAt = 0;
  lastSyncError: string | undefined;

  private tenant(name: string): TenantSpend {
    let t = this.tenants.get(name);
    if (!t) {
      t = new TenantSpend();
      this.tenants.set(name, t);
    }
    return t;
  }

  has(name: string): boolean {
    return this.tenants.has(name);
  }

  get size(): number {
    return this.tenants.size;
  }

  names(): string[] {
    return [...this.tenants.keys()];
  }

  add(tenant: string, cost: Cost, at = Date.now()): void {
    const t = this.tenant(tenant);
    const hour = hourStart(at);
    let d = t.pending.get(hour);
    if (!d) t.pending.set(hour, (d = emptyDelta()));
    d.compute += cost.compute;
    d.io += cost.io;
    d.scanned += cost.scanned;
    d.egress += cost.egress;
    d.total += cost.total;
    d.statements++;
    t.lastActive = at;
  }

  reject(tenant: string, at = Date.now()): void {
    const t = this.tenant(tenant);
    const hour = hourStart(at);
    let d = t.pending.get(hour);
    if (!d) t.pending.set(hour, (d = emptyDelta()));
    d.rejected++;
  }

  /** Dollars spent by `tenant` in the current `period`. */
  spent(tenant: string, period: Period, now = Date.now()): number {
    const t = this.tenants.get(tenant);
    if (!t) return 0;
    const start = periodStart(period, now);
    const s = t.synced[period];
    let total = s && s.start === start ? s.spend.total : 0;
    for (const [hour, d] of t.pending) if (hour >= start) total += d.total;
    if (t.flushing) for (const [hour, d] of t.flushing) if (hour >= start) total += d.total;
    return total;
  }

  /** Full figures for the current period. */
  period(tenant: string, period: Period, now = Date.now()): PeriodSpend {
    const out: PeriodSpend = { compute: 0, io: 0, scanned: 0, egress: 0, total: 0, statements: 0, rejected: 0 };
    const t = this.tenants.get(tenant);
    if (!t) return out;
    const start = periodStart(period, now);
    const s = t.synced[period];
    if (s && s.start === start) addTo(out, s.spend as Delta);
    for (const [hour, d] of t.pending) if (hour >= start) addTo(out, d);
    if (t.flushing) for (const [hour, d] of t.flushing) if (hour >= start) addTo(out, d);
    return out;
  }

  /** Adds unflushed deltas to helios.cost_spend, then reads every tenant's current-period totals back. */
  async sync(client: pg.Client, now = Date.now()): Promise<void> {
    const rows: { tenant: string; hour: number; d: Delta }[] = [];
    for (const [name, t] of this.tenants) {
      // A flush that failed left its deltas in `flushing`: they go again with the new ones.
      const batch = t.flushing ?? new Map<number, Delta>();
      for (const [hour, d] of t.pending) {
        const into = batch.get(hour);
        if (into) addTo(into, d);
        else batch.set(hour, d);
      }
      t.pending = new Map();
      t.flushing = batch.size ? batch : null;
      for (const [hour, d] of batch) rows.push({ tenant: name, hour, d });
    }
    try {
      if (rows.length) {
        await client.query(
          `INSERT INTO helios.cost_spend AS s (tenant, hour, cost_usd, compute_usd, io_usd, scanned_usd, egress_usd, statements, rejected)
           SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::int8[], $9::int8[])
           ON CONFLICT (tenant, hour) DO UPDATE SET
             cost_usd = s.cost_usd + excluded.cost_usd, compute_usd = s.compute_usd + excluded.compute_usd,
             io_usd = s.io_usd + excluded.io_usd, scanned_usd = s.scanned_usd + excluded.scanned_usd,
             egress_usd = s.egress_usd + excluded.egress_usd, statements = s.statements + excluded.statements,
             rejected = s.rejected + excluded.rejected`,
          [
            rows.map((r) => r.tenant),
            rows.map((r) => new Date(r.hour).toISOString()),
            rows.map((r) => r.d.total),
            rows.map((r) => r.d.compute),
            rows.map((r) => r.d.io),
            rows.map((r) => r.d.scanned),
            rows.map((r) => r.d.egress),
            rows.map((r) => r.d.statements),
            rows.map((r) => r.d.rejected),
          ],
        );
      }
    } catch (err) {
      this.lastSyncError = (err as Error).message;
      throw err;
    }
    // Persisted: until the read-back lands, count the flushed deltas into the synced figures.
    for (const t of this.tenants.values()) {
      if (!t.flushing) continue;
      for (const period of PERIODS) {
        const start = periodStart(period, now);
        const s = t.synced[period];
        if (!s || s.start !== start) t.synced[period] = { start, spend: { compute: 0, io: 0, scanned: 0, egress: 0, total: 0, statements: 0, rejected: 0 } };
        for (const [hour, d] of t.flushing) if (hour >= start) addTo(t.synced[period]!.spend, d);
      }
      t.flushing = null;
    }
    await this.readBack(client, now);
    this.lastSyncAt = now;
    this.lastSyncError = undefined;
  }

  private async readBack(client: pg.Client, now: number): Promise<void> {
    const dayStart = periodStart('day', now);
    const monthStart = periodStart('month', now);
    const sums = RESOURCES.map((r) => `sum(${r}_usd) FILTER (WHERE hour >= p.start) AS ${r}`).join(', ');
    const { rows } = await client.query<SyncRow>(
      `SELECT tenant, p.period, sum(cost_usd) FILTER (WHERE hour >= p.start) AS total, ${sums},
              sum(statements) FILTER (WHERE hour >= p.start)::text AS statements, sum(rejected) FILTER (WHERE hour >= p.start)::text AS rejected
         FROM helios.cost_spend
         CROSS JOIN (VALUES ('day', $1::timestamptz), ('month', $2::timestamptz)) AS p(period, start)
        WHERE hour >= least($1::timestamptz, $2::timestamptz)
        GROUP BY tenant, p.period`,
      [new Date(dayStart).toISOString(), new Date(monthStart).toISOString()],
    );
    const seen = new Set<string>();
    for (const r of rows) {
      const t = this.tenant(r.tenant);
      seen.add(r.tenant);
      t.synced[r.period] = {
        start: r.period === 'day' ? dayStart : monthStart,
        spend: {
          total: Number(r.total ?? 0),
          compute: Number(r.compute ?? 0),
          io: Number(r.io ?? 0),
          scanned: Number(r.scanned ?? 0),
          egress: Number(r.egress ?? 0),
          statements: Number(r.statements ?? 0),
          rejected: Number(r.rejected ?? 0),
        },
      };
    }
    // Nothing in the database for the current periods: a new period began, or the rows were deleted.
    for (const [name, t] of this.tenants) {
      if (seen.has(name)) continue;
      t.synced.day = { start: dayStart, spend: { compute: 0, io: 0, scanned: 0, egress: 0, total: 0, statements: 0, rejected: 0 } };
      t.synced.month = { start: monthStart, spend: { compute: 0, io: 0, scanned: 0, egress: 0, total: 0, statements: 0, rejected: 0 } };
    }
  }
}
