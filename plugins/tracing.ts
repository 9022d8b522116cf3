// One OpenTelemetry span per statement, per the stable database semantic conventions
// (semconv 1.33+: db.system.name, db.namespace, db.operation.name, db.collection.name,
// db.query.text, db.query.summary, db.response.status_code), kind CLIENT: HeliosDB is the
// client of PostgreSQL on the application's behalf.
//
// The span is made at onResult, when everything about the statement is known, with explicit
// start and end times, so no span is held open across the statement and onQuery is not needed.
// A span continues the client's trace when the statement carries a sqlcommenter traceparent, or
// else when the session ran SET helios.traceparent = '00-...' (PostgreSQL takes any dotted
// custom setting, so the server accepts it harmlessly) and until RESET helios.traceparent,
// RESET ALL, DISCARD ALL or a SET to '' or DEFAULT. Not followed, as it would take tracking
// transactions: SET LOCAL helios.traceparent (ignored), and PostgreSQL's undoing of a SET made in
// a transaction that rolls back (the session keeps the traceparent).

import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type Attributes, type Context, type HrTime, type Span } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { DB_SYSTEM_NAME_VALUE_POSTGRESQL } from '@opentelemetry/semantic-conventions';
import { stripComments } from '../proxy/analyzer/comments.ts';
import type { CapturedPlan } from '../src/observability/tracing/plans.ts';
import { maskPlanLiterals } from '../src/observability/tracing/plans.ts';
import { parseTraceparent } from '../src/observability/tracing/traceparent.ts';
import type { QueryTextMode, Tracing } from '../src/observability/tracing/index.ts';
import type { Plugin, QueryInfo, ResultInfo, SessionInfo } from './contract.ts';

export const TRACING_PLUGIN_NAME = 'tracing';

// Span attributes beyond the stable conventions: db.response.returned_rows (the convention's
// name, still incubating); helios.fingerprint (trace-store.ts's ATTR_FINGERPRINT);
// helios.session.application_name; helios.denied (true when a HeliosDB plugin refused the
// statement and the upstream never ran it); and on slow statements the plan attributes below.

/** EXPLAIN (FORMAT JSON) of a slow statement, as JSON text, truncated to PLAN_ATTRIBUTE_LIMIT. */
export const ATTR_PLAN = 'helios.plan';
export const ATTR_PLAN_HASH = 'helios.plan.hash';
export const ATTR_PLAN_TOTAL_COST = 'helios.plan.total_cost';

export const PLAN_ATTRIBUTE_LIMIT = 16 * 1024;

/** The semconv's recommended bound for db.query.summary. */
const SUMMARY_LIMIT = 255;

/** Span name when the statement names no operation (it did not parse). */
const FALLBACK_SPAN_NAME = DB_SYSTEM_NAME_VALUE_POSTGRESQL;

export interface TracingPluginOptions {
  /** The upstream server's address, for server.address and server.port (it may change on reload). */
  upstream: () => { host: string; port: number };
  /** Default: the Tracing's. */
  queryText?: QueryTextMode;
  /** Default: the Tracing's; null: no plans. */
  planThresholdMs?: number | null;
}

/** What a statement analysis gives every span of it: computed once per analysis. */
interface Naming {
  readonly kind: string;
  readonly subkind: string | undefined;
  readonly writes: readonly string[];
  readonly spanName: string;
  readonly operation: string | undefined;
  readonly summary: string | undefined;
  /** Only when the statement touches exactly one table. */
  readonly collection: string | undefined;
}

const TRANSACTION_OPERATIONS: Readonly<Record<string, string>> = {
  START: 'START TRANSACTION',
  RELEASE: 'RELEASE SAVEPOINT',
  ROLLBACK_TO: 'ROLLBACK TO SAVEPOINT',
  PREPARE: 'PREPARE TRANSACTION',
  COMMIT_PREPARED: 'COMMIT PREPARED',
  ROLLBACK_PREPARED: 'ROLLBACK PREPARED',
};

// Analyzer kinds (parse node names) whose SQL keyword differs from the name with spaces.
const KIND_OPERATIONS: Readonly<Record<string, string>> = {
  VARIABLE_SET: 'SET',
  VARIABLE_SHOW: 'SHOW',
  REFRESH_MAT_VIEW: 'REFRESH MATERIALIZED VIEW',
  CREATE_SEQ: 'CREATE SEQUENCE',
  ALTER_SEQ: 'ALTER SEQUENCE',
  CREATE_TRIG: 'CREATE TRIGGER',
  CREATE_STATS: 'CREATE STATISTICS',
  CREATE_ENUM: 'CREATE TYPE',
  CREATE_RANGE: 'CREATE TYPE',
  COMPOSITE_TYPE: 'CREATE TYPE',
  DEFINE: 'CREATE',
  RENAME: 'ALTER',
  ALTER_OBJECT_SCHEMA: 'ALTER',
  ALTER_OWNER: 'ALTER',
  GRANT_ROLE: 'GRANT',
  CHECK_POINT: 'CHECKPOINT',
  DECLARE_CURSOR: 'DECLARE',
  CLOSE_PORTAL: 'CLOSE',
  CONSTRAINTS_SET: 'SET CONSTRAINTS',
  ALTER_ROLE_SET: 'ALTER ROLE',
  ALTER_DATABASE_SET: 'ALTER DATABASE',
};

