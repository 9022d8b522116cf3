// Built-in plugin registry: resolves --plugins (all | none | comma list) to plugin instances.
import type { Observability } from '../src/observability/index.ts';
import type { Plugin } from './contract.ts';
import { createAdminConsole } from './admin-console.ts';
import { createMetricsPlugin } from './metrics.ts';
import { createQueryCounter } from './query-counter.ts';
import { createTracingPlugin } from './tracing.ts';

/** What the sidecar hands the built-in plugins: long-lived state that outlives a reload. */
export interface PluginDeps {
  readonly observability: Observability;
}

const BUILTINS: Record<string, (deps: PluginDeps) => Plugin> = {
  'admin-console': (d) => createAdminConsole(d.observability),
  'query-counter': () => createQueryCounter(),
  metrics: (d) => createMetricsPlugin(d.observability),
  tracing: (d) => createTracingPlugin(d.observability.tracing, { upstream: d.observability.sources.upstream }),
};

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
  return names;
}

export function createPlugins(spec: PluginSpec, deps: PluginDeps): Plugin[] {
  const names = spec === 'all' ? PLUGIN_NAMES : spec === 'none' ? [] : spec;
  return names.map((n) => BUILTINS[n]!(deps));
}
