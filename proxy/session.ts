// One client connection and its upstream server connection.
//
// Bytes flow through FrameReaders in both directions. Without hooks the readers only walk
// frame headers (to validate client frames and to see ReadyForQuery) and forward the chunks
// as they are. With hooks, the session keeps a queue of the requests it sent upstream, in
// order, so that every server response is matched to its request: that is how results are
// attributed to statements, and how injected requests' responses are kept from the client.

import type net from 'node:net';
import type { ProxyCounters, QueryInfo, SessionInfo, StatementAnalysis } from '../plugins/contract.ts';
import { stripComments, type AnalyzedStatement } from './analyzer/index.ts';
import { AuthCode, Be, FE_KIND, Fe, LARGE_MESSAGE_LIMIT, SMALL_MESSAGE_LIMIT } from './codec/codes.ts';
import { FrameReader, Take, Verdict, type FrameVisitor } from './codec/frames.ts';
import {
  readBackendKeyData, readBindHead, readExecutePortal, readBindParams, readCommandTag, readParameterStatus, readParse, readQuery,
  readFields, readSaslMechanisms, readSqlState, readTarget, rowsFromTag, ProtocolError,
} from './codec/read.ts';
import * as w from './codec/write.ts';
import type { CancelKeys } from './cancel.ts';
import { denySql, type HookHost, type QueryOutcome } from './hooks.ts';
import type { ProxyOptions } from './options.ts';
import { connectUpstream, type UpstreamConnection } from './upstream.ts';
import { Statement } from './statement.ts';

/** What a session needs from the proxy around it. */
export interface SessionHost {
  options: ProxyOptions;
  hooks: HookHost;
  cancelKeys: CancelKeys;
  counters: ProxyCounters;
  log: NonNullable<ProxyOptions['log']>;
  closed(session: Session): void;
}

const enum Req {
  Query,
  Parse,
  Bind,
  Describe,
  Execute,
  Close,
  Sync,
  FunctionCall,
}

/** One execution of one statement, from onQuery to onResult. */
/** What extended-protocol statements add to a Statement. */
interface StatementExtras {
  phase?: 'parse' | 'execute';
  statementName?: string;
  params?: readonly (Buffer | null)[];
  paramFormats?: readonly number[];
}

interface Exec {
  query: QueryInfo;
  rows: number;
  bytes: number;
  deniedCode?: string;
  deny?: NonNullable<QueryOutcome['deny']>;
  done: boolean;
}

interface Pending {
  req: Req;
  /** Injected by the proxy: the client never sees its response. */
  suppress: boolean;
  /** Execute: the portal's execution. Query: its statements, `next` being the one running. */
  exec: Exec | null;
  execs: Exec[] | null;
  next: number;
  /** Plugin notices, sent to the client just before this request's first response. */
  notices: Buffer[] | null;
  /** Parse/Close: restores the statement map if the server rejects or skips the request. */
  undo: (() => void) | null;
}

interface Prepared {
  sql: string;
  /** What the server was actually asked to parse (differs after a Parse-time rewrite). */
  sentSql: string;
  analysis: StatementAnalysis;
  tags: Readonly<Record<string, string>>;
  paramTypes: number[];
  /** A deny decided at Parse: every execution is refused. */
  denied?: NonNullable<QueryOutcome['deny']>;
}

/** The proxy's own statement for injected requests; closed again before anything can fail. */
const TMP_STATEMENT = '__helios_tmp';
const CLOSE_TMP = w.close(0x53, TMP_STATEMENT);
/** SQL PREPARE name [(types)] AS statement — the server shares its namespace with Parse. */
const SQL_PREPARE = /^\s*prepare\s+("(?:[^"]|"")+"|[^\s(]+)\s*(?:\([^)]*\))?\s+as\s+([\s\S]*)$/i;
const SQL_DEALLOCATE = /^\s*deallocate\s+(?:prepare\s+)?("(?:[^"]|"")+"|\S+)\s*$/i;

const EMPTY_TAGS: Readonly<Record<string, string>> = Object.freeze({});
const ADMIN_SHUTDOWN = w.errorResponse({ severity: 'FATAL', code: '57P01', message: 'terminating connection because the HeliosDB proxy is shutting down' });

export class Session {
  readonly info: SessionInfo;
  phase: 'connecting' | 'auth' | 'ready' | 'closing' = 'connecting';
  txStatus: 'I' | 'T' | 'E' = 'I';
  queries = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** Queries, Syncs and FunctionCalls sent upstream and not yet answered by ReadyForQuery. */
  private outstanding = 0;
  private upstream: net.Socket | null = null;
  upstreamTls = false;
  connectSeconds = 0;
  serverPid = 0;
  private serverKey: Buffer | null = null;
  private proxyPid = 0;
  protocolVersion: string;
  private draining = false;
  private closed = false;
  /** The client's own Terminate went upstream: the server closes without another. */
  private clientTerminated = false;
  /** onConnect ran: the client authenticated. */
  private connected = false;
  private serverSentFatal = false;

  private readonly hooks: HookHost;
  private readonly tracks: boolean;
  private readonly fromClient: FrameReader;
  private readonly fromServer: FrameReader;
  private readonly pending: Pending[] = [];
  private head = 0;
  private readonly statements = new Map<string, Prepared>();
  /** Notices decided for the next request to be queued. */
  private noticeQueue: Buffer[] | null = null;
  /** Client Syncs since its last Execute/Query: the server ignores those sent into COPY FROM STDIN. */
  private syncsSinceExecute = 0;
  /** The server is in COPY FROM STDIN (or COPY BOTH) and ignores Sync until CopyDone/CopyFail. */
  private copyIn = false;
  private readonly portals = new Map<string, Exec>();
  private readonly maxMessage: number;
  private readonly maxDecodedBind: number;

