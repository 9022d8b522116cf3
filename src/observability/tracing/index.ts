// HeliosDB's tracing: an OTel SDK tracer provider whose spans always go to the in-memory trace
// store, and over OTLP/HTTP (JSON) as well when the standard OTEL_* variables name an endpoint.
// The variables are read from an injected env rather than process.env, so configuration is
// explicit and tests do not leak into each other.

import type { Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type pg from 'pg';
import { PlanCapture, type PlanListener } from './plans.ts';
import { StoreSpanProcessor, TraceStore } from './trace-store.ts';

export { parseTraceparent, type TraceParent } from './traceparent.ts';
export { ATTR_FINGERPRINT, TraceStore, type SpanDetail, type TraceDetail, type TraceQuery, type TraceSummary } from './trace-store.ts';
export { PlanCapture, maskPlanLiterals, type CapturedPlan, type PlanListener, type PlanRequest } from './plans.ts';

export type Env = Readonly<Record<string, string | undefined>>;

/** db.query.text: pg_query's normalized text (constants as $n), or the statement as sent. */
export type QueryTextMode = 'normalized' | 'full';

export interface TracingOptions {
  /** Default 'normalized'. */
  queryText?: QueryTextMode;
  /** Traces kept in memory (default 1000). */
  traceLimit?: number;
  /** Spans kept per trace in memory (default 200). */
  spansPerTrace?: number;
  /** Spans kept in memory in all (default 20000). */
  spanLimit?: number;
  /** Statements at least this slow get their plan (default 1000; 0 = every plannable statement; null = never). */
  planThresholdMs?: number | null;
  /** Opens HeliosDB's own connection to a database on the upstream, for EXPLAIN. Without it, no plans. */
  connect?: (database: string) => Promise<pg.Client>;
  /** True when connect hands out connections a pool caches and ends (such as the control pool); by default tracing keeps and ends them. */
  sharedConnections?: boolean;
  /** Longest wait for a plan and the EXPLAIN's statement_timeout (default 2000 ms). */
  planTimeoutMs?: number;
  /** Why a plan could not be had. */
  onPlanError?: (err: Error) => void;
  /** Where OTEL_* variables are read (default process.env). */
  env?: Env;
  /** service.name unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES set one (default "heliosdb"). */
  serviceName?: string;
}

export interface Tracing {
  readonly tracer: Tracer;
  readonly store: TraceStore;
  /** Undefined without a connect function or with planThresholdMs null. */
  readonly plans: PlanCapture | undefined;
  /** True when spans are also exported over OTLP. */
  readonly exporting: boolean;
  /**
   * True when spans go only to the in-memory store under the default sampler: the tracing
   * plugin then writes the store's records itself, skipping the SDK's span objects, which cost
   * several microseconds per statement and are needed only to export.
   */
  readonly recordsDirectly: boolean;
  /** The OTLP traces URL when exporting. */
  readonly exportUrl: string | undefined;
  readonly queryText: QueryTextMode;
  readonly planThresholdMs: number | null;
  readonly resource: Resource;
  /** Calls `listener` with every plan captured; returns the function that removes it. */
  onPlan(listener: PlanListener): () => void;
  /** Waits for plans being captured (their spans end after), then exports what is buffered. */
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

export const DEFAULT_SERVICE_NAME = 'heliosdb';

const TRACES_PATH = 'v1/traces';

export interface OtlpSettings {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly timeoutMillis?: number;
  readonly compression?: 'gzip' | 'none';
}

function nonEmpty(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

function positiveNumber(env: Env, name: string): number | undefined {
  const v = nonEmpty(env, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

function decode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/** "k1=v1,k2=v2" with percent-encoded keys and values (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES). */
export function parseKeyValueList(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw === undefined) return out;
  for (const item of raw.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) continue;
    const key = decode(item.slice(0, eq).trim());
    const value = decode(item.slice(eq + 1).trim());
    if (key && value !== undefined) out[key] = value;
  }
  return out;
}

function validUrl(url: string): string | undefined {
  try {
    return new URL(url).toString();
  } catch {
    return undefined;
  }
}

/**
 * Where and how to export, per the OTLP exporter's variables; undefined when no endpoint is set,
 * or OTEL_SDK_DISABLED / OTEL_TRACES_EXPORTER turn exporting off. The signal-specific endpoint
 * is used as is; the generic one gets /v1/traces appended. Signal-specific headers override
 * generic ones of the same name.
 */
export function otlpSettingsFromEnv(env: Env): OtlpSettings | undefined {
  if (nonEmpty(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return undefined;
  const exporters = nonEmpty(env, 'OTEL_TRACES_EXPORTER');
  if (exporters !== undefined && !exporters.split(',').some((e) => e.trim() === 'otlp')) return undefined;
  const specific = nonEmpty(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const generic = nonEmpty(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  const url =
    specific !== undefined
      ? validUrl(specific)
      : generic !== undefined
        ? validUrl(generic.endsWith('/') ? generic + TRACES_PATH : `${generic}/${TRACES_PATH}`)
        : undefined;
  if (url === undefined) return undefined;
  const headers = {
    ...parseKeyValueList(nonEmpty(env, 'OTEL_EXPORTER_OTLP_HEADERS')),
    ...parseKeyValueList(nonEmpty(env, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS')),
  };
  const compression = nonEmpty(env, 'OTEL_EXPORTER_OTLP_TRACES_COMPRESSION') ?? nonEmpty(env, 'OTEL_EXPORTER_OTLP_COMPRESSION');
  return {
    url,
    headers,
    timeoutMillis: positiveNumber(env, 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT') ?? positiveNumber(env, 'OTEL_EXPORTER_OTLP_TIMEOUT'),
    compression: compression === 'gzip' || compression === 'none' ? compression : undefined,
  };
}

/** service.name: OTEL_SERVICE_NAME, then OTEL_RESOURCE_ATTRIBUTES' service.name, then the configured default. */
export function resourceFromEnv(env: Env, serviceName = DEFAULT_SERVICE_NAME): Resource {
  const attributes = parseKeyValueList(nonEmpty(env, 'OTEL_RESOURCE_ATTRIBUTES'));
  const name = nonEmpty(env, 'OTEL_SERVICE_NAME') ?? attributes[ATTR_SERVICE_NAME] ?? serviceName;
  return defaultResource().merge(resourceFromAttributes({ ...attributes, [ATTR_SERVICE_NAME]: name }));
}

/** OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG; by default a client's sampling decision is kept and new traces are sampled. */
export function samplerFromEnv(env: Env): Sampler {
  const arg = Number(nonEmpty(env, 'OTEL_TRACES_SAMPLER_ARG') ?? '1');
  const ratio = Number.isFinite(arg) && arg >= 0 && arg <= 1 ? arg : 1;
  switch (nonEmpty(env, 'OTEL_TRACES_SAMPLER')) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

type ExporterConfig = NonNullable<ConstructorParameters<typeof OTLPTraceExporter>[0]>;

function batchProcessor(settings: OtlpSettings, env: Env): SpanProcessor {
  const config: ExporterConfig = { url: settings.url, headers: settings.headers };
  if (settings.timeoutMillis !== undefined) config.timeoutMillis = settings.timeoutMillis;
  // The exporter's CompressionAlgorithm enum has exactly these string values.
  if (settings.compression !== undefined) config.compression = settings.compression as ExporterConfig['compression'];
  const exporter = new OTLPTraceExporter(config);
  // The SDK's defaults, given explicitly so that its own process.env fallbacks do not apply.
  return new BatchSpanProcessor(exporter, {
    scheduledDelayMillis: positiveNumber(env, 'OTEL_BSP_SCHEDULE_DELAY') ?? 5000,
    maxQueueSize: positiveNumber(env, 'OTEL_BSP_MAX_QUEUE_SIZE') ?? 2048,
    maxExportBatchSize: positiveNumber(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE') ?? 512,
    exportTimeoutMillis: positiveNumber(env, 'OTEL_BSP_EXPORT_TIMEOUT') ?? 30_000,
  });
}

export function createTracing(options: TracingOptions = {}): Tracing {
  const env = options.env ?? process.env;
  const store = new TraceStore({ maxTraces: options.traceLimit, maxSpansPerTrace: options.spansPerTrace, maxSpans: options.spanLimit });
  const otlp = otlpSettingsFromEnv(env);
  const processors: SpanProcessor[] = [new StoreSpanProcessor(store)];
  if (otlp !== undefined) processors.push(batchProcessor(otlp, env));
  const resource = resourceFromEnv(env, options.serviceName);
  const provider = new BasicTracerProvider({ resource, sampler: samplerFromEnv(env), spanProcessors: processors });
  const tracer = provider.getTracer(DEFAULT_SERVICE_NAME);

  const planThresholdMs = options.planThresholdMs === undefined ? 1000 : options.planThresholdMs;
  const onPlanError = options.onPlanError;
  const plans =
    options.connect !== undefined && planThresholdMs !== null
      ? new PlanCapture({
          connect: options.connect,
          ownsConnections: options.sharedConnections !== true,
          timeoutMs: options.planTimeoutMs,
          onError: onPlanError && ((err) => onPlanError(err)),
        })
      : undefined;

  let shutDown: Promise<void> | undefined;
  return {
    tracer,
    store,
    plans,
    exporting: otlp !== undefined,
    recordsDirectly: otlp === undefined && !['always_off', 'traceidratio', 'parentbased_always_off', 'parentbased_traceidratio'].includes(nonEmpty(env, 'OTEL_TRACES_SAMPLER') ?? ''),
    exportUrl: otlp?.url,
    queryText: options.queryText ?? 'normalized',
    planThresholdMs,
    resource,
    onPlan: (listener) => plans?.onPlan(listener) ?? (() => {}),
    async forceFlush() {
      await plans?.idle();
      await provider.forceFlush();
    },
    shutdown() {
      shutDown ??= (async () => {
        // Slow spans end once their plan is in; let them, so they are exported too.
        await plans?.idle();
        await plans?.close();
        await provider.shutdown();
      })();
      return shutDown;
    },
  };
}
