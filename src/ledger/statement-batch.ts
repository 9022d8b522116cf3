// Statements through the proxy go into the ledger one leaf per interval: a leaf per statement
// would cost the database an index entry and a row per statement, more than the statement
// itself at pgbench rates. Each statement keeps its own record inside the leaf, so a proof of
// the leaf proves every statement in it.
//
// The leaf is RFC 8785 canonical JSON (members sorted), what repeats within an interval written
// once, and the statements by column (about 20 bytes a statement, so the database writes little
// more than the statements' count):
//   {"kind":"statements",
//    "sessions":[{"application","client","database","id","user"}, ...],   first seen order
//    "shapes":[{"statement","tables","text"}, ...],                         first seen order
//    "start":"<ISO time of the first statement>",
//    "statements":{"at":[ms after start], "denied"?:[statement index], "params"?:[[...] | null],
//                  "rows":[n], "session":[i], "shape":[i], "sqlstate":[s | null], "us":[duration in µs]}}
// where "session" and "shape" index those arrays. expandStatements turns a leaf back into one
// flat record per statement.

/** What a statement's record is made from (the proxy's QueryInfo/ResultInfo satisfy it). */
export interface StatementOutcome {
  readonly query: {
    readonly session: { readonly id: number; readonly user: string; readonly database: string; readonly clientAddress: string; readonly applicationName: string };
    readonly kind: string;
    readonly text: string;
    readonly normalized: string;
    readonly reads: readonly string[];
    readonly writes: readonly string[];
    readonly params?: readonly (Buffer | null)[];
    readonly paramFormats?: readonly number[];
  };
  readonly sqlstate?: string;
  readonly rows: number;
  readonly durationSeconds: number;
  readonly denied?: boolean;
}

/** Statements per leaf at most; at pgbench rates an interval holds about this many. */
export const MAX_STATEMENTS_PER_LEAF = 2000;
/** Characters of session, shape and parameter text per leaf at most (long texts and parameters under fullText). */
const MAX_LEAF_CHARS = 1 << 20;

const str = JSON.stringify;

export class StatementBatch {
  private sessions: string[] = [];
  /** Session id -> its index and the application_name it had then (SET application_name starts a new entry). */
  private sessionIndex = new Map<number, { index: number; application: string }>();
  private shapes: string[] = [];
  private shapeIndex = new Map<string, number>();
  private n = 0;
  private start = 0;
  // Integer columns: small integers join several times faster than doubles.
  private readonly at = new Uint32Array(MAX_STATEMENTS_PER_LEAF);
  private us: number[] = [];
  private rows: number[] = [];
  private readonly session = new Uint32Array(MAX_STATEMENTS_PER_LEAF);
  private readonly shape = new Uint32Array(MAX_STATEMENTS_PER_LEAF);
  private sqlstates: (string | null)[] = [];
  private denied: number[] = [];
  private params: ((string | null)[] | null)[] = [];
  private chars = 0;

  constructor(private readonly fullText = false) {}

  get count(): number {
    return this.n;
  }

  /** True when the leaf should be sealed before more are added. */
  get full(): boolean {
    return this.n >= MAX_STATEMENTS_PER_LEAF || this.chars >= MAX_LEAF_CHARS;
  }