  constructor(
    private readonly host: SessionHost,
    private readonly client: net.Socket,
    id: number,
    params: Map<string, string>,
    minorVersion: number,
    clientAddress: string,
    clientTls: boolean,
  ) {
    const user = params.get('user') ?? '';
    this.info = {
      id,
      user,
      database: params.get('database') ?? user,
      applicationName: params.get('application_name') ?? '',
      clientAddress,
      tls: clientTls,
      connectedAt: Date.now(),
      state: new Map(),
    };
    this.protocolVersion = `3.${minorVersion}`;
    this.hooks = host.hooks;
    this.tracks = host.hooks.tracks;
    this.maxMessage = host.options.maxMessageBytes ?? LARGE_MESSAGE_LIMIT;
    this.maxDecodedBind = host.options.maxDecodedBindBytes ?? 1 << 20;
    this.fromClient = new FrameReader(this.clientVisitor());
    this.fromServer = new FrameReader(this.serverVisitor());
  }

  get idle(): boolean {
    return this.phase === 'ready' && this.outstanding === 0 && this.txStatus === 'I' && this.fromClient.atBoundary && !this.fromClient.isPaused;
  }

  get viewState(): 'startup' | 'idle' | 'active' | 'closing' {
    if (this.phase === 'closing') return 'closing';
    if (this.phase !== 'ready') return 'startup';
    return this.outstanding > 0 || this.txStatus !== 'I' ? 'active' : 'idle';
  }

  /** Connects upstream and forwards the client's startup packet, byte for byte. */
  async start(startupPacket: Buffer, early: Buffer | null, dial: Promise<UpstreamConnection>): Promise<void> {
    const { options, counters } = this.host;
    this.client.on('error', () => this.close());
    this.client.on('close', () => this.close());
    let conn;
    try {
      conn = await dial;
    } catch (err) {
      counters.upstreamConnectErrors++;
      options.onUpstreamConnect?.(0, false);
      const e = err as Error & { sqlstate?: string };
      this.host.log('warn', 'upstream connect failed', { session: this.info.id, error: e.message });
      this.failClient(e.sqlstate ?? '08001', e.message);
      return;
    }
    if (this.phase === 'closing') {
      conn.socket.destroy();
      return;
    }
    options.onUpstreamConnect?.(conn.seconds, true);
    this.connectSeconds = conn.seconds;
    this.upstream = conn.socket;
    this.upstreamTls = conn.tls;
    counters.serversActive++;
    this.phase = 'auth';
    const up = conn.socket;
    conn.read((chunk) => this.onServerData(chunk));
    up.on('error', (err) => this.host.log('debug', 'upstream socket error', { session: this.info.id, error: err.message }));
    up.on('close', () => this.onUpstreamClosed());
    up.write(startupPacket);
    this.client.on('data', (chunk: Buffer) => this.onClientData(chunk));
    if (early) this.onClientData(early);
    this.client.resume();
  }

  // ---- client -> server --------------------------------------------------------------

