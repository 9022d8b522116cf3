// The tracing plugin's record of each statement's span, kept as columns in a fixed ring until
// someone reads the traces. Per statement that is a dozen array writes and no allocation: the
// span objects, ids and attribute maps are made only when the API or dashboard asks, and only
// for the newest spans, so a busy proxy that nobody is watching pays almost nothing for traces.
import { SpanKind, SpanStatusCode, type Attributes } from '@opentelemetry/api';
import { NO_EVENTS, type StoredSpan } from './trace-store.ts';

/** What a statement's span name and operation attributes derive from; shared per statement analysis. */
export interface SpanNaming {
  readonly spanName: string;
  readonly operation: string | undefined;
  readonly summary: string | undefined;
  readonly collection: string | undefined;
}

export interface RingSpan {
  /** Undefined for a new trace: its id is made when the span is read. */
  traceId: string | undefined;
  span: StoredSpan;
}

type Ids = (bytes: number) => string;

export class SpanRing {
  private readonly naming: (SpanNaming | undefined)[];
  private readonly startMs: Float64Array;
  private readonly endMs: Float64Array;
  private readonly failed: Uint8Array;
  private readonly denied: Uint8Array;
  private readonly rows: Float64Array;
  private readonly statusMessage: (string | undefined)[];
  private readonly traceId: (string | undefined)[];
  private readonly parentSpanId: (string | undefined)[];
  private readonly database: string[];
  private readonly text: (string | undefined)[];
  private readonly fingerprint: (string | undefined)[];
  private readonly applicationName: (string | undefined)[];
  private readonly sqlstate: (string | undefined)[];
  private readonly upstream: ({ host: string; port: number } | undefined)[];
  /** Spans pushed in all; the next slot is written % capacity. */
  private written = 0;
  /** `written` at the last drain. */
  private drained = 0;

  constructor(readonly capacity: number) {
    this.naming = new Array(capacity).fill(undefined);
    this.startMs = new Float64Array(capacity);
    this.endMs = new Float64Array(capacity);
    this.failed = new Uint8Array(capacity);
    this.denied = new Uint8Array(capacity);
    this.rows = new Float64Array(capacity);
    this.statusMessage = new Array(capacity).fill(undefined);
    this.traceId = new Array(capacity).fill(undefined);
    this.parentSpanId = new Array(capacity).fill(undefined);
    this.database = new Array(capacity).fill('');
    this.text = new Array(capacity).fill(undefined);
    this.fingerprint = new Array(capacity).fill(undefined);
    this.applicationName = new Array(capacity).fill(undefined);
    this.sqlstate = new Array(capacity).fill(undefined);
    this.upstream = new Array(capacity).fill(undefined);
  }

  push(
    naming: SpanNaming,
    startMs: number,
    endMs: number,
    failed: boolean,
    statusMessage: string | undefined,
    traceId: string | undefined,
    parentSpanId: string | undefined,
    database: string,
    text: string | undefined,
    fingerprint: string | undefined,
    applicationName: string | undefined,
    upstream: { host: string; port: number },
    rows: number,
    sqlstate: string | undefined,
    denied: boolean,
  ): void {
    const i = this.written++ % this.capacity;
    this.naming[i] = naming;
    this.startMs[i] = startMs;
    this.endMs[i] = endMs;
    this.failed[i] = failed ? 1 : 0;
    this.denied[i] = denied ? 1 : 0;
    this.rows[i] = rows;
    this.statusMessage[i] = statusMessage;
    this.traceId[i] = traceId;
    this.parentSpanId[i] = parentSpanId;
    this.database[i] = database;
    this.text[i] = text;
    this.fingerprint[i] = fingerprint;
    this.applicationName[i] = applicationName;
    this.sqlstate[i] = sqlstate;
    this.upstream[i] = upstream;
  }

  /** The spans pushed since the last drain (at most `capacity`, the newest), oldest first. */
  drain(ids: Ids): RingSpan[] {
    const from = Math.max(this.drained, this.written - this.capacity);
    const out: RingSpan[] = [];
    for (let n = from; n < this.written; n++) out.push(this.read(n % this.capacity, ids));
    this.drained = this.written;
    return out;
  }

  private read(i: number, ids: Ids): RingSpan {
    const naming = this.naming[i]!;
    const upstream = this.upstream[i]!;
    const sqlstate = this.sqlstate[i];
    const failed = this.failed[i] === 1;
    const attributes: Attributes = {
      'db.system.name': 'postgresql',
      'db.namespace': this.database[i],
      'db.operation.name': naming.operation,
      'db.collection.name': naming.collection,
      'db.query.summary': naming.summary,
      'db.query.text': this.text[i],
      'db.response.returned_rows': this.rows[i],
      'server.address': upstream.host,
      'server.port': upstream.port,
      'helios.fingerprint': this.fingerprint[i],
      'helios.session.application_name': this.applicationName[i],
    };
    if (sqlstate !== undefined) {
      attributes['db.response.status_code'] = sqlstate;
      if (failed) attributes['error.type'] = sqlstate;
    }
    if (this.denied[i] === 1) attributes['helios.denied'] = true;
    for (const k of Object.keys(attributes)) if (attributes[k] === undefined) delete attributes[k];
    return {
      traceId: this.traceId[i],
      span: {
        spanId: ids(8),
        parentSpanId: this.parentSpanId[i],
        name: naming.spanName,
        kind: SpanKind.CLIENT,
        startMs: this.startMs[i]!,
        endMs: this.endMs[i]!,
        attributes,
        statusCode: failed ? SpanStatusCode.ERROR : SpanStatusCode.UNSET,
        statusMessage: this.statusMessage[i],
        events: NO_EVENTS,
      },
    };
  }
}
