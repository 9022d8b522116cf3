// Works out what a SIGHUP can apply to the running proxy, and what only a restart can change.
import type { Plugin } from '../plugins/contract.ts';
import type { PluginSpec } from '../plugins/index.ts';
import type { ProxyHandle } from '../proxy/options.ts';
import { diffConfig, type HeliosConfig } from './config.ts';

export type ProxyReload = Parameters<ProxyHandle['reload']>[0];

export interface ReloadPlan {
  /** The config to run with from now on: the new reloadable settings, the running restart-only ones. */
  config: HeliosConfig;
  /** For ProxyHandle.reload(); empty when nothing the proxy uses changed. */
  patch: ProxyReload;
  applied: string[];
  restartNeeded: string[];
}

/** `mode` 'up' ignores upstream: that command always proxies to its own embedded PostgreSQL. */
/** `buildPlugins` makes fresh plugin instances over the running sidecar's long-lived state. */
export function planReload(current: HeliosConfig, next: HeliosConfig, mode: 'up' | 'proxy', buildPlugins: (spec: PluginSpec) => Plugin[]): ReloadPlan {
  const config: HeliosConfig = { ...current };
  const patch: ProxyReload = {};
  const applied: string[] = [];
  const restartNeeded: string[] = [];
  const apply = <K extends keyof HeliosConfig>(field: K) => {
    config[field] = next[field];
    applied.push(field);
  };
  for (const field of diffConfig(current, next)) {
    switch (field) {
      case 'plugins':
        patch.plugins = buildPlugins(next.plugins);
        apply(field);
        break;
      case 'tls':
        // The proxy keeps its TLS context when given none, so turning TLS off needs a restart.
        if (!next.tls) {
          restartNeeded.push('tls (turning it off)');
          break;
        }
        patch.tls = next.tls;
        apply(field);
        break;
      case 'maxMessageBytes':
        patch.maxMessageBytes = next.maxMessageBytes;
        apply(field);
        break;
      case 'drainTimeoutSeconds':
        patch.drainTimeoutMs = next.drainTimeoutSeconds * 1000;
        apply(field);
        break;
      case 'logLevel':
        apply(field);
        break;
      case 'upstream':
        if (mode === 'up') break;
        if (!next.upstream) {
          restartNeeded.push('upstream (removed)');
          break;
        }
        patch.upstream = next.upstream.target;
        apply(field);
        break;
      default:
        restartNeeded.push(field);
    }
  }
  return { config, patch, applied, restartNeeded };
}