  private onClientData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    this.host.counters.bytesFromClients += chunk.length;
    this.fromClient.push(chunk);
    this.flushUpstream();
  }

  private flushUpstream(): void {
    const out = this.fromClient.out;
    if (out.length === 0) return;
    const up = this.upstream;
    if (up === null || up.destroyed) {
      out.length = 0;
      return;
    }
    let ok = true;
    if (out.length === 1) ok = up.write(out[0]!);
    else {
      up.cork();
      for (const b of out) ok = up.write(b);
      up.uncork();
    }
    out.length = 0;
    if (!ok) {
      this.client.pause();
      up.once('drain', () => this.client.resume());
    }
  }

  private clientVisitor(): FrameVisitor {
    return {
      header: (type, length) => {
        const kind = FE_KIND[type]!;
        if (kind === 0) return this.protocolViolation(`invalid frontend message type ${type}`);
        if (length < 4 || length > (kind === 1 ? SMALL_MESSAGE_LIMIT : this.maxMessage)) {
          return this.protocolViolation(`invalid message length ${length} for message type "${String.fromCharCode(type)}"`);
        }
        if (!this.tracks) {
          switch (type) {
            case Fe.Query:
              this.queries++;
              this.host.counters.queries++;
              this.syncsSinceExecute = 0;
              this.outstanding++;
              break;
            case Fe.FunctionCall:
              this.outstanding++;
              break;
            case Fe.Sync:
              if (!this.copyIn) {
                this.syncsSinceExecute++;
                this.outstanding++;
              }
              break;
            case Fe.Execute:
              this.syncsSinceExecute = 0;
              break;
            case Fe.CopyDone:
            case Fe.CopyFail:
              this.copyIn = false;
              break;
            case Fe.Terminate:
              this.clientTerminated = true;
          }
          return Take.Pass;
        }
        switch (type) {
          case Fe.Query:
          case Fe.Parse:
            return length + 1 > this.maxDecodedBind ? Take.Prefix : Take.Whole;
          case Fe.Bind:
            return length + 1 > this.maxDecodedBind ? Take.Prefix : Take.Whole;
          case Fe.Execute:
          case Fe.Describe:
          case Fe.Close:
          case Fe.Sync:
            return Take.Whole;
          case Fe.FunctionCall:
            return length + 1 > this.maxDecodedBind ? Take.Prefix : Take.Whole;
          case Fe.Terminate:
            this.clientTerminated = true;
            return Take.Pass;
          case Fe.CopyDone:
          case Fe.CopyFail:
            this.copyIn = false;
            return Take.Pass;
          default:
            return Take.Pass;
        }
      },
      whole: (frame) => {
        try {
          return this.onClientFrame(frame);
        } catch (err) {
          if (err instanceof ProtocolError) {
            this.protocolViolation(err.message);
            return Verdict.Drop;
          }
          throw err;
        }
      },
      prefix: (head, total) => this.onOversizedClientFrame(head, total),
    };
  }

  private onClientFrame(frame: Buffer): Verdict {
    switch (frame[0]) {
      case Fe.Query:
        this.syncsSinceExecute = 0;
        return this.onQuery(frame);
      case Fe.Parse:
        return this.onParse(frame);
      case Fe.Bind:
        return this.onBind(frame, readBindHead(frame), true);
      case Fe.FunctionCall:
        return this.onFunctionCall(frame, true);
      case Fe.Execute: {
        this.syncsSinceExecute = 0;
        this.enqueue(Req.Execute, false, this.portals.get(readExecutePortal(frame)) ?? null, null);
        return Verdict.Forward;
      }
      case Fe.Describe:
        this.enqueue(Req.Describe, false, null, null);
        return Verdict.Forward;
      case Fe.Close: {
        const t = readTarget(frame);
        if (t.type === 0x53) {
          const prev = this.statements.get(t.name);
          this.statements.delete(t.name);
          this.enqueue(Req.Close, false, null, null, prev ? () => this.statements.set(t.name, prev) : null);
        } else {
          const prev = this.portals.get(t.name);
          this.portals.delete(t.name);
          this.enqueue(Req.Close, false, null, null, prev ? () => this.portals.set(t.name, prev) : null);
        }
        return Verdict.Forward;
      }
      case Fe.Sync:
        if (this.copyIn) return Verdict.Forward;
        this.syncsSinceExecute++;
        this.enqueue(Req.Sync, false, null, null);
        this.outstanding++;
        return Verdict.Forward;
    }
    return Verdict.Forward;
  }

  /** Frames too large to buffer: hooks see the statement as too large to analyze. */
  private onOversizedClientFrame(head: Buffer, total: number): boolean {
    try {
      if (head[0] === Fe.Bind) {
        const v = this.onBind(head, readBindHead(head), false);
        return v === Verdict.Forward;
      }
      if (head[0] === Fe.FunctionCall) return this.onFunctionCall(head, false) === Verdict.Forward;
      const sql = `<${total} bytes, too large to analyze>`;
      const unknown: StatementAnalysis = { kind: 'UNKNOWN', reads: [], writes: [], fingerprint: '', normalized: '', error: 'statement too large to analyze' };
      if (head[0] === Fe.Parse) {
        const name = head.toString('utf8', 5, Math.max(5, head.indexOf(0, 5)));
        const prev = this.statements.get(name);
        this.statements.set(name, { sql, sentSql: sql, analysis: unknown, tags: EMPTY_TAGS, paramTypes: [] });
        this.enqueue(Req.Parse, false, null, null, () => this.restoreStatement(name, prev));
        return true;
      }
      // A simple Query too large to analyze: decide on it as UNKNOWN, and stream it through.
      const exec = this.newExec({ text: sql, start: 0, end: 0, analysis: unknown, tags: EMPTY_TAGS }, 'simple', 0);
      const out = this.hooks.decide(exec.query);
      this.queries++;
      this.outstanding++;
      if (out instanceof Promise || out.deny || out.sql !== undefined) {
        // Refusing is the only safe answer we can give without reading it.
        const deny = out instanceof Promise || !out.deny
          ? { sqlstate: '54000', message: `statement of ${total} bytes is too large for HeliosDB plugins to inspect` }
          : out.deny;
        exec.deny = deny;
        exec.deniedCode = deny.sqlstate;
        this.enqueue(Req.Query, false, null, [exec]);
        this.fromClient.emit(w.query(denySql(deny.sqlstate)));
        return false;
      }
      this.sendNotices(out);
      this.enqueue(Req.Query, false, null, [exec]);
      return true;
    } catch (err) {
      this.protocolViolation(err instanceof Error ? err.message : String(err));
      return false;
    }
  }

  private newExec(st: AnalyzedStatement, protocol: 'simple' | 'extended', index: number, extra?: StatementExtras): Exec {
    const query = new Statement(
      st.analysis, this.info, st.text, st.tags, protocol, extra?.phase ?? 'execute', index,
      extra?.statementName, extra?.params, extra?.paramFormats,
    );
    return { query, rows: 0, bytes: 0, done: false };
  }

  private onQuery(frame: Buffer): Verdict {
    const sql = readQuery(frame);
    const stmts = this.hooks.analyzer!.analyzeQuery(sql);
    this.queries++;
    this.outstanding++;
    const execs = stmts.map((st, i) => this.newExec(st, 'simple', i));
    const outcomes: QueryOutcome[] = [];
    const r = this.decideAll(execs, 0, outcomes);
    if (r === null) return this.sendQuery(frame, sql, stmts, execs, outcomes);
    this.host.counters.queries++;
    r.then(
      () => {
        if (this.phase === 'closing') return;
        this.sendQuery(null, sql, stmts, execs, outcomes);
        this.continueClient();
      },
      (err: unknown) => this.internalError(err),
    );
    return Verdict.Pause;
  }

  /** Runs onQuery for each statement in order until one is denied; null when all were synchronous. */
  private decideAll(execs: Exec[], from: number, outcomes: QueryOutcome[]): Promise<void> | null {
    for (let i = from; i < execs.length; i++) {
      const o = this.hooks.decide(execs[i]!.query);
      if (o instanceof Promise) {
        return o.then((res) => {
          outcomes[i] = res;
          if (res.deny) return;
          return this.decideAll(execs, i + 1, outcomes) ?? undefined;
        });
      }
      outcomes[i] = o;
      if (o.deny) return null;
    }
    return null;
  }

  private sendQuery(frame: Buffer | null, sql: string, stmts: readonly AnalyzedStatement[], execs: Exec[], outcomes: QueryOutcome[]): Verdict {
    if (frame !== null) this.host.counters.queries++;
    let changed = false;
    let text = '';
    let cursor = 0;
    let count = execs.length;
    for (let i = 0; i < outcomes.length; i++) {
      const o = outcomes[i]!;
      this.sendNotices(o);
      if (o.deny) {
        const e = execs[i]!;
        e.deny = o.deny;
        e.deniedCode = o.deny.sqlstate;
        text += sql.slice(cursor, stmts[i]!.start) + denySql(o.deny.sqlstate);
        cursor = sql.length;
        count = i + 1;
        changed = true;
        this.host.counters.denied++;
        break;
      }
      if (o.sql !== undefined) {
        text += sql.slice(cursor, stmts[i]!.start) + o.sql;
        cursor = stmts[i]!.end;
        changed = true;
      }
    }
    const run = count === execs.length ? execs : execs.slice(0, count);
    const now = process.hrtime.bigint();
    for (const e of run) e.query.startedAt = now;
    this.enqueue(Req.Query, false, null, run);
    if (!changed && frame !== null) return Verdict.Forward;
    this.fromClient.emit(changed ? w.query(text + sql.slice(cursor)) : w.query(sql));
    return Verdict.Drop;
  }

  /** Notices ride on the next queued request, so they reach the client between server messages. */
  private sendNotices(o: QueryOutcome): void {
    if (o.notices === undefined) return;
    if (this.noticeQueue === null) this.noticeQueue = [...o.notices];
    else this.noticeQueue.push(...o.notices);
  }

  private restoreStatement(name: string, prev: Prepared | undefined): void {
    if (prev === undefined) this.statements.delete(name);
    else this.statements.set(name, prev);
  }

  /**
   * Plugins see the statement at Parse too (phase 'parse'), so that a rewrite or an intercept
   * replaces it before the server describes it; the replacement keeps the client's name.
   */
  private onParse(frame: Buffer): Verdict {
    const p = readParse(frame);
    const a = this.hooks.analyzer!.analyzeStatement(p.sql);
    const prep: Prepared = { sql: p.sql, sentSql: p.sql, analysis: a.analysis, tags: a.tags, paramTypes: p.paramTypes };
    const exec = this.newExec(a, 'extended', 0, { statementName: p.name, phase: 'parse' });
    const o = this.hooks.decide(exec.query);
    if (o instanceof Promise) {
      o.then(
        (res) => {
          if (this.phase === 'closing') return;
          if (this.finishParse(p.name, prep, res) === Verdict.Forward) this.fromClient.emit(frame);
          this.continueClient();
        },
        (err: unknown) => this.internalError(err),
      );
      return Verdict.Pause;
    }
    return this.finishParse(p.name, prep, o);
  }

  /** Notices decided at Parse are not sent: they belong to executions. */
  private finishParse(name: string, prep: Prepared, o: QueryOutcome): Verdict {
    if (o.deny) prep.denied = o.deny;
    const prev = this.statements.get(name);
    this.statements.set(name, prep);
    this.enqueue(Req.Parse, false, null, null, () => this.restoreStatement(name, prev));
    if (o.deny || o.sql === undefined) return Verdict.Forward;
    prep.sentSql = o.sql;
    this.fromClient.emit(w.parse(name, o.sql, prep.paramTypes));
    return Verdict.Drop;
  }

  /** `whole` is false for a Bind too large to decode: hooks get no parameters, and it cannot be rewritten. */
  private onBind(frame: Buffer, head: { portal: string; statement: string; restOffset: number }, whole: boolean): Verdict {
    // Unknown here: made by a SQL PREPARE the proxy could not read, or not existing (the server will say so).
    const prep = this.statements.get(head.statement) ?? unknownStatement(head.statement);
    let extra: StatementExtras = { statementName: head.statement };
    if (whole) {
      const p = readBindParams(frame, head.restOffset);
      extra = { statementName: head.statement, params: p.values, paramFormats: p.formats };
    }
    const exec = this.newExec({ text: prep.sql, start: 0, end: 0, analysis: prep.analysis, tags: prep.tags }, 'extended', 0, extra);
    this.queries++;
    const o = this.hooks.decide(exec.query);
    if (o instanceof Promise) {
      if (!whole) {
        exec.deny = { sqlstate: '54000', message: 'Bind message too large for an asynchronous HeliosDB plugin decision' };
        return this.denyBind(exec);
      }
      this.host.counters.queries++;
      o.then(
        (res) => {
          if (this.phase === 'closing') return;
          if (this.applyBind(frame, head, prep, exec, res) === Verdict.Forward) this.fromClient.emit(frame);
          this.continueClient();
        },
        (err: unknown) => this.internalError(err),
      );
      return Verdict.Pause;
    }
    this.host.counters.queries++;
    if (!whole && o.sql !== undefined) {
      exec.deny = { sqlstate: '54000', message: 'Bind message too large for HeliosDB to rewrite its statement' };
      return this.denyBind(exec);
    }
    return this.applyBind(frame, head, prep, exec, o);
  }

  private applyBind(frame: Buffer, head: { portal: string; restOffset: number }, prep: Prepared, exec: Exec, o: QueryOutcome): Verdict {
    this.sendNotices(o);
    const deny = o.deny ?? prep.denied;
    if (deny) {
      exec.deny = deny;
      this.host.counters.denied++;
      return this.denyBind(exec);
    }
    exec.query.startedAt = process.hrtime.bigint();
    this.portals.set(head.portal, exec);
    if (o.sql === undefined || o.sql === prep.sentSql) {
      this.enqueue(Req.Bind, false, exec, null);
      return Verdict.Forward;
    }
    // Rewritten at execution (e.g. an intercept with fresh rows): bind the client's portal to
    // the new text parsed under the proxy's own name, leaving the client's statements alone.
    this.closeTmp();
    this.enqueue(Req.Parse, true, null, null);
    this.fromClient.emit(w.parse(TMP_STATEMENT, o.sql, prep.paramTypes));
    this.enqueue(Req.Bind, false, exec, null);
    this.fromClient.emit(w.rebind(frame, head.portal, TMP_STATEMENT, head.restOffset));
    this.closeTmp();
    return Verdict.Drop;
  }

  /**
   * A fast-path FunctionCall (libpq's PQfn, which its large-object API uses) is judged like a
   * statement of kind FUNCTION_CALL named by the function's OID, so a budget or a policy cannot
   * be sidestepped through it. `whole` is false for a call too large to buffer (a big lo_write).
   */
  private onFunctionCall(frame: Buffer, whole: boolean): Verdict {
    const text = `<fast-path FunctionCall: function oid ${frame.readUInt32BE(5)}>`;
    const analysis: StatementAnalysis = { kind: 'FUNCTION_CALL', reads: [], writes: [], fingerprint: '', normalized: text };
    const exec = this.newExec({ text, start: 0, end: 0, analysis, tags: EMPTY_TAGS }, 'simple', 0);
    this.queries++;
    this.outstanding++;
    this.host.counters.queries++;
    const o = this.hooks.decide(exec.query);
    if (o instanceof Promise) {
      // A streamed frame cannot wait for a decision: its bytes are already on their way.
      if (!whole) return this.applyFunctionCall(exec, { deny: { sqlstate: '54000', message: 'FunctionCall message too large for an asynchronous HeliosDB plugin decision' } });
      o.then(
        (res) => {
          if (this.phase === 'closing') return;
          if (this.applyFunctionCall(exec, res) === Verdict.Forward) this.fromClient.emit(frame);
          this.continueClient();
        },
        (err: unknown) => this.internalError(err),
      );
      return Verdict.Pause;
    }
    return this.applyFunctionCall(exec, o);
  }

  /**
   * A refused call is replaced by a Query that makes the server raise the refusal: both are
   * answered by ErrorResponse then ReadyForQuery, and the transaction fails as it would for the
   * call. The client expects a FunctionCallResponse, so a rewrite cannot apply and refuses too.
   */
  private applyFunctionCall(exec: Exec, o: QueryOutcome): Verdict {
    this.sendNotices(o);
    const deny = o.deny ?? (o.sql !== undefined ? { sqlstate: '0A000', message: 'a fast-path FunctionCall cannot be rewritten by a HeliosDB plugin' } : undefined);
    exec.query.startedAt = process.hrtime.bigint();
    this.enqueue(Req.FunctionCall, false, null, [exec]);
    if (deny === undefined) return Verdict.Forward;
    exec.deny = deny;
    exec.deniedCode = deny.sqlstate;
    this.host.counters.denied++;
    this.fromClient.emit(w.query(denySql(deny.sqlstate)));
    return Verdict.Drop;
  }

  /**
   * In place of the Bind, the server runs a statement that raises the deny's SQLSTATE: it
   * answers with ErrorResponse where the client expects BindComplete, skips the client's
   * messages until Sync, and its transaction is aborted as by any failed statement.
   */
  private denyBind(exec: Exec): Verdict {
    const code = exec.deny!.sqlstate;
    exec.deniedCode = code;
    // The injected Parse and Bind carry the execution too: in an aborted transaction they fail first (25P02).
    // The statement is closed before it runs, so nothing of it outlives the error.
    this.closeTmp();
    this.enqueue(Req.Parse, true, exec, null);
    this.fromClient.emit(w.parse(TMP_STATEMENT, denySql(code)));
    this.enqueue(Req.Bind, true, exec, null);
    this.fromClient.emit(w.bindEmpty('', TMP_STATEMENT));
    this.closeTmp();
    this.enqueue(Req.Execute, false, exec, null);
    this.fromClient.emit(w.execute(''));
    return Verdict.Drop;
  }

  /** Closing a statement that does not exist is not an error, so this also clears a leftover. */
  private closeTmp(): void {
    this.enqueue(Req.Close, true, null, null);
    this.fromClient.emit(CLOSE_TMP);
  }

  private continueClient(): void {
    this.flushUpstream();
    this.fromClient.resume();
    this.flushUpstream();
  }

  private enqueue(req: Req, suppress: boolean, exec: Exec | null, execs: Exec[] | null, undo: (() => void) | null = null): void {
    const notices = this.noticeQueue;
    this.noticeQueue = null;
    this.pending.push({ req, suppress, exec, execs, next: 0, notices, undo });
  }

  // ---- server -> client --------------------------------------------------------------

  /** Returns true while anything still refers to `chunk`, which the next read would otherwise overwrite. */
  private onServerData(chunk: Buffer): boolean {
    this.bytesOut += chunk.length;
    this.host.counters.bytesFromServers += chunk.length;
    this.fromServer.push(chunk);
    const out = this.fromServer.out;
    if (out.length === 0) return this.fromServer.holding;
    const c = this.client;
    let ok = true;
    if (out.length === 1) ok = c.write(out[0]!);
    else {
      c.cork();
      for (const b of out) ok = c.write(b);
      c.uncork();
    }
    out.length = 0;
    if (!ok && this.upstream) {
      const up = this.upstream;
      up.pause();
      c.once('drain', () => up.resume());
    }
    if (this.draining && this.idle) this.close(ADMIN_SHUTDOWN);
    return this.fromServer.holding || c.writableLength > 0;
  }

  private serverVisitor(): FrameVisitor {
    return {
      header: (type, length) => {
        if (this.phase !== 'ready') return Take.Whole;
        if (!this.tracks) {
          return type === Be.ReadyForQuery || type === Be.ParameterStatus || type === Be.ErrorResponse ||
            type === Be.CopyInResponse || type === Be.CopyBothResponse ? Take.Whole : Take.Pass;
        }
        if (this.pending[this.head]?.notices) return Take.Whole;
        switch (type) {
          case Be.DataRow:
          case Be.CopyData: {
            const e = this.current();
            if (e !== null) {
              e.rows += type === Be.DataRow ? 1 : 0;
              e.bytes += length + 1;
            }
            return Take.Pass;
          }
          case Be.FunctionCallResponse:
            // Its value may be large (lo_read): the call completes here and the bytes stream on.
            this.completeFunctionCall(length);
            return Take.Pass;
          case Be.NoticeResponse:
          case Be.NotificationResponse:
          case Be.CopyDone:
            return Take.Pass;
          default:
            return Take.Whole;
        }
      },
      whole: (frame) => (this.phase === 'ready' ? this.onServerFrame(frame) : this.onStartupFrame(frame)),
      prefix: () => true,
    };
  }

  private onStartupFrame(frame: Buffer): Verdict {
    switch (frame[0]) {
      case Be.Authentication:
        // A TLS upstream offers SCRAM-SHA-256-PLUS; libpq refuses that offer on a plain
        // connection, which is what the client's hop is here. Over TLS it is passed through.
        if (!this.info.tls && frame.readInt32BE(5) === AuthCode.SASL) {
          const mechs = readSaslMechanisms(frame);
          const plain = mechs.filter((m) => !m.endsWith('-PLUS'));
          if (plain.length !== mechs.length && plain.length > 0) {
            this.fromServer.emit(w.authenticationSasl(plain));
            return Verdict.Drop;
          }
        }
        return Verdict.Forward;
      case Be.BackendKeyData: {
        const k = readBackendKeyData(frame);
        this.serverPid = k.pid;
        this.serverKey = Buffer.from(k.key);
        const mine = this.host.cancelKeys.issue(this, k.key.length);
        this.proxyPid = mine.pid;
        // Same length, so rewritten in place: the chunk still goes out in one piece.
        w.overwriteBackendKeyData(frame, mine.pid, mine.key);
        return Verdict.Forward;
      }
      case Be.ParameterStatus:
        this.onParameterStatus(frame);
        return Verdict.Forward;
      case Be.ReadyForQuery:
        this.txStatus = String.fromCharCode(frame[5]!) as 'I' | 'T' | 'E';
        this.phase = 'ready';
        this.connected = true;
        this.hooks.connect(this.info);
        return Verdict.Forward;
      case Be.NegotiateProtocolVersion:
        this.protocolVersion = `3.${frame.readInt32BE(5) & 0xffff}`;
        return Verdict.Forward;
      case Be.ErrorResponse:
        this.serverSentFatal = true;
        return Verdict.Forward;
    }
    return Verdict.Forward;
  }

  private onParameterStatus(frame: Buffer): void {
    if (frame[5] !== 0x61 /* a */) return;
    const [name, value] = readParameterStatus(frame);
    if (name === 'application_name') this.info.applicationName = value;
  }

  /** The request whose response is arriving: the first not yet answered. */
  private current(): Exec | null {
    const p = this.pending[this.head];
    if (p === undefined) return null;
    if (p.execs !== null) return p.execs[p.next] ?? null;
    return p.exec;
  }

  private pop(): Pending | undefined {
    const p = this.pending[this.head];
    if (p === undefined) return undefined;
    if (p.notices !== null) this.flushNotices(p);
    this.head++;
    if (this.head === this.pending.length) {
      this.pending.length = 0;
      this.head = 0;
    } else if (this.head > 1024) {
      this.pending.splice(0, this.head);
      this.head = 0;
    }
    return p;
  }

  private flushNotices(p: Pending): void {
    for (const n of p.notices!) this.fromServer.emit(n);
    p.notices = null;
  }

  /**
   * COPY FROM STDIN / COPY BOTH began: the server ignores the Syncs the client pipelined after
   * the Execute, and any it sends until CopyDone or CopyFail, so they get no ReadyForQuery.
   */
  private onCopyIn(): void {
    this.copyIn = true;
    let n = this.syncsSinceExecute;
    this.syncsSinceExecute = 0;
    this.outstanding -= Math.min(n, this.outstanding);
    for (let i = this.pending.length - 1; n > 0 && i > this.head; i--) {
      if (this.pending[i]!.req === Req.Sync) {
        this.pending.splice(i, 1);
        n--;
      }
    }
  }

  private onServerFrame(frame: Buffer): Verdict {
    const type = frame[0]!;
    if (!this.tracks) {
      if (type === Be.ReadyForQuery) {
        this.txStatus = String.fromCharCode(frame[5]!) as 'I' | 'T' | 'E';
        if (this.outstanding > 0) this.outstanding--;
      } else if (type === Be.ParameterStatus) this.onParameterStatus(frame);
      else if (type === Be.CopyInResponse || type === Be.CopyBothResponse) this.onCopyIn();
      else if (isFatal(frame)) this.serverSentFatal = true;
      return Verdict.Forward;
    }
    const head = this.pending[this.head];
    if (head !== undefined && head.notices !== null) this.flushNotices(head);
    switch (type) {
      case Be.CopyInResponse:
      case Be.CopyBothResponse:
        this.onCopyIn();
        return Verdict.Forward;
      case Be.ReadyForQuery: {
        this.txStatus = String.fromCharCode(frame[5]!) as 'I' | 'T' | 'E';
        if (this.outstanding > 0) this.outstanding--;
        // Everything up to the Sync/Query/FunctionCall this answers is settled.
        for (let p = this.pop(); p !== undefined; p = this.pop()) {
          if (p.req === Req.Sync || p.req === Req.Query || p.req === Req.FunctionCall) break;
        }
        return Verdict.Forward;
      }
      case Be.CommandComplete:
      case Be.EmptyQueryResponse:
        this.completeStatement(type === Be.CommandComplete ? readCommandTag(frame) : '', undefined, undefined);
        return Verdict.Forward;
      case Be.ErrorResponse:
        return this.onServerError(frame);
      case Be.FunctionCallResponse:
        this.completeFunctionCall(frame.length - 1);
        return Verdict.Forward;
      case Be.ParseComplete:
      case Be.BindComplete:
      case Be.CloseComplete:
      case Be.NoData:
      case Be.PortalSuspended: {
        const p = this.pop();
        return p !== undefined && p.suppress ? Verdict.Drop : Verdict.Forward;
      }
      case Be.RowDescription: {
        if (this.pending[this.head]?.req === Req.Describe) this.pop();
        return Verdict.Forward;
      }
      case Be.ParameterStatus:
        this.onParameterStatus(frame);
        return Verdict.Forward;
    }
    return Verdict.Forward;
  }

  private completeStatement(tag: string, sqlstate: string | undefined, message: string | undefined): Exec | null {
    const p = this.pending[this.head];
    if (p === undefined) return null;
    let e: Exec | null;
    if (p.execs !== null) {
      e = p.execs[p.next] ?? null;
      p.next = sqlstate === undefined ? p.next + 1 : p.execs.length;
    } else {
      e = p.exec;
      if (p.req === Req.Execute) this.pop();
    }
    if (e === null || e.done) return e;
    if (sqlstate === undefined && e.query.protocol === 'simple') this.trackSqlPrepare(tag, e.query.text);
    this.report(e, tag, sqlstate, message);
    return e;
  }

  private completeFunctionCall(length: number): void {
    const e = this.current();
    if (e === null) return;
    e.bytes += length + 1;
    e.rows = 1;
    this.completeStatement('', undefined, undefined);
  }

  private report(e: Exec, tag: string, sqlstate: string | undefined, message: string | undefined): void {
    e.done = true;
    const rows = tag === '' ? e.rows : rowsFromTag(tag) || e.rows;
    this.hooks.result({
      query: e.query,
      commandTag: tag,
      rows,
      bytes: e.bytes,
      durationSeconds: e.query.startedAt === 0n ? 0 : Number(process.hrtime.bigint() - e.query.startedAt) / 1e9,
      sqlstate,
      errorMessage: message,
      denied: e.deny !== undefined && sqlstate === e.deniedCode,
    });
  }

  /** Keeps the statement map in step with SQL PREPARE / DEALLOCATE / DISCARD, which share its namespace. */
  private trackSqlPrepare(tag: string, text: string): void {
    if (tag === 'PREPARE') {
      const m = SQL_PREPARE.exec(stripComments(text));
      if (!m) return;
      const a = this.hooks.analyzer!.analyzeStatement(m[2]!);
      this.statements.set(sqlName(m[1]!), { sql: a.text, sentSql: a.text, analysis: a.analysis, tags: a.tags, paramTypes: [] });
    } else if (tag === 'DEALLOCATE') {
      const m = SQL_DEALLOCATE.exec(stripComments(text));
      if (m) this.statements.delete(sqlName(m[1]!));
    } else if (tag === 'DEALLOCATE ALL' || tag === 'DISCARD ALL') {
      this.statements.clear();
      if (tag === 'DISCARD ALL') this.portals.clear();
    }
  }

  private onServerError(frame: Buffer): Verdict {
    const sqlstate = readSqlState(frame);
    if (isFatal(frame)) this.serverSentFatal = true;
    const p = this.pending[this.head];
    const e = this.current();
    const denied = e !== null && e.deny !== undefined && sqlstate === e.deniedCode;
    // Errors are rare next to statements: decoding the message for onResult costs nothing that matters.
    this.completeStatement('', sqlstate, denied ? e!.deny!.message : readFields(frame).get('M'));
    if (p !== undefined && p.execs === null) {
      // Extended protocol: the failed request and everything up to Sync are not carried out.
      const undone: Pending[] = [];
      for (let q = this.pending[this.head]; q !== undefined && q.req !== Req.Sync && q.req !== Req.FunctionCall && q.req !== Req.Query; q = this.pending[this.head]) {
        undone.push(this.pop()!);
      }
      for (let i = undone.length - 1; i >= 0; i--) undone[i]!.undo?.();
      for (const q of undone) if (q.exec !== null && !q.exec.done) this.report(q.exec, '', sqlstate, undefined);
    }
    if (!denied) return Verdict.Forward;
    const d = e!.deny!;
    this.fromServer.emit(w.errorResponse({ severity: 'ERROR', code: d.sqlstate, message: d.message, detail: d.detail }));
    return Verdict.Drop;
  }

  // ---- lifecycle ---------------------------------------------------------------------

  private protocolViolation(message: string): -1 {
    this.host.counters.protocolErrors++;
    this.host.log('warn', 'client protocol violation', { session: this.info.id, error: message });
    this.flushUpstream();
    this.close(w.errorResponse({ severity: 'FATAL', code: '08P01', message }));
    return -1;
  }

  private internalError(err: unknown): void {
    this.host.log('error', 'session failed', { session: this.info.id, error: err instanceof Error ? err.stack : String(err) });
    this.close(w.errorResponse({ severity: 'FATAL', code: 'XX000', message: 'internal error in HeliosDB proxy' }));
  }

  private failClient(sqlstate: string, message: string): void {
    this.close(w.errorResponse({ severity: 'FATAL', code: sqlstate, message }));
  }

  private onUpstreamClosed(): void {
    if (this.phase === 'closing' || this.clientTerminated) return this.close();
    this.host.log('warn', 'upstream closed the connection', { session: this.info.id });
    if (this.serverSentFatal) return this.close();
    this.close(w.errorResponse({ severity: 'FATAL', code: '08006', message: 'server closed the connection unexpectedly' }));
  }

  /** Stop when idle: now if idle, otherwise at the next ReadyForQuery that leaves it idle. */
  drain(): void {
    this.draining = true;
    if (this.idle || this.phase === 'connecting' || this.phase === 'auth') this.close(ADMIN_SHUTDOWN);
  }

  /** Ends the session; with `last`, the client receives it (an ErrorResponse) first. */
  close(last?: Buffer): void {
    if (this.closed) return;
    this.closed = true;
    this.phase = 'closing';
    const c = this.client;
    if (!c.destroyed && !c.writableEnded) {
      if (last && c.writable) c.end(last);
      else c.end();
      // end() lets queued writes go out; destroy() stops a client that never reads.
      setTimeout(() => c.destroy(), 5_000).unref();
    }
    const up = this.upstream;
    if (up !== null) {
      // A backend notices a closed socket only when it next reads or writes, so a statement
      // still running would run on, and commit. Cancel it first, then close.
      if (up.destroyed || up.writableEnded) {
        // Closed already, or ending after the client's own Terminate.
      } else if (this.outstanding > 0 && !this.clientTerminated) this.cancelUpstream(() => up.destroy());
      else if (this.clientTerminated) up.end();
      else if (up.writable && this.fromClient.atBoundary) up.end(w.TERMINATE);
      else up.destroy();
      this.host.counters.serversActive--;
      this.upstream = null;
    }
    if (this.proxyPid !== 0) this.host.cancelKeys.revoke(this.proxyPid);
    if (this.connected) this.hooks.disconnect(this.info);
    this.host.closed(this);
  }

  /** Sends the server a CancelRequest for this session's backend; `then` runs once it was delivered or failed. */
  cancelUpstream(then?: () => void): void {
    const key = this.serverKey;
    if (key === null) return then?.();
    connectUpstream(this.host.options.upstream, this.host.options.connectTimeoutMs ?? 10_000).then(
      ({ socket }) => {
        socket.on('error', () => socket.destroy());
        // The server closes a cancel connection once it has acted on it.
        socket.on('close', () => then?.());
        socket.end(w.cancelRequest(this.serverPid, key));
      },
      (err: Error) => {
        this.host.log('warn', 'cancel request could not reach the server', { session: this.info.id, error: err.message });
        then?.();
      },
    );
  }
}

function unknownStatement(name: string): Prepared {
  const sql = `<prepared statement "${name}">`;
  const analysis: StatementAnalysis = { kind: 'UNKNOWN', reads: [], writes: [], fingerprint: '', normalized: sql };
  return { sql, sentSql: sql, analysis, tags: EMPTY_TAGS, paramTypes: [] };
}

/** A SQL identifier as the server stores it: quoted kept verbatim, unquoted folded to lower case. */
function sqlName(raw: string): string {
  return raw.startsWith('"') ? raw.slice(1, -1).replace(/""/g, '"') : raw.toLowerCase();
}

/** ErrorResponse with severity FATAL or PANIC: the server closes the connection after it. */
function isFatal(frame: Buffer): boolean {
  if (frame[0] !== Be.ErrorResponse) return false;
  // The first field is severity ('S'), e.g. "SFATAL\0".
  return frame[5] === 0x53 && (frame[6] === 0x46 || frame[6] === 0x50);
}
