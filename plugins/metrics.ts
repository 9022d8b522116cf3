// Feeds each finished statement to the observability hub: Prometheus metrics, the per-second
// series the anomaly detectors watch, per-fingerprint statistics and the slow log.
import type { Observability } from '../src/observability/index.ts';
import type { Plugin } from './contract.ts';

export function createMetricsPlugin(observability: Observability): Plugin {
  return {
    name: 'metrics',
    onResult: (r) => observability.record(r),
  };
}
