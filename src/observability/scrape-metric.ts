// A Prometheus metric whose values are read from plain numbers at scrape time: prom-client's
// registry accepts any object with get(), so hot paths only bump numbers and never touch
// prom-client (whose observe() hashes a label object on every call).
import type { Registry } from 'prom-client';

export interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

export type MetricType = 'counter' | 'gauge' | 'histogram';

export function registerScrapeMetric(registry: Registry, name: string, help: string, type: MetricType, values: () => MetricValue[]): void {
  registry.registerMetric({
    name,
    help,
    type,
    get: () => ({ name, help, type, values: values(), aggregator: 'sum' }),
    reset: () => {},
  } as unknown as Parameters<Registry['registerMetric']>[0]);
}
