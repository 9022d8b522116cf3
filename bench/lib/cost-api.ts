// What bench:cost reads from a running proxy's cost API: spend per tenant, cost per statement
// shape, and the advisor's answer with its progress.
import type { Advice, AdvisorProgress } from '../../src/cost/advisor/index.ts';
import { getJson } from './helios-proxy.ts';

/** Month-to-date figures of one tenant (GET /api/v1/cost/tenants). */
export interface ApiTenant {
  tenant: string;
  month: { total: number; statements: number };
}

/** One statement shape (GET /api/v1/cost/queries). */
export interface ApiShape {
  database: string;
  fingerprint: string;
  query: string;
  calls: number;
  actual: { total: number };
  estimatedCalls: number;
  estimatedUsd: number;
  actualOfEstimatedUsd: number;
  /** The last plan's price with nothing learned (prior seconds per cost unit, the plan's own pages). */
  planOnlyEstimateUsd: number | null;
}

export async function tenantSpend(http: string): Promise<Map<string, ApiTenant>> {
  const body = await getJson<{ tenants: ApiTenant[] }>(`${http}/api/v1/cost/tenants`, 10_000);
  return new Map(body.tenants.map((t) => [t.tenant, t]));
}

export async function shapeCosts(http: string): Promise<Map<string, ApiShape>> {
  const body = await getJson<{ queries: ApiShape[] }>(`${http}/api/v1/cost/queries?limit=1000`, 10_000);
  return new Map(body.queries.map((q) => [`${q.database}\0${q.fingerprint}`, q]));
}

/** Runs the advisor; `onProgress` sees each new phase or step while it works. */
export async function fetchAdvice(http: string, onProgress: (p: AdvisorProgress) => void): Promise<Advice> {
  let last = '';
  const timer = setInterval(() => {
    void getJson<{ progress: AdvisorProgress | null }>(`${http}/api/v1/cost/advice/progress`, 2000).then(({ progress: p }) => {
      const key = p ? `${p.phase}/${p.database}/${p.done}/${p.total}` : '';
      if (p?.running && key !== last) {
        last = key;
        onProgress(p);
      }
    }, () => {});
  }, 500);
  try {
    return await getJson<Advice>(`${http}/api/v1/cost/advice`, 600_000);
  } finally {
    clearInterval(timer);
  }
}