/** db.operation.name: the statement's SQL keyword(s), e.g. SELECT, CREATE TABLE, BEGIN; undefined when it did not parse. */
export function operationName(kind: string, subkind?: string): string | undefined {
  if (kind === 'UNKNOWN' || kind === 'EMPTY' || kind === '') return undefined;
  if (kind === 'TRANSACTION') return subkind === undefined ? 'TRANSACTION' : (TRANSACTION_OPERATIONS[subkind] ?? subkind.replace(/_/g, ' '));
  return KIND_OPERATIONS[kind] ?? kind.replace(/_/g, ' ');
}

/**
 * db.query.summary: the operation and the tables it touches as written, e.g. "SELECT orders
 * customers", "INSERT events SELECT t", "CREATE TABLE t". The analyzer lists tables written and
 * read apart, so targets come first, then the tables read.
 */
export function querySummary(kind: string, operation: string | undefined, reads: readonly string[], writes: readonly string[]): string | undefined {
  if (operation === undefined) return undefined;
  let summary = operation;
  for (const w of writes) summary += ` ${w}`;
  if (reads.length > 0 && kind === 'INSERT') summary += ' SELECT';
  for (const r of reads) if (!writes.includes(r)) summary += ` ${r}`;
  return summary.length > SUMMARY_LIMIT ? summary.slice(0, SUMMARY_LIMIT) : summary;
}

function namingOf(q: QueryInfo): Naming {
  const operation = operationName(q.kind, q.subkind);
  const summary = querySummary(q.kind, operation, q.reads, q.writes);
  let collection: string | undefined;
  if (q.reads.length + q.writes.length > 0) {
    const tables = new Set([...q.writes, ...q.reads]);
    if (tables.size === 1) collection = tables.values().next().value;
  }
  return { kind: q.kind, subkind: q.subkind, writes: q.writes, spanName: summary ?? FALLBACK_SPAN_NAME, operation, summary, collection };
}

/** Whether an SQLSTATE makes the span an error: every class but 00 (success) and 01 (warning). */
export function isErrorSqlstate(sqlstate: string): boolean {
  return !(sqlstate.charCodeAt(0) === 48 && (sqlstate.charCodeAt(1) === 48 || sqlstate.charCodeAt(1) === 49));
}

// process.hrtime.bigint() counts from an arbitrary point; spans need epoch time. One reading of
// both clocks at load maps one onto the other (as the SDK does with performance.timeOrigin).
// Readings are used as Numbers: exact to the nanosecond for 104 days of hrtime, and to a few
// nanoseconds after, which spares a BigInt per span.
const HR_BASE = Number(process.hrtime.bigint());
const EPOCH_BASE_MS = performance.timeOrigin + performance.now();
const EPOCH_BASE_SEC = Math.floor(EPOCH_BASE_MS / 1000);
const EPOCH_BASE_NS = Math.round((EPOCH_BASE_MS - EPOCH_BASE_SEC * 1000) * 1e6);

/** Nanoseconds since EPOCH_BASE_SEC for an hrtime reading. */
function sinceBaseNs(hr: bigint): number {
  return EPOCH_BASE_NS + (Number(hr) - HR_BASE);
}

function hrTimeOf(ns: number): HrTime {
  const sec = Math.floor(ns / 1e9);
  return [EPOCH_BASE_SEC + sec, ns - sec * 1e9];
}

/** The session's traceparent from SET helios.traceparent, kept in session.state under the plugin's name. */
interface SessionTrace {
  readonly traceparent: string;
  readonly context: Context;
}

// On the comment-free text. A GUC name may be written quoted; the value is a string constant,
// an identifier or DEFAULT.
const SET_TRACEPARENT = /^set\s+(?:session\s+)?"?helios"?\s*\.\s*"?traceparent"?\s*(?:=|\bto\b)\s*([\s\S]*)$/i;
const SET_LOCAL = /^set\s+local\s/i;
const RESET_TRACEPARENT = /^reset\s+"?helios"?\s*\.\s*"?traceparent"?$/i;
const RESET_EVERYTHING = /^(?:reset\s+all|discard\s+all)$/i;

