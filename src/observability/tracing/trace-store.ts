// The last traces in memory, for the HTTP API and the dashboard. It is an OTel SpanExporter, so
// it is fed exactly the SDK's ReadableSpans, by StoreSpanProcessor as each span ends.
//
// Memory is bounded three ways: a number of traces, spans per trace, and spans in all. A trace
// is as old as its first span; the oldest go first.

import { SpanKind, SpanStatusCode, TraceFlags, type AttributeValue, type Attributes, type Context, type HrTime } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { ATTR_DB_NAMESPACE, ATTR_DB_QUERY_TEXT } from '@opentelemetry/semantic-conventions';
import type { ReadableSpan, Span, SpanExporter, SpanProcessor, TimedEvent } from '@opentelemetry/sdk-trace-base';
import { randomFillSync } from 'node:crypto';
import { SpanRing } from './span-ring.ts';

/** Span attribute holding the statement's pg_query fingerprint. */
export const ATTR_FINGERPRINT = 'helios.fingerprint';

export interface TraceStoreOptions {
  /** Traces kept (default 1000). */
  maxTraces?: number;
  /** Spans kept per trace; later ones are counted as dropped (default 200). */
  maxSpansPerTrace?: number;
  /** Spans kept in all traces together (default 20000): a few long client traces must not hold maxTraces × maxSpansPerTrace spans. */
  maxSpans?: number;
}

export interface TraceQuery {
  /** At most this many, newest first (default 100). */
  limit?: number;
  minDurationMs?: number;
  /** Only traces with a span of this statement fingerprint. */
  fingerprint?: string;
  errorsOnly?: boolean;
}

export interface TraceSummary {
  readonly traceId: string;
  /** Name of the trace's first span (its root, or the earliest span under a client's parent). */
  readonly rootName: string;
  /** ISO 8601, millisecond precision. */
  readonly startTime: string;
  /** From the first span's start to the last span's end. */
  readonly durationMs: number;
  readonly spanCount: number;
  readonly error: boolean;
  /** Of the first span. */
  readonly fingerprint?: string;
  readonly database?: string;
  /** db.query.text of the first span: sanitized unless full text is configured. */
  readonly statement?: string;
}

export type SpanStatusName = 'UNSET' | 'OK' | 'ERROR';

export interface SpanEventDetail {
  readonly name: string;
  readonly time: string;
  readonly attributes: Attributes;
}

export interface SpanDetail {
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: string;
  readonly startTime: string;
  readonly durationMs: number;
  readonly attributes: Attributes;
  readonly status: { readonly code: SpanStatusName; readonly message?: string };
  readonly events: readonly SpanEventDetail[];
}

export interface TraceDetail extends TraceSummary {
  /** In order of start time. */
  readonly spans: readonly SpanDetail[];
  /** Spans that arrived after the trace had maxSpansPerTrace. */
  readonly droppedSpans: number;
}

const STATUS_NAMES: Record<number, SpanStatusName> = {
  [SpanStatusCode.UNSET]: 'UNSET',
  [SpanStatusCode.OK]: 'OK',
  [SpanStatusCode.ERROR]: 'ERROR',
};

const KIND_NAMES: Record<number, string> = {
  [SpanKind.INTERNAL]: 'INTERNAL',
  [SpanKind.SERVER]: 'SERVER',
  [SpanKind.CLIENT]: 'CLIENT',
  [SpanKind.PRODUCER]: 'PRODUCER',
  [SpanKind.CONSUMER]: 'CONSUMER',
};

const DEFAULT_LIMIT = 100;

function toMs(t: HrTime): number {
  return t[0] * 1e3 + t[1] / 1e6;
}

function iso(ms: number): string {
  return new Date(Math.floor(ms)).toISOString();
}

