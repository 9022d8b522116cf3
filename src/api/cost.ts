// /api/v1/cost/*: spend per tenant, cost per statement shape, the rate card, and budgets
// (GET to read; PUT /api/v1/cost/budgets/TENANT and DELETE to change, through the same
// helios.set_budget / helios.remove_budget the SQL interface uses).
import type { CostEngine } from '../cost/index.ts';
import { COST_SORT_KEYS } from '../cost/query-costs.ts';
import { PERIODS, type Period } from '../cost/spend-book.ts';
import { enumParam, intParam } from './params.ts';
import { ApiError, type ApiRequest, type ApiRoute } from './routes.ts';

const BUDGETS = '/api/v1/cost/budgets';

function budgetBody(raw: unknown): { limitUsd: number; period?: Period; action?: 'warn' | 'reject'; thresholds?: number[]; statementLimitUsd?: number | null } {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ApiError(400, 'request body must be a JSON object');
  const o = raw as Record<string, unknown>;
  const known = ['limitUsd', 'period', 'action', 'thresholds', 'statementLimitUsd'];
  const unknown = Object.keys(o).filter((k) => !known.includes(k));
  if (unknown.length) throw new ApiError(400, `unknown field(s) ${unknown.join(', ')}; known: ${known.join(', ')}`);
  if (typeof o.limitUsd !== 'number' || !(o.limitUsd > 0)) throw new ApiError(400, '"limitUsd" must be a positive number of dollars');
  if (o.period !== undefined && !(PERIODS as readonly unknown[]).includes(o.period)) throw new ApiError(400, '"period" must be "day" or "month"');
  if (o.action !== undefined && o.action !== 'warn' && o.action !== 'reject') throw new ApiError(400, '"action" must be "warn" or "reject"');
  if (o.thresholds !== undefined && !(Array.isArray(o.thresholds) && o.thresholds.every((t) => typeof t === 'number' && t > 0 && t < 100))) {
    throw new ApiError(400, '"thresholds" must be an array of percentages between 0 and 100');
  }
  if (o.statementLimitUsd !== undefined && o.statementLimitUsd !== null && !(typeof o.statementLimitUsd === 'number' && o.statementLimitUsd > 0)) {
    throw new ApiError(400, '"statementLimitUsd" must be a positive number of dollars or null');
  }
  return o as ReturnType<typeof budgetBody>;
}

/** A failed control-schema call: invalid values are the client's fault, anything else a 503. */
function schemaError(err: unknown): never {
  const e = err as { code?: string; message?: string };
  if (e.code === '22023') throw new ApiError(400, e.message ?? 'invalid budget');
  throw new ApiError(503, `the helios control schema is not available: ${e.message ?? String(err)}`);
}

function tenantOf(url: URL): string {
  const tenant = decodeURIComponent(url.pathname.slice(BUDGETS.length + 1));
  if (!tenant || tenant.includes('/')) throw new ApiError(404, 'not found');
  return tenant;
}

export function costRoutes(cost: () => CostEngine | undefined): Record<string, ApiRoute> {
  const engine = (): CostEngine => {
    const c = cost();
    if (!c) throw new ApiError(503, 'the cost engine is not running');
    return c;
  };
  return {
    '/api/v1/cost/tenants': () => ({ rateCard: engine().card.name, tenants: engine().tenants() }),
    '/api/v1/cost/queries': (url) => {
      const sort = enumParam(url, 'sort', COST_SORT_KEYS, 'actual');
      const limit = intParam(url, 'limit', 50, 1, 1000);
      const database = url.searchParams.get('database') ?? undefined;
      return {
        // The sample holds real statement values: it stays inside the sidecar.
        queries: engine().queries.list({ sort, limit, database }).map(({ sample: _sample, lastPlan, ...e }) => ({
          ...e,
          planOnlyEstimateUsd: lastPlan ? engine().planOnlyCost(lastPlan).total : null,
          tenants: [...e.tenants],
          meanUsd: e.actual.total / e.calls,
          estimateErrorFactor: e.estimatedCalls ? Math.exp(e.meanAbsLogError) : null,
          firstSeen: new Date(e.firstSeen).toISOString(),
          lastSeen: new Date(e.lastSeen).toISOString(),
        })),
      };
    },
    '/api/v1/cost/forecast': async (url) => {
      const tenant = url.searchParams.get('tenant') ?? undefined;
      const fresh = url.searchParams.get('fresh') === '1';
      const c = engine();
      if (tenant !== undefined && (fresh || !c.forecaster.get(tenant))) {
        const [f] = await c.forecast(tenant).catch(schemaError);
        if (!f) throw new ApiError(404, `no spend recorded for tenant "${tenant}"`);
        return { forecast: f };
      }
      if (tenant !== undefined) return { forecast: c.forecaster.get(tenant) };
      if (fresh || c.forecaster.runs === 0) await c.forecast().catch(schemaError);
      return { forecasts: c.forecaster.list() };
    },
    '/api/v1/cost/rate-card': () => ({ rateCard: engine().card, ioSource: engine().ioSource }),
    // Runs the advisor (or joins the run under way) and answers when it is done; maxAgeSeconds
    // reuses a recent answer. Its progress is at /advice/progress meanwhile.
    '/api/v1/cost/advice': async (url) => {
      const maxAge = intParam(url, 'maxAgeSeconds', 0, 0, 86_400);
      const advisor = engine().advisor;
      const last = advisor.last;
      if (last && maxAge > 0 && Date.now() - Date.parse(last.generatedAt) <= maxAge * 1000) return last;
      return advisor.run().catch((err: Error) => {
        throw new ApiError(503, `the advisor failed: ${err.message}`);
      });
    },
    '/api/v1/cost/advice/progress': () => {
      const advisor = engine().advisor;
      return { progress: advisor.progress, lastGeneratedAt: advisor.last?.generatedAt ?? null };
    },
    [BUDGETS]: {
      GET: () => ({ budgets: engine().tenants().filter((t) => t.budget) }),
      POST: async (_url, req: ApiRequest) => {
        const body = await req.json();
        const tenant = (body as { tenant?: unknown })?.tenant;
        if (typeof tenant !== 'string' || tenant === '') throw new ApiError(400, '"tenant" must be a non-empty string');
        const { tenant: _t, ...rest } = body as Record<string, unknown>;
        return { budget: await engine().setBudget({ tenant, ...budgetBody(rest) }).catch(schemaError) };
      },
    },
    [`${BUDGETS}/`]: {
      GET: (url) => {
        const tenant = tenantOf(url);
        const t = engine().tenants().find((x) => x.tenant === tenant && x.budget);
        if (!t) throw new ApiError(404, `no budget for tenant "${tenant}"`);
        return t;
      },
      PUT: async (url, req) => {
        const tenant = tenantOf(url);
        return { budget: await engine().setBudget({ tenant, ...budgetBody(await req.json()) }).catch(schemaError) };
      },
      DELETE: async (url) => {
        const tenant = tenantOf(url);
        const removed = await engine().removeBudget(tenant).catch(schemaError);
        if (!removed) throw new ApiError(404, `no budget for tenant "${tenant}"`);
        return { removed: tenant };
      },
    },
  };
}