  add(r: StatementOutcome): void {
    const q = r.query;
    const s = q.session;
    let si = this.sessionIndex.get(s.id);
    if (si === undefined || si.application !== s.applicationName) {
      si = { index: this.sessions.length, application: s.applicationName };
      this.sessionIndex.set(s.id, si);
      const json = `{"application":${str(s.applicationName)},"client":${str(s.clientAddress)},"database":${str(s.database)},"id":${s.id},"user":${str(s.user)}}`;
      this.sessions.push(json);
      this.chars += json.length;
    }
    const text = this.fullText ? q.text : q.normalized;
    let shape = this.shapeIndex.get(text);
    if (shape === undefined) {
      shape = this.shapes.length;
      this.shapeIndex.set(text, shape);
      const tables = q.writes.length ? [...q.writes, ...q.reads.filter((t) => !q.writes.includes(t))] : q.reads;
      const json = `{"statement":${str(q.kind)},"tables":${str(tables)},"text":${str(text)}}`;
      this.shapes.push(json);
      this.chars += json.length;
    }
    const i = this.n++;
    const now = Date.now();
    if (i === 0) this.start = now;
    this.at[i] = now - this.start;
    this.us.push(Math.round(r.durationSeconds * 1e6));
    this.rows.push(r.rows);
    this.session[i] = si.index;
    this.shape[i] = shape;
    this.sqlstates.push(r.sqlstate ?? null);
    if (r.denied) this.denied.push(i);
    if (this.fullText) {
      const p = q.params ? q.params.map((v, k) => paramText(v, q.paramFormats?.[k] ?? q.paramFormats?.[0] ?? 0)) : null;
      this.params.push(p);
      if (p) this.chars += str(p).length;
    }
  }

  /** The leaf's canonical JSON for what was added, and a fresh start; null when nothing was. */
  seal(): string | null {
    const n = this.n;
    if (n === 0) return null;
    // join() writes numbers with Number::toString, which is RFC 8785's number form.
    const col = (a: Uint32Array) => `[${a.subarray(0, n).join(',')}]`;
    const json =
      `{"kind":"statements","sessions":[${this.sessions.join(',')}],"shapes":[${this.shapes.join(',')}],"start":"${new Date(this.start).toISOString()}",` +
      `"statements":{"at":${col(this.at)},${this.denied.length ? `"denied":${str(this.denied)},` : ''}${this.fullText ? `"params":${str(this.params)},` : ''}` +
      `"rows":[${this.rows.join(',')}],"session":${col(this.session)},"shape":${col(this.shape)},"sqlstate":${str(this.sqlstates)},"us":[${this.us.join(',')}]}}`;
    this.sessions = [];
    this.sessionIndex.clear();
    this.shapes = [];
    this.shapeIndex.clear();
    this.n = 0;
    this.sqlstates = [];
    this.us = [];
    this.rows = [];
    this.denied = [];
    this.params = [];
    this.chars = 0;
    return json;
  }
}

/** A Bind parameter as logged: text as sent, binary as bytea's hex form, NULL as null. */
function paramText(p: Buffer | null, format: number): string | null {
  if (p === null) return null;
  return format === 1 ? `\\x${p.toString('hex')}` : p.toString('utf8');
}

export interface StatementRecord {
  time: string;
  session: number;
  user: string;
  database: string;
  client: string;
  application: string;
  statement: string;
  tables: string[];
  text: string;
  sqlstate: string | null;
  rows: number;
  ms: number;
  denied?: boolean;
  params?: (string | null)[];
}

interface StatementsLeaf {
  kind: 'statements';
  sessions: { id: number; user: string; database: string; client: string; application: string }[];
  shapes: { statement: string; tables: string[]; text: string }[];
  start: string;
  statements: { at: number[]; denied?: number[]; params?: ((string | null)[] | null)[]; rows: number[]; session: number[]; shape: number[]; sqlstate: (string | null)[]; us: number[] };
}

/** One flat record per statement of a decoded "statements" leaf. */
export function expandStatements(entry: Record<string, unknown>): StatementRecord[] {
  if (entry.kind !== 'statements') return [];
  const leaf = entry as unknown as StatementsLeaf;
  const c = leaf.statements;
  const start = Date.parse(leaf.start);
  const denied = new Set(c.denied ?? []);
  return c.at.map((at, i) => {
    const who = leaf.sessions[c.session[i]!]!;
    const what = leaf.shapes[c.shape[i]!]!;
    const params = c.params?.[i];
    return {
      time: new Date(start + at).toISOString(), session: who.id, user: who.user, database: who.database, client: who.client, application: who.application,
      statement: what.statement, tables: what.tables, text: what.text, sqlstate: c.sqlstate[i]!, rows: c.rows[i]!, ms: c.us[i]! / 1000,
      ...(denied.has(i) ? { denied: true } : {}), ...(params ? { params } : {}),
    };
  });
}
