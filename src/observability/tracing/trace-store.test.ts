import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type Context, type HrTime } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { ATTR_FINGERPRINT, StoreSpanProcessor, TraceStore, type TraceStoreOptions } from './trace-store.ts';

const T0 = 1_700_000_000;

function at(ms: number): HrTime {
  return [T0 + Math.floor(ms / 1000), (ms % 1000) * 1e6];
}

function parent(traceId: string, sampled = true): Context {
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId,
    spanId: 'b7ad6b7169203331',
    traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    isRemote: true,
  });
}

const providers: BasicTracerProvider[] = [];

function setup(opts: TraceStoreOptions = {}) {
  const store = new TraceStore(opts);
  const provider = new BasicTracerProvider({ spanProcessors: [new StoreSpanProcessor(store)] });
  providers.push(provider);
  const tracer = provider.getTracer('test');
  /** Ends a span from `startMs` to `endMs` after T0; returns its trace id. */
  const span = (name: string, startMs: number, endMs: number, o: { ctx?: Context; error?: boolean; fingerprint?: string } = {}): string => {
    const s = tracer.startSpan(
      name,
      {
        kind: SpanKind.CLIENT,
        startTime: at(startMs),
        attributes: { [ATTR_FINGERPRINT]: o.fingerprint ?? 'f0', 'db.namespace': 'app', 'db.query.text': `${name} $1` },
      },
      o.ctx ?? ROOT_CONTEXT,
    );
    if (o.error) s.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
    s.addEvent('note', { n: 1 }, at(startMs + 1));
    s.end(at(endMs));
    return s.spanContext().traceId;
  };
  return { store, span };
}

afterEach(async () => {
  await Promise.all(providers.splice(0).map((p) => p.shutdown()));
});

describe('TraceStore', () => {
  it('lists traces newest first with their summary', () => {
    const { store, span } = setup();
    const a = span('SELECT a', 0, 5, { fingerprint: 'fa' });
    const b = span('SELECT b', 10, 40, { fingerprint: 'fb', error: true });
    const list = store.list();
    expect(list.map((t) => t.traceId)).toEqual([b, a]);
    expect(list[0]).toEqual({
      traceId: b,
      rootName: 'SELECT b',
      startTime: new Date((T0 * 1000) + 10).toISOString(),
      durationMs: 30,
      spanCount: 1,
      error: true,
      fingerprint: 'fb',
      database: 'app',
      statement: 'SELECT b $1',
    });
    expect(list[1]!.error).toBe(false);
  });

  it('filters by duration, fingerprint and errors, and limits', () => {
    const { store, span } = setup();
    span('fast', 0, 1, { fingerprint: 'f1' });
    const slow = span('slow', 10, 110, { fingerprint: 'f2' });
    const failed = span('failed', 20, 22, { fingerprint: 'f1', error: true });
    expect(store.list({ minDurationMs: 50 }).map((t) => t.traceId)).toEqual([slow]);
    expect(store.list({ errorsOnly: true }).map((t) => t.traceId)).toEqual([failed]);
    expect(store.list({ fingerprint: 'f1' }).map((t) => t.rootName)).toEqual(['failed', 'fast']);
    expect(store.list({ limit: 1 }).map((t) => t.rootName)).toEqual(['failed']);
    expect(store.list({ limit: 0 })).toEqual([]);
  });

  it('groups a client trace\'s spans and returns them in detail, in start order', () => {
    const { store, span } = setup();
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const ctx = parent(traceId);
    span('second', 50, 60, { ctx, fingerprint: 'f2' });
    span('first', 10, 20, { ctx, fingerprint: 'f1', error: true });
    expect(store.size()).toEqual({ traces: 1, spans: 2 });
    const [summary] = store.list();
    expect(summary).toMatchObject({ traceId, rootName: 'first', spanCount: 2, durationMs: 50, error: true, fingerprint: 'f1' });
    expect(store.list({ fingerprint: 'f2' })).toHaveLength(1);

    const detail = store.get(traceId)!;
    expect(detail.droppedSpans).toBe(0);
    expect(detail.spans.map((s) => s.name)).toEqual(['first', 'second']);
    expect(detail.spans[0]).toMatchObject({
      parentSpanId: 'b7ad6b7169203331',
      kind: 'CLIENT',
      durationMs: 10,
      startTime: new Date(T0 * 1000 + 10).toISOString(),
      attributes: { [ATTR_FINGERPRINT]: 'f1', 'db.namespace': 'app' },
      status: { code: 'ERROR', message: 'boom' },
      events: [{ name: 'note', time: new Date(T0 * 1000 + 11).toISOString(), attributes: { n: 1 } }],
    });
    expect(detail.spans[0]!.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(detail.spans[1]!.status).toEqual({ code: 'UNSET' });
    expect(store.get('ffffffffffffffffffffffffffffffff')).toBeUndefined();
  });

  it('keeps at most maxTraces traces, evicting the oldest', () => {
    const { store, span } = setup({ maxTraces: 3 });
    const ids = [0, 1, 2, 3, 4].map((i) => span(`s${i}`, i * 10, i * 10 + 1));
    expect(store.size()).toEqual({ traces: 3, spans: 3 });
    expect(store.list().map((t) => t.traceId)).toEqual([ids[4], ids[3], ids[2]]);
    expect(store.get(ids[0]!)).toBeUndefined();
  });

  it('keeps at most maxSpansPerTrace spans of a trace and counts the rest as dropped', () => {
    const { store, span } = setup({ maxSpansPerTrace: 2 });
    const ctx = parent('1af7651916cd43dd8448eb211c80319c');
    for (let i = 0; i < 5; i++) span(`s${i}`, i, i + 1, { ctx });
    const detail = store.get('1af7651916cd43dd8448eb211c80319c')!;
    expect(detail.spans).toHaveLength(2);
    expect(detail.droppedSpans).toBe(3);
    expect(store.size().spans).toBe(2);
  });

  it('keeps at most maxSpans spans in all, evicting the oldest traces', () => {
    const { store, span } = setup({ maxSpans: 3 });
    const old = parent('2af7651916cd43dd8448eb211c80319c');
    span('old1', 0, 1, { ctx: old });
    span('old2', 1, 2, { ctx: old });
    const b = span('b', 5, 6);
    const c = span('c', 6, 7);
    expect(store.size()).toEqual({ traces: 2, spans: 2 });
    expect(store.list().map((t) => t.traceId)).toEqual([c, b]);
  });

  it('takes no unsampled spans, and none after shutdown', async () => {
    const { store, span } = setup();
    span('unsampled', 0, 1, { ctx: parent('3af7651916cd43dd8448eb211c80319c', false) });
    expect(store.size().spans).toBe(0);
    await store.shutdown();
    span('late', 0, 1);
    expect(store.size().spans).toBe(0);
  });

  it('is a SpanExporter: export() files the spans and reports success', async () => {
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
    providers.push(provider);
    const s = provider.getTracer('test').startSpan('exported', { startTime: at(0) }, ROOT_CONTEXT);
    s.end(at(3));
    await provider.forceFlush();
    const store = new TraceStore();
    const results: number[] = [];
    store.export(memory.getFinishedSpans() as ReadableSpan[], (r) => results.push(r.code));
    expect(results).toEqual([0]);
    expect(store.list()).toMatchObject([{ traceId: s.spanContext().traceId, rootName: 'exported', durationMs: 3 }]);
  });
});