function stringAttr(value: AttributeValue | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * What the store keeps of an ended span. Not the ReadableSpan itself: the SDK's span object
 * drags a dozen more objects along, and keeping those for the last thousand traces made every
 * young-generation GC copy them (measured: over a microsecond per span). An ended span no longer
 * changes, so its attributes object is shared, not copied.
 */
export interface StoredSpan {
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly name: string;
  readonly kind: SpanKind;
  readonly startMs: number;
  readonly endMs: number;
  readonly attributes: Attributes;
  readonly statusCode: SpanStatusCode;
  readonly statusMessage: string | undefined;
  readonly events: readonly TimedEvent[];
}

export const NO_EVENTS: readonly TimedEvent[] = Object.freeze([]);

function stored(span: ReadableSpan): StoredSpan {
  return {
    spanId: span.spanContext().spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    name: span.name,
    kind: span.kind,
    startMs: toMs(span.startTime),
    endMs: toMs(span.endTime),
    attributes: span.attributes,
    statusCode: span.status.code,
    statusMessage: span.status.message,
    events: span.events.length === 0 ? NO_EVENTS : span.events,
  };
}

class StoredTrace {
  readonly spans: StoredSpan[] = [];
  dropped = 0;
  error = false;
  startMs = Infinity;
  endMs = -Infinity;
  /** The earliest span. */
  first: StoredSpan | undefined;

  constructor(readonly traceId: string) {}

  add(span: StoredSpan): void {
    this.spans.push(span);
    if (span.startMs < this.startMs) {
      this.startMs = span.startMs;
      this.first = span;
    }
    if (span.endMs > this.endMs) this.endMs = span.endMs;
    if (span.statusCode === SpanStatusCode.ERROR) this.error = true;
  }

  get durationMs(): number {
    return Math.max(0, this.endMs - this.startMs);
  }

  hasFingerprint(fingerprint: string): boolean {
    for (const span of this.spans) if (span.attributes[ATTR_FINGERPRINT] === fingerprint) return true;
    return false;
  }

  summary(): TraceSummary {
    const first = this.first!;
    const a = first.attributes;
    return {
      traceId: this.traceId,
      rootName: first.name,
      startTime: iso(this.startMs),
      durationMs: this.durationMs,
      spanCount: this.spans.length,
      error: this.error,
      fingerprint: stringAttr(a[ATTR_FINGERPRINT]),
      database: stringAttr(a[ATTR_DB_NAMESPACE]),
      statement: stringAttr(a[ATTR_DB_QUERY_TEXT]),
    };
  }
}

function spanDetail(span: StoredSpan): SpanDetail {
  const code = STATUS_NAMES[span.statusCode] ?? 'UNSET';
  return {
    spanId: span.spanId,
    parentSpanId: span.parentSpanId,
    name: span.name,
    kind: KIND_NAMES[span.kind] ?? String(span.kind),
    startTime: iso(span.startMs),
    durationMs: Math.max(0, span.endMs - span.startMs),
    attributes: { ...span.attributes },
    status: span.statusMessage === undefined ? { code } : { code, message: span.statusMessage },
    events: span.events.map((e) => ({ name: e.name, time: iso(toMs(e.time)), attributes: { ...e.attributes } })),
  };
}

const SUCCESS: ExportResult = Object.freeze({ code: ExportResultCode.SUCCESS });

/** Span and trace ids (hex) from a pool of random bytes refilled 4 KiB at a time. */
function randomIds(): (bytes: number) => string {
  const pool = Buffer.allocUnsafe(4096);
  let offset = pool.length;
  return (bytes) => {
    if (offset + bytes > pool.length) {
      randomFillSync(pool);
      offset = 0;
    }
    const s = pool.toString('hex', offset, offset + bytes);
    offset += bytes;
    return s;
  };
}

export class TraceStore implements SpanExporter {
  private readonly maxTraces: number;
  private readonly maxSpansPerTrace: number;
  private readonly maxSpans: number;
  /** In order of each trace's first span: the first entry is the oldest. */
  private readonly traces = new Map<string, StoredTrace>();
  private spanCount = 0;
  private stopped = false;
  private readonly ids = randomIds();
  /** Spans the tracing plugin recorded without the SDK, made into stored spans when read. */
  readonly ring: SpanRing;

  constructor(opts: TraceStoreOptions = {}) {
    this.maxTraces = Math.max(1, opts.maxTraces ?? 1000);
    this.maxSpansPerTrace = Math.max(1, opts.maxSpansPerTrace ?? 200);
    this.maxSpans = Math.max(1, opts.maxSpans ?? 20_000);
    this.ring = new SpanRing(this.maxSpans);
  }

  private drainRing(): void {
    for (const { traceId, span } of this.ring.drain(this.ids)) this.addStored(traceId ?? this.ids(16), span);
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    for (const span of spans) this.add(span);
    resultCallback(SUCCESS);
  }

  /** Takes one ended span. */
  add(span: ReadableSpan): void {
    this.addStored(span.spanContext().traceId, stored(span));
  }

  /** Takes one ended span already in the stored form (the tracing plugin's direct path). */
  addStored(traceId: string, span: StoredSpan): void {
    if (this.stopped) return;
    let trace = this.traces.get(traceId);
    if (trace === undefined) {
      trace = new StoredTrace(traceId);
      this.traces.set(traceId, trace);
      if (this.traces.size > this.maxTraces) this.evictOldest();
    } else if (trace.spans.length >= this.maxSpansPerTrace) {
      trace.dropped++;
      return;
    }
    trace.add(span);
    this.spanCount++;
    while (this.spanCount > this.maxSpans && this.traces.size > 1) this.evictOldest();
  }

  private evictOldest(): void {
    const oldest = this.traces.keys().next();
    if (oldest.done) return;
    this.spanCount -= this.traces.get(oldest.value)!.spans.length;
    this.traces.delete(oldest.value);
  }

  /** Traces held now, newest first. */
  list(q: TraceQuery = {}): TraceSummary[] {
    this.drainRing();
    const limit = Math.max(0, q.limit ?? DEFAULT_LIMIT);
    const minDurationMs = q.minDurationMs ?? 0;
    const matching: StoredTrace[] = [];
    for (const trace of this.traces.values()) {
      if (q.errorsOnly && !trace.error) continue;
      if (trace.durationMs < minDurationMs) continue;
      if (q.fingerprint !== undefined && !trace.hasFingerprint(q.fingerprint)) continue;
      matching.push(trace);
    }
    matching.sort((a, b) => b.startMs - a.startMs);
    return matching.slice(0, limit).map((t) => t.summary());
  }

  get(traceId: string): TraceDetail | undefined {
    this.drainRing();
    const trace = this.traces.get(traceId);
    if (trace === undefined) return undefined;
    const spans = [...trace.spans].sort((a, b) => a.startMs - b.startMs).map(spanDetail);
    return { ...trace.summary(), spans, droppedSpans: trace.dropped };
  }

  /** Traces and spans held. */
  size(): { traces: number; spans: number } {
    this.drainRing();
    return { traces: this.traces.size, spans: this.spanCount };
  }

  clear(): void {
    this.ring.drain(() => '');
    this.traces.clear();
    this.spanCount = 0;
  }

  shutdown(): Promise<void> {
    this.stopped = true;
    return Promise.resolve();
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Hands each sampled span to the store the moment it ends, with none of the batching, promises
 * and context switching of the SDK's processors (a network exporter needs those; the store does not).
 */
export class StoreSpanProcessor implements SpanProcessor {
  constructor(private readonly store: TraceStore) {}

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0) this.store.add(span);
  }

  forceFlush(): Promise<void> {
    return this.store.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.store.shutdown();
  }
}
