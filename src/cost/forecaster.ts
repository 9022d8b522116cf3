// End-of-period spend forecasts per tenant, made about once a minute from the hourly spend in
// helios.cost_spend (all sidecars' spend) and written to helios.cost_forecasts, where
// helios.cost_forecast(tenant) and helios.budget_status() read them.
//
// Tenants with a budget are forecast for their budget's period, others for the month; only
// budgeted tenants and the busiest others are done, one at a time with a turn of the event loop
// between them, so a sidecar with many tenants never blocks its proxy for long.
import type pg from 'pg';
import type { BudgetStore } from './budgets.ts';
import { forecastPeriodEnd, hoursUntilPeriodEnd, type PeriodEndForecast } from './forecast/period-end.ts';
import { hourStart, periodEnd, periodStart, type Period, type SpendBook } from './spend-book.ts';

const HOUR_MS = 3_600_000;
const HISTORY_HOURS = 8 * 168;

export interface TenantForecast {
  tenant: string;
  period: Period;
  periodStart: string;
  periodEnd: string;
  spentUsd: number;
  forecastUsd: number;
  lower80Usd: number;
  upper80Usd: number;
  limitUsd: number | null;
  /** Probability-free reading: will the mean, or the upper bound, cross the limit? */
  overBudget: 'likely' | 'possible' | 'unlikely' | null;
  method: string;
  historyHours: number;
  computedAt: string;
}

export class Forecaster {
  private readonly latest = new Map<string, TenantForecast>();
  runs = 0;

  constructor(
    private readonly spend: SpendBook,
    private readonly budgets: BudgetStore,
    /** Busiest tenants without a budget that are forecast too. */
    private readonly maxUnbudgeted = 50,
  ) {}

  get(tenant: string): TenantForecast | undefined {
    return this.latest.get(tenant);
  }

  list(): TenantForecast[] {
    return [...this.latest.values()].sort((a, b) => a.tenant.localeCompare(b.tenant));
  }

  private tenantsToForecast(now: number): Array<{ tenant: string; period: Period }> {
    const out = this.budgets.list().map((b) => ({ tenant: b.tenant, period: b.period }));
    const budgeted = new Set(out.map((t) => t.tenant));
    const others = this.spend
      .names()
      .filter((t) => !budgeted.has(t))
      .map((t) => ({ tenant: t, spent: this.spend.spent(t, 'month', now) }))
      .filter((t) => t.spent > 0)
      .sort((a, b) => b.spent - a.spent)
      .slice(0, this.maxUnbudgeted);
    for (const o of others) out.push({ tenant: o.tenant, period: 'month' });
    return out;
  }

  /** Forecasts every tenant due and stores the results; `only` limits it to one tenant. */
  async run(client: pg.Client, now = Date.now(), only?: string): Promise<TenantForecast[]> {
    let wanted = this.tenantsToForecast(now);
    if (only !== undefined) {
      wanted = wanted.filter((t) => t.tenant === only);
      if (wanted.length === 0 && this.spend.has(only)) wanted = [{ tenant: only, period: this.budgets.get(only)?.period ?? 'month' }];
    }
    if (wanted.length === 0) return [];
    const lastComplete = hourStart(now) - HOUR_MS;
    const from = lastComplete - (HISTORY_HOURS - 1) * HOUR_MS;
    const { rows } = await client.query<{ tenant: string; hour: Date; cost: number }>(
      `SELECT tenant, hour, cost_usd AS cost FROM helios.cost_spend
        WHERE tenant = ANY($1::text[]) AND hour >= $2::timestamptz AND hour <= $3::timestamptz ORDER BY tenant, hour`,
      [wanted.map((w) => w.tenant), new Date(from).toISOString(), new Date(lastComplete).toISOString()],
    );
    const byTenant = new Map<string, Array<{ hour: number; cost: number }>>();
    for (const r of rows) {
      let list = byTenant.get(r.tenant);
      if (!list) byTenant.set(r.tenant, (list = []));
      list.push({ hour: new Date(r.hour).getTime(), cost: Number(r.cost) });
    }
    const results: TenantForecast[] = [];
    for (const w of wanted) {
      const points = byTenant.get(w.tenant) ?? [];
      // From the tenant's first hour of spend: hours before it existed are not hours of zero spend.
      const first = points.length ? points[0]!.hour : lastComplete + HOUR_MS;
      const hourly = new Float64Array(Math.max(0, (lastComplete - first) / HOUR_MS + 1));
      for (const p of points) hourly[(p.hour - first) / HOUR_MS] += p.cost;
      const f = forecastPeriodEnd({ hourly, spentSoFar: this.spend.spent(w.tenant, w.period, now), hoursRemaining: hoursUntilPeriodEnd(now, w.period) });
      results.push(this.store(w.tenant, w.period, f, now));
      await new Promise((r) => setImmediate(r));
    }
    await this.save(client, results);
    this.runs++;
    return results;
  }

  private store(tenant: string, period: Period, f: PeriodEndForecast, now: number): TenantForecast {
    const limit = this.budgets.get(tenant)?.limitUsd ?? null;
    const t: TenantForecast = {
      tenant,
      period,
      periodStart: new Date(periodStart(period, now)).toISOString(),
      periodEnd: new Date(periodEnd(period, now)).toISOString(),
      spentUsd: f.mean - f.remaining.mean,
      forecastUsd: f.mean,
      lower80Usd: f.lower80,
      upper80Usd: f.upper80,
      limitUsd: limit,
      overBudget: limit === null ? null : f.mean >= limit ? 'likely' : f.upper80 >= limit ? 'possible' : 'unlikely',
      method: f.method,
      historyHours: f.historyHours,
      computedAt: new Date(now).toISOString(),
    };
    this.latest.set(tenant, t);
    return t;
  }

  private async save(client: pg.Client, results: TenantForecast[]): Promise<void> {
    if (results.length === 0) return;
    await client.query(
      `INSERT INTO helios.cost_forecasts AS f (tenant, period, period_start, period_end, spent_usd, forecast_usd, lower80_usd, upper80_usd, method, computed_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::text[], $10::timestamptz[])
       ON CONFLICT (tenant) DO UPDATE SET period = excluded.period, period_start = excluded.period_start, period_end = excluded.period_end,
         spent_usd = excluded.spent_usd, forecast_usd = excluded.forecast_usd, lower80_usd = excluded.lower80_usd,
         upper80_usd = excluded.upper80_usd, method = excluded.method, computed_at = excluded.computed_at`,
      [
        results.map((r) => r.tenant),
        results.map((r) => r.period),
        results.map((r) => r.periodStart),
        results.map((r) => r.periodEnd),
        results.map((r) => r.spentUsd),
        results.map((r) => r.forecastUsd),
        results.map((r) => r.lower80Usd),
        results.map((r) => r.upper80Usd),
        results.map((r) => r.method),
        results.map((r) => r.computedAt),
      ],
    );
  }
}