/** The text value of a SET: 'string' ('' doubled inside), "identifier", DEFAULT (undefined), or a bare word. */
function settingValue(raw: string): string | undefined {
  const v = raw.trim();
  if (v.length >= 2 && v.startsWith("'") && v.endsWith("'")) return v.slice(1, -1).replace(/''/g, "'");
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) return v.slice(1, -1).replace(/""/g, '"');
  if (/^default$/i.test(v)) return undefined;
  return v;
}

/** A remote parent for the traceparent (and tracestate), or undefined when it is not valid. */
function remoteContext(traceparent: string, tracestate: string | undefined): Context | undefined {
  const tp = parseTraceparent(traceparent);
  if (tp === undefined) return undefined;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: tp.traceId,
    spanId: tp.spanId,
    traceFlags: tp.traceFlags,
    isRemote: true,
    ...(tracestate !== undefined && tracestate !== '' && { traceState: new TraceState(tracestate) }),
  });
}

class TracingPlugin implements Plugin {
  readonly name = TRACING_PLUGIN_NAME;
  private readonly namings = new WeakMap<readonly string[], Naming>();
  private readonly fullText: boolean;
  private readonly planThresholdSeconds: number | null;
  // Statements of one request carry the same traceparent: the last one parsed is reused.
  private lastTraceparent = '';
  private lastTracestate: string | undefined;
  private lastContext: Context | undefined;

  constructor(
    private readonly tracing: Tracing,
    private readonly upstream: () => { host: string; port: number },
    queryText: QueryTextMode,
    planThresholdMs: number | null,
  ) {
    this.fullText = queryText === 'full';
    this.planThresholdSeconds = planThresholdMs === null || tracing.plans === undefined ? null : planThresholdMs / 1000;
  }

  onResult(r: ResultInfo): void {
    const q = r.query;
    const session = q.session;
    if (r.sqlstate === undefined && !r.denied && (q.kind === 'SET' || q.kind === 'VARIABLE_SET' || q.kind === 'DISCARD')) {
      this.followSetting(q, session);
    }
    const naming = this.naming(q);
    const upstream = this.upstream();
    const sqlstate = r.sqlstate;
    const failed = r.denied || (sqlstate !== undefined && isErrorSqlstate(sqlstate));
    const durationNs = Math.round(r.durationSeconds * 1e9);
    const startNs = q.startedAt === 0n ? sinceBaseNs(process.hrtime.bigint()) - durationNs : sinceBaseNs(q.startedAt);
    // Unparsed text has no normalized form to show: the raw text may hold literals.
    const text = this.fullText ? q.text : q.fingerprint !== '' && q.error === undefined && q.normalized !== '' ? q.normalized : undefined;
    // DataRow and CopyData are what a statement returns; an UPDATE's count is rows affected, not returned.
    const returnedRows = r.bytes > 0 ? r.rows : 0;
    // Error messages can quote the statement's values, so only full text mode shows them.
    const statusMessage = failed && this.fullText ? r.errorMessage : undefined;

    const parent = this.parentOf(q, session);
    if (this.tracing.recordsDirectly && !this.wantsPlan(r)) {
      const parentSpan = parent === ROOT_CONTEXT ? undefined : trace.getSpanContext(parent);
      // A client's unsampled trace is not recorded, as the SDK's parent-based sampler decides.
      if (parentSpan !== undefined && (parentSpan.traceFlags & TraceFlags.SAMPLED) === 0) return;
      const startMs = EPOCH_BASE_SEC * 1e3 + startNs / 1e6;
      this.tracing.store.ring.push(
        naming, startMs, startMs + durationNs / 1e6, failed, statusMessage, parentSpan?.traceId, parentSpan?.spanId,
        session.database, text, q.fingerprint === '' ? undefined : q.fingerprint,
        session.applicationName === '' ? undefined : session.applicationName, upstream, returnedRows, sqlstate, r.denied,
      );
      return;
    }
    // Literal keys (the convention's names) in one shape for the common case build fastest; the
    // SDK drops undefined values.
    const attributes: Attributes = {
      'db.system.name': DB_SYSTEM_NAME_VALUE_POSTGRESQL,
      'db.namespace': session.database,
      'db.operation.name': naming.operation,
      'db.collection.name': naming.collection,
      'db.query.summary': naming.summary,
      'db.query.text': text,
      'db.response.returned_rows': returnedRows,
      'server.address': upstream.host,
      'server.port': upstream.port,
      'helios.fingerprint': q.fingerprint === '' ? undefined : q.fingerprint,
      'helios.session.application_name': session.applicationName === '' ? undefined : session.applicationName,
    };
    if (sqlstate !== undefined) {
      attributes['db.response.status_code'] = sqlstate;
      if (failed) attributes['error.type'] = sqlstate;
    }
    if (r.denied) attributes['helios.denied'] = true;

    const span = this.tracing.tracer.startSpan(naming.spanName, { kind: SpanKind.CLIENT, attributes, startTime: hrTimeOf(startNs) }, parent);
    if (failed) span.setStatus(statusMessage !== undefined ? { code: SpanStatusCode.ERROR, message: statusMessage } : { code: SpanStatusCode.ERROR });
    const endTime = hrTimeOf(startNs + durationNs);
    // An unsampled span is exported nowhere, so its plan would be seen by nobody but the listeners.
    const pending = span.isRecording() ? this.planFor(r) : undefined;
    // Slow spans are rare: this one ends when its plan is in or the wait for it timed out.
    if (pending !== undefined) void pending.then((plan) => this.endWithPlan(span, endTime, plan));
    else span.end(endTime);
  }

