// Built-in plugin registry: resolves --plugins (all | none | comma list) to plugin instances.
import type { CostEngine } from '../src/cost/index.ts';
import type { Observability } from '../src/observability/index.ts';
import type { LedgerService } from '../src/ledger/service.ts';
import type { WebhookService } from '../src/webhooks/service.ts';
import type { Plugin } from './contract.ts';
import { createAdminConsole } from './admin-console.ts';
import { createBudgetPlugin } from './budget.ts';
import { createCostPlugin } from './cost.ts';
import { createLedgerPlugin } from './ledger.ts';
import { createMetricsPlugin } from './metrics.ts';
import { createQueryCounter } from './query-counter.ts';
import { createTracingPlugin } from './tracing.ts';
import { createWebhooksPlugin } from './webhooks.ts';

/** What the sidecar hands the built-in plugins: long-lived state that outlives a reload. */
export interface PluginDeps {
  readonly observability: Observability;
  /** Absent when the sidecar runs without the cost engine (the cost and budget plugins then refuse to load). */
  readonly cost?: CostEngine;
  /** Absent when the sidecar has no control connection (the webhooks plugin then refuses to load). */
  readonly webhooks?: WebhookService;
  /** Absent when the audit ledger is not running (the ledger plugin then refuses to load). */
  readonly ledger?: LedgerService;
}

function costEngine(d: PluginDeps, plugin: string): CostEngine {
  if (!d.cost) throw new Error(`plugin ${plugin} needs the cost engine, which is not running`);
  return d.cost;
}

const BUILTINS: Record<string, (deps: PluginDeps) => Plugin> = {
  'admin-console': (d) => createAdminConsole(d),
  'query-counter': () => createQueryCounter(),
  metrics: (d) => createMetricsPlugin(d.observability),
  tracing: (d) => createTracingPlugin(d.observability.tracing, { upstream: d.observability.sources.upstream }),
  cost: (d) => createCostPlugin(costEngine(d, 'cost')),
  // After cost: it judges the estimate cost made for the statement.
  budget: (d) => createBudgetPlugin(costEngine(d, 'budget')),
  webhooks: (d) => {
    if (!d.webhooks) throw new Error('plugin webhooks needs the webhook service, which is not running');
    return createWebhooksPlugin(d.webhooks);
  },
  ledger: (d) => {
    if (!d.ledger) throw new Error('plugin ledger needs the audit ledger, which is not running');
    return createLedgerPlugin(d.ledger);
  },
};

/** Plugins 'all' leaves out when their engine is missing. */
function available(d: PluginDeps, name: string): boolean {
  if (name === 'cost' || name === 'budget') return d.cost !== undefined;
  if (name === 'webhooks') return d.webhooks !== undefined;
  if (name === 'ledger') return d.ledger !== undefined;
  return true;
}

export const PLUGIN_NAMES: readonly string[] = Object.keys(BUILTINS);

export type PluginSpec = 'all' | 'none' | readonly string[];

/** Parses the --plugins value; throws a clear error naming unknown plugins. */
export function parsePluginSpec(value: string): PluginSpec {
  const v = value.trim();
  if (v === 'all' || v === '') return 'all';
  if (v === 'none') return 'none';
  const names = v.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(n in BUILTINS));
  if (unknown.length) throw new Error(`unknown plugin(s): ${unknown.join(', ')}; known: ${PLUGIN_NAMES.join(', ')}, or all / none`);
  // Budgets are judged against spend only the cost plugin records.
  if (names.includes('budget') && !names.includes('cost')) throw new Error('plugin budget needs plugin cost: list both, e.g. --plugins cost,budget');
  return names;
}

export function createPlugins(spec: PluginSpec, deps: PluginDeps): Plugin[] {
  const names = spec === 'all' ? PLUGIN_NAMES.filter((n) => available(deps, n)) : spec === 'none' ? [] : spec;
  // Budget judges what cost estimated for the statement, so it runs after cost whatever the list order.
  const ordered = names.includes('budget') && names.indexOf('budget') < names.indexOf('cost') ? [...names.filter((n) => n !== 'budget'), 'budget'] : names;
  return ordered.map((n) => BUILTINS[n]!(deps));
}
