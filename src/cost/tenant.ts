// Who pays for a statement. Sources are tried in the configured order and the first non-empty
// one names the tenant: a sqlcommenter `tenant` tag, the session's application_name, its role,
// or its database. The tag and application_name are chosen by the client; only role and
// database are settled by authentication, so budgets meant as a hard limit attribute by those.
import type { QueryInfo } from '../../plugins/contract.ts';

export const TENANT_SOURCES = ['tag', 'application_name', 'role', 'database'] as const;
export type TenantSource = (typeof TENANT_SOURCES)[number];
export const DEFAULT_TENANT_SOURCES: readonly TenantSource[] = ['tag', 'role'];
const MAX_TENANT_LENGTH = 200;

export function parseTenantSources(value: string): TenantSource[] {
  const parts = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = parts.filter((p) => !(TENANT_SOURCES as readonly string[]).includes(p));
  if (parts.length === 0 || bad.length) {
    throw new Error(`cost tenant sources must be a comma list of ${TENANT_SOURCES.join(', ')}${bad.length ? `; unknown: ${bad.join(', ')}` : ''}`);
  }
  return [...new Set(parts)] as TenantSource[];
}

export type TenantOf = (q: Pick<QueryInfo, 'tags' | 'session'>) => string;

export function tenantAttribution(sources: readonly TenantSource[]): TenantOf {
  const pick = sources.map((s): ((q: Pick<QueryInfo, 'tags' | 'session'>) => string | undefined) => {
    switch (s) {
      case 'tag':
        return (q) => q.tags.tenant;
      case 'application_name':
        return (q) => q.session.applicationName;
      case 'role':
        return (q) => q.session.user;
      case 'database':
        return (q) => q.session.database;
    }
  });
  return (q) => {
    for (const p of pick) {
      const v = p(q);
      if (v) return v.length > MAX_TENANT_LENGTH ? v.slice(0, MAX_TENANT_LENGTH) : v;
    }
    return q.session.user;
  };
}