  /** Slow enough for a plan; such spans go through the SDK, which holds them open until it is in. */
  private wantsPlan(r: ResultInfo): boolean {
    const threshold = this.planThresholdSeconds;
    return threshold !== null && r.durationSeconds >= threshold && !r.denied;
  }

  /** The plan lookup for a slow statement, or undefined when it gets none. */
  private planFor(r: ResultInfo): Promise<CapturedPlan | undefined> | undefined {
    if (!this.wantsPlan(r)) return undefined;
    const q = r.query;
    return this.tracing.plans!.capture({
      fingerprint: q.fingerprint,
      database: q.session.database,
      kind: q.kind,
      text: q.text,
      protocol: q.protocol,
      params: q.params,
      paramFormats: q.paramFormats,
    });
  }

  private planAttributes(plan: CapturedPlan): Attributes {
    const json = JSON.stringify(this.fullText ? plan.plan : maskPlanLiterals(plan.plan));
    return {
      [ATTR_PLAN]: json.length > PLAN_ATTRIBUTE_LIMIT ? json.slice(0, PLAN_ATTRIBUTE_LIMIT) : json,
      [ATTR_PLAN_HASH]: plan.planHash,
      ...(Number.isFinite(plan.totalCost) && { [ATTR_PLAN_TOTAL_COST]: plan.totalCost }),
    };
  }

  private endWithPlan(span: Span, endTime: HrTime, plan: CapturedPlan | undefined): void {
    if (plan !== undefined) span.setAttributes(this.planAttributes(plan));
    span.end(endTime);
  }

  /** Analyses are cached and shared, and each owns its frozen `reads` array: that keys the cache. */
  private naming(q: QueryInfo): Naming {
    const cached = this.namings.get(q.reads);
    // Analyses of unparsed statements share one empty array, so the key alone is not proof.
    if (cached !== undefined && cached.kind === q.kind && cached.subkind === q.subkind && cached.writes === q.writes) return cached;
    const naming = namingOf(q);
    this.namings.set(q.reads, naming);
    return naming;
  }

  /** The statement's own traceparent wins; an invalid one is ignored, as if absent. */
  private parentOf(q: QueryInfo, session: SessionInfo): Context {
    const traceparent = q.tags.traceparent;
    if (traceparent !== undefined) {
      const tracestate = q.tags.tracestate;
      if (traceparent !== this.lastTraceparent || tracestate !== this.lastTracestate) {
        this.lastTraceparent = traceparent;
        this.lastTracestate = tracestate;
        this.lastContext = remoteContext(traceparent, tracestate);
      }
      if (this.lastContext !== undefined) return this.lastContext;
    }
    const set = session.state.get(TRACING_PLUGIN_NAME) as SessionTrace | undefined;
    return set === undefined ? ROOT_CONTEXT : set.context;
  }

  /** Follows SET / RESET helios.traceparent, RESET ALL and DISCARD ALL that succeeded. */
  private followSetting(q: QueryInfo, session: SessionInfo): void {
    const text = stripComments(q.text);
    if (RESET_EVERYTHING.test(text) || RESET_TRACEPARENT.test(text)) {
      session.state.delete(TRACING_PLUGIN_NAME);
      return;
    }
    if (SET_LOCAL.test(text)) return;
    const m = SET_TRACEPARENT.exec(text);
    if (m === null) return;
    const value = settingValue(m[1]!);
    const context = value === undefined ? undefined : remoteContext(value, undefined);
    // An invalid value replaces the old one on the server, so it ends the session's trace here too.
    if (context === undefined) session.state.delete(TRACING_PLUGIN_NAME);
    else session.state.set(TRACING_PLUGIN_NAME, { traceparent: value!, context } satisfies SessionTrace);
  }
}

/** The tracing plugin: spans into `tracing`'s store and, when configured, its OTLP exporter. */
export function createTracingPlugin(tracing: Tracing, opts: TracingPluginOptions): Plugin {
  return new TracingPlugin(
    tracing,
    opts.upstream,
    opts.queryText ?? tracing.queryText,
    opts.planThresholdMs === undefined ? tracing.planThresholdMs : opts.planThresholdMs,
  );
}
