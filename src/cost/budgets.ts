// Budgets as the proxy enforces them: read from helios.budgets, reloaded when
// helios.set_budget / helios.remove_budget NOTIFY helios_budgets (and every 30 s, in case a
// notification was missed while the listening connection was down).
import type pg from 'pg';
import type { Period } from './spend-book.ts';

export interface Budget {
  tenant: string;
  limitUsd: number;
  period: Period;
  action: 'warn' | 'reject';
  /** Ascending percentages of the limit. */
  thresholds: number[];
  statementLimitUsd: number | null;
  updatedAt: string;
}

export const BUDGET_CHANNEL = 'helios_budgets';

/** SQLSTATEs HeliosDB raises (class YB: implementation-defined, HeliosDB budgets). */
export const SQLSTATE_BUDGET_EXHAUSTED = 'YB001';
export const SQLSTATE_STATEMENT_COST_LIMIT = 'YB002';

interface BudgetRow {
  tenant: string;
  limit_usd: string;
  period: Period;
  action: 'warn' | 'reject';
  thresholds: string[] | string;
  statement_limit_usd: string | null;
  updated_at: Date;
}

function parseNumericArray(v: string[] | string): number[] {
  const items = Array.isArray(v) ? v : v.replace(/[{}]/g, '').split(',').filter(Boolean);
  return items.map(Number).sort((a, b) => a - b);
}

export function budgetFromRow(r: BudgetRow): Budget {
  return {
    tenant: r.tenant,
    limitUsd: Number(r.limit_usd),
    period: r.period,
    action: r.action,
    thresholds: parseNumericArray(r.thresholds),
    statementLimitUsd: r.statement_limit_usd === null ? null : Number(r.statement_limit_usd),
    updatedAt: new Date(r.updated_at).toISOString(),
  };
}

export async function readBudgets(client: pg.Client): Promise<Budget[]> {
  const { rows } = await client.query<BudgetRow>(
    'SELECT tenant, limit_usd::text, period, action, thresholds::text[] AS thresholds, statement_limit_usd::text, updated_at FROM helios.budgets ORDER BY tenant',
  );
  return rows.map(budgetFromRow);
}

export interface BudgetInput {
  tenant: string;
  limitUsd: number;
  period?: Period;
  action?: 'warn' | 'reject';
  thresholds?: number[];
  statementLimitUsd?: number | null;
}

/** Sets a budget through helios.set_budget, so SQL, the API and the CLI share one validation. */
export async function setBudget(client: pg.Client, b: BudgetInput): Promise<Budget> {
  const { rows } = await client.query<BudgetRow>(
    `SELECT tenant, limit_usd::text, period, action, thresholds::text[] AS thresholds, statement_limit_usd::text, updated_at
       FROM helios.set_budget($1, $2::numeric, $3, $4, $5::numeric[], $6::numeric)`,
    [b.tenant, b.limitUsd, b.period ?? 'month', b.action ?? 'reject', b.thresholds ?? [50, 80, 95], b.statementLimitUsd ?? null],
  );
  return budgetFromRow(rows[0]!);
}

export async function removeBudget(client: pg.Client, tenant: string): Promise<boolean> {
  const { rows } = await client.query<{ removed: boolean }>('SELECT helios.remove_budget($1) AS removed', [tenant]);
  return rows[0]!.removed;
}

export class BudgetStore {
  private budgets = new Map<string, Budget>();
  loadedAt = 0;

  get(tenant: string): Budget | undefined {
    return this.budgets.get(tenant);
  }

  list(): Budget[] {
    return [...this.budgets.values()];
  }

  get size(): number {
    return this.budgets.size;
  }

  replace(all: readonly Budget[]): void {
    this.budgets = new Map(all.map((b) => [b.tenant, b]));
    this.loadedAt = Date.now();
  }

  async reload(client: pg.Client): Promise<void> {
    this.replace(await readBudgets(client));
  }
}
