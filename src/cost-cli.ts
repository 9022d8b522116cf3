// `helios budget ...` and `helios cost ...`: budgets and spend of a running sidecar, through its REST API.
import { call, parseApiCommand, table } from './api-cli.ts';
import { UserError } from './errors.ts';

const USAGE = `Usage:
  helios budget set TENANT LIMIT_USD [--period day|month] [--action reject|warn]
                    [--thresholds 50,80,95] [--statement-limit USD]
  helios budget list
  helios budget remove TENANT
  helios cost [tenants|queries|forecast [TENANT]|advice]
Common options: --http HOST:PORT (default $HELIOS_HTTP or 127.0.0.1:9187)
`;

const money = (v: unknown) => (typeof v === 'number' ? v.toFixed(6) : '');

function printBudgets(budgets: any[]): string {
  return table(
    ['tenant', 'period', 'limit_usd', 'spent_usd', 'percent', 'status', 'action', 'thresholds', 'statement_limit_usd'],
    budgets.map((t) => [t.tenant, t.budget.period, money(t.budget.limitUsd), money(t.spentUsd), t.percent?.toFixed(2), t.status, t.budget.action, t.budget.thresholds.join(','), money(t.budget.statementLimitUsd)]),
  );
}

export async function costCommand(command: 'budget' | 'cost', args: string[]): Promise<void> {
  const parsed = parseApiCommand(args, { period: { type: 'string' }, action: { type: 'string' }, thresholds: { type: 'string' }, 'statement-limit': { type: 'string' } }, USAGE);
  if (!parsed) return;
  const { values, positionals, base } = parsed;
  const [sub, ...more] = positionals;
  const out = (s: string) => process.stdout.write(s);
  if (command === 'budget') {
    switch (sub) {
      case 'set': {
        const [tenant, limit] = more;
        const limitUsd = Number(limit);
        if (!tenant || !(limitUsd > 0)) throw new UserError(`budget set needs a tenant and a positive limit in dollars\n${USAGE}`);
        const body: Record<string, unknown> = { limitUsd };
        if (values.period) body.period = values.period;
        if (values.action) body.action = values.action;
        if (values.thresholds) body.thresholds = values.thresholds.split(',').map(Number);
        if (values['statement-limit']) body.statementLimitUsd = values['statement-limit'] === 'off' ? null : Number(values['statement-limit']);
        const { budget } = await call(base, 'PUT', `/api/v1/cost/budgets/${encodeURIComponent(tenant)}`, body);
        out(`budget for ${budget.tenant}: $${budget.limitUsd} per ${budget.period}, ${budget.action} when spent; warnings at ${budget.thresholds.join('/')}%\n`);
        return;
      }
      case 'list':
      case undefined:
        out(printBudgets((await call(base, 'GET', '/api/v1/cost/budgets')).budgets));
        return;
      case 'remove': {
        if (!more[0]) throw new UserError(`budget remove needs a tenant\n${USAGE}`);
        await call(base, 'DELETE', `/api/v1/cost/budgets/${encodeURIComponent(more[0])}`);
        out(`removed the budget of ${more[0]}\n`);
        return;
      }
      default:
        throw new UserError(`unknown budget command "${sub}"\n${USAGE}`);
    }
  }
  switch (sub) {
    case 'tenants':
    case undefined: {
      const { tenants, rateCard } = await call(base, 'GET', '/api/v1/cost/tenants');
      out(`rate card: ${rateCard}\n`);
      out(table(
        ['tenant', 'statements_today', 'cost_today_usd', 'statements_month', 'cost_month_usd', 'rejected_month', 'budget_usd', 'budget_percent'],
        tenants.map((t: any) => [t.tenant, t.day.statements, money(t.day.total), t.month.statements, money(t.month.total), t.month.rejected, money(t.budget?.limitUsd), t.percent?.toFixed(2)]),
      ));
      return;
    }
    case 'queries': {
      const { queries } = await call(base, 'GET', '/api/v1/cost/queries?limit=20');
      out(table(
        ['fingerprint', 'database', 'calls', 'cost_usd', 'mean_usd', 'estimate_error', 'query'],
        queries.map((q: any) => [q.fingerprint, q.database, q.calls, money(q.actual.total), money(q.meanUsd), q.estimateErrorFactor ? `${q.estimateErrorFactor.toFixed(2)}x` : '', String(q.query).slice(0, 80)]),
      ));
      return;
    }
    case 'forecast': {
      const tenant = more[0];
      const body = await call(base, 'GET', `/api/v1/cost/forecast?fresh=1${tenant ? `&tenant=${encodeURIComponent(tenant)}` : ''}`);
      const list = body.forecasts ?? [body.forecast];
      out(table(
        ['tenant', 'period', 'spent_usd', 'forecast_usd', 'lower80_usd', 'upper80_usd', 'limit_usd', 'over_budget', 'method'],
        list.map((f: any) => [f.tenant, f.period, money(f.spentUsd), money(f.forecastUsd), money(f.lower80Usd), money(f.upper80Usd), money(f.limitUsd), f.overBudget, f.method]),
      ));
      return;
    }
    case 'advice': {
      // The advisor validates candidates one by one: show where it is while the answer is awaited.
      let shown = '';
      const timer = setInterval(() => {
        void call(base, 'GET', '/api/v1/cost/advice/progress').then(({ progress: p }) => {
          const line = p?.running ? `advisor: ${p.phase}${p.database ? ` (${p.database})` : ''} ${p.done}/${p.total}` : '';
          if (line && line !== shown) process.stderr.write(`${(shown = line)}\n`);
        }, () => {});
      }, 1000);
      try {
        const { formatAdvice } = await import('./cost/advisor/report.ts');
        out(formatAdvice(await call(base, 'GET', '/api/v1/cost/advice', undefined, 600_000)));
      } finally {
        clearInterval(timer);
      }
      return;
    }
    default:
      throw new UserError(`unknown cost command "${sub}"\n${USAGE}`);
  }
}
