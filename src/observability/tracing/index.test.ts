import { ROOT_CONTEXT, SpanKind, TraceFlags, trace } from '@opentelemetry/api';
import { SamplingDecision } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { createTracing, otlpSettingsFromEnv, parseKeyValueList, resourceFromEnv, samplerFromEnv, type Tracing } from './index.ts';

const tracings: Tracing[] = [];
afterEach(async () => {
  await Promise.all(tracings.splice(0).map((t) => t.shutdown()));
});

describe('otlpSettingsFromEnv', () => {
  it('is off without an endpoint', () => {
    expect(otlpSettingsFromEnv({})).toBeUndefined();
    expect(otlpSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: '' })).toBeUndefined();
  });

  it('appends /v1/traces to the generic endpoint and takes the traces endpoint as is', () => {
    expect(otlpSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })?.url).toBe('http://collector:4318/v1/traces');
    expect(otlpSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/otel/' })?.url).toBe('http://collector:4318/otel/v1/traces');
    expect(
      otlpSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://b/custom/path' })?.url,
    ).toBe('https://b/custom/path');
    expect(otlpSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' })).toBeUndefined();
  });

  it('merges headers, signal-specific ones winning, and reads timeout and compression', () => {
    expect(
      otlpSettingsFromEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
        OTEL_EXPORTER_OTLP_HEADERS: 'api-key=generic,x-a=1',
        OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'api-key=sp%C3%A9cial%2C%3D',
        OTEL_EXPORTER_OTLP_TIMEOUT: '2500',
        OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'gzip',
      }),
    ).toEqual({ url: 'http://c:4318/v1/traces', headers: { 'api-key': 'spécial,=', 'x-a': '1' }, timeoutMillis: 2500, compression: 'gzip' });
    expect(otlpSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c', OTEL_EXPORTER_OTLP_TIMEOUT: '-1', OTEL_EXPORTER_OTLP_COMPRESSION: 'brotli' })).toMatchObject({
      timeoutMillis: undefined,
      compression: undefined,
    });
  });

  it('is off when the SDK is disabled or another exporter is chosen', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' };
    expect(otlpSettingsFromEnv({ ...endpoint, OTEL_SDK_DISABLED: 'true' })).toBeUndefined();
    expect(otlpSettingsFromEnv({ ...endpoint, OTEL_TRACES_EXPORTER: 'none' })).toBeUndefined();
    expect(otlpSettingsFromEnv({ ...endpoint, OTEL_TRACES_EXPORTER: 'console,otlp' })).toBeDefined();
  });
});

describe('parseKeyValueList', () => {
  it('decodes percent-encoding and skips malformed items', () => {
    expect(parseKeyValueList('a=1, b = two%20words ,broken,=x,c=%ZZ,d=')).toEqual({ a: '1', b: 'two words', d: '' });
  });
});

describe('resourceFromEnv', () => {
  it('names the service heliosdb by default, the configured name, OTEL_RESOURCE_ATTRIBUTES or OTEL_SERVICE_NAME', () => {
    expect(resourceFromEnv({}).attributes['service.name']).toBe('heliosdb');
    expect(resourceFromEnv({}, 'edge-proxy').attributes['service.name']).toBe('edge-proxy');
    const fromAttributes = resourceFromEnv({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs,deployment.environment.name=prod' }, 'edge-proxy');
    expect(fromAttributes.attributes).toMatchObject({ 'service.name': 'from-attrs', 'deployment.environment.name': 'prod' });
    expect(resourceFromEnv({ OTEL_SERVICE_NAME: 'svc', OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs' }).attributes['service.name']).toBe('svc');
    expect(resourceFromEnv({}).attributes['telemetry.sdk.language']).toBe('nodejs');
  });
});

describe('samplerFromEnv', () => {
  const decide = (env: Record<string, string>, sampledParent?: boolean) => {
    const ctx =
      sampledParent === undefined
        ? ROOT_CONTEXT
        : trace.setSpanContext(ROOT_CONTEXT, {
            traceId: '0af7651916cd43dd8448eb211c80319c',
            spanId: 'b7ad6b7169203331',
            traceFlags: sampledParent ? TraceFlags.SAMPLED : TraceFlags.NONE,
            isRemote: true,
          });
    return samplerFromEnv(env).shouldSample(ctx, '0af7651916cd43dd8448eb211c80319c', 'x', SpanKind.CLIENT, {}, []).decision;
  };

  it('keeps the parent\'s decision and samples new traces by default', () => {
    expect(decide({})).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    expect(decide({}, true)).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    expect(decide({}, false)).toBe(SamplingDecision.NOT_RECORD);
  });

  it('follows OTEL_TRACES_SAMPLER', () => {
    expect(decide({ OTEL_TRACES_SAMPLER: 'always_off' })).toBe(SamplingDecision.NOT_RECORD);
    expect(decide({ OTEL_TRACES_SAMPLER: 'always_on' }, false)).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    expect(decide({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' })).toBe(SamplingDecision.NOT_RECORD);
    expect(decide({ OTEL_TRACES_SAMPLER: 'parentbased_always_off' })).toBe(SamplingDecision.NOT_RECORD);
    expect(decide({ OTEL_TRACES_SAMPLER: 'parentbased_always_off' }, true)).toBe(SamplingDecision.RECORD_AND_SAMPLED);
  });
});

describe('createTracing', () => {
  it('keeps spans in memory and exports nothing without an endpoint', async () => {
    const tracing = createTracing({ env: {} });
    tracings.push(tracing);
    expect(tracing.exporting).toBe(false);
    expect(tracing.exportUrl).toBeUndefined();
    expect(tracing.plans).toBeUndefined();
    expect(tracing.queryText).toBe('normalized');
    expect(tracing.planThresholdMs).toBe(1000);
    expect(tracing.onPlan(() => {})).toBeTypeOf('function');
    const span = tracing.tracer.startSpan('SELECT t', { kind: SpanKind.CLIENT }, ROOT_CONTEXT);
    span.end();
    await tracing.forceFlush();
    expect(tracing.store.list()).toMatchObject([{ traceId: span.spanContext().traceId, rootName: 'SELECT t' }]);
  });

  it('exports when the env names an endpoint, and builds plans only with a connect function and a threshold', () => {
    const connect = async () => {
      throw new Error('not used');
    };
    const exporting = createTracing({ env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:1/v1/traces' }, connect, planThresholdMs: 0, queryText: 'full' });
    const noPlans = createTracing({ env: {}, connect, planThresholdMs: null });
    tracings.push(exporting, noPlans);
    expect(exporting.exporting).toBe(true);
    expect(exporting.exportUrl).toBe('http://127.0.0.1:1/v1/traces');
    expect(exporting.plans).toBeDefined();
    expect(exporting.planThresholdMs).toBe(0);
    expect(exporting.queryText).toBe('full');
    expect(noPlans.plans).toBeUndefined();
  });

  it('bounds the store as configured', async () => {
    const tracing = createTracing({ env: {}, traceLimit: 2 });
    tracings.push(tracing);
    for (let i = 0; i < 5; i++) tracing.tracer.startSpan(`s${i}`, {}, ROOT_CONTEXT).end();
    expect(tracing.store.size().traces).toBe(2);
  });
});
