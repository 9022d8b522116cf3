// The hook contract every query interceptor implements.
//
// The set of hooks is closed: onConnect, onQuery, onResult, onDisconnect. The hook host
// (proxy/hooks.ts) compiles the plugins' hooks into arrays at start, or null when no plugin
// has that hook, so a session without hooks pays nothing per message.

/** Who is on the other end of a client connection. Fixed once startup completes. */
export interface SessionInfo {
  /** Proxy-wide unique, monotonically increasing id. */
  readonly id: number;
  readonly user: string;
  readonly database: string;
  /** application_name from the startup packet; updated when the server reports a new value. */
  applicationName: string;
  /** Client address as host:port ("[::1]:5000" for IPv6). */
  readonly clientAddress: string;
  readonly tls: boolean;
  readonly connectedAt: number;
  /** Free-form per-session state for plugins, keyed by plugin name. */
  readonly state: Map<string, unknown>;
}

/** Statement kinds: the parse tree's node name without "Stmt", upper-snake, e.g. SELECT, INSERT, CREATE_TABLE, TRANSACTION. */
export type StatementKind = string;

/** What the analyzer knows about one statement. Cached by comment-free statement text. */
export interface StatementAnalysis {
  /**
   * e.g. "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE_TABLE", "TRANSACTION", "EXECUTE", "UNKNOWN" (unparseable),
   * "FUNCTION_CALL" (a fast-path FunctionCall message; its text names the function's OID).
   */
  readonly kind: StatementKind;
  /** For TRANSACTION statements: BEGIN, COMMIT, ROLLBACK, ...; otherwise undefined. */
  readonly subkind?: string;
  /** Tables read, as written ("public.t" only when written schema-qualified), deduplicated, in order of appearance. */
  readonly reads: readonly string[];
  /** Tables written (INSERT/UPDATE/DELETE/MERGE targets, COPY FROM, DDL targets). */
  readonly writes: readonly string[];
  /** pg_query fingerprint (16 hex chars); "" when the statement does not parse. */
  readonly fingerprint: string;
  /** pg_query normalized text: constants replaced by $n. Comment-free. */
  readonly normalized: string;
  /** Parse error message when libpg-query rejected the text (the server will reject it too). */
  readonly error?: string;
}

/** One statement as it is about to execute. */
export interface QueryInfo extends StatementAnalysis {
  readonly session: SessionInfo;
  /** The statement text as the client sent it (one statement, comments included). */
  readonly text: string;
  /** sqlcommenter tags from the statement's comment (values URL-decoded), e.g. { traceparent, tenant }. */
  readonly tags: Readonly<Record<string, string>>;
  readonly protocol: 'simple' | 'extended';
  /**
   * 'execute' once per execution (simple Query statement, or extended Bind). 'parse' at an
   * extended Parse, before the server describes the statement: the moment a rewrite or
   * intercept must be decided for Describe to match. Plugins that count or charge act on
   * 'execute' only; a deny at 'parse' refuses every execution of that statement, and notices
   * at 'parse' are not sent.
   */
  readonly phase: 'parse' | 'execute';
  /** Extended protocol: prepared statement name ("" = unnamed). */
  readonly statementName?: string;
  /** Extended protocol: Bind's parameters (null = SQL NULL); undefined when the Bind was too large to decode. */
  readonly params?: readonly (Buffer | null)[];
  /** Extended protocol: Bind's parameter format codes (0 text, 1 binary), one per parameter. */
  readonly paramFormats?: readonly number[];
  /** Index of this statement within a multi-statement simple Query (0 for extended). */
  readonly index: number;
  /** Per-query state shared by all plugins between onQuery and onResult. */
  readonly state: Map<string, unknown>;
  /** process.hrtime.bigint() when the statement was sent upstream. */
  startedAt: bigint;
}

/** What came back for one statement. */
export interface ResultInfo {
  readonly query: QueryInfo;
  /** CommandComplete tag, e.g. "SELECT 3", "INSERT 0 1"; "" on error or empty query. */
  readonly commandTag: string;
  /** Rows from the tag, or DataRows counted when the tag has none. */
  readonly rows: number;
  /** Bytes of server messages for this statement (DataRow, CopyData, ...). */
  readonly bytes: number;
  /** Seconds from sending upstream until CommandComplete/ErrorResponse. */
  readonly durationSeconds: number;
  /** SQLSTATE when the statement failed; undefined on success. */
  readonly sqlstate?: string;
  /** The error's message (the server's, or the denying plugin's). It can quote the statement's values. */
  readonly errorMessage?: string;
  /** True when a plugin denied the statement (the error came from HeliosDB, not the server). */
  readonly denied: boolean;
}

/** A plugin's verdict on a statement (PgCat style). */
export type Decision =
  | { readonly action: 'allow' }
  | { readonly action: 'deny'; readonly sqlstate: string; readonly message: string; readonly detail?: string }
  | { readonly action: 'notice'; readonly message: string; readonly severity?: 'WARNING' | 'NOTICE' | 'INFO' }
  | { readonly action: 'rewrite'; readonly sql: string }
  /** Answer the statement from the proxy itself; the upstream never sees it. */
  | { readonly action: 'intercept'; readonly result: InterceptResult };

/** A result the proxy sends as if the server had produced it. */
export interface InterceptResult {
  readonly columns: readonly string[];
  /** Text values; null is SQL NULL. */
  readonly rows: readonly (readonly (string | number | bigint | boolean | null)[])[];
  /** CommandComplete tag; defaults to "SHOW" for one row... set explicitly, e.g. "SHOW 3". */
  readonly commandTag?: string;
}

export const ALLOW: Decision = Object.freeze({ action: 'allow' }) as Decision;

export const Decisions = {
  allow: ALLOW,
  deny: (sqlstate: string, message: string, detail?: string): Decision => ({ action: 'deny', sqlstate, message, detail }),
  notice: (message: string, severity: 'WARNING' | 'NOTICE' | 'INFO' = 'WARNING'): Decision => ({ action: 'notice', message, severity }),
  rewrite: (sql: string): Decision => ({ action: 'rewrite', sql }),
  intercept: (result: InterceptResult): Decision => ({ action: 'intercept', result }),
} as const;

/** Read-only view of the proxy for plugins that report on it (admin console, metrics). */
export interface ProxyView {
  clients(): readonly ClientView[];
  servers(): readonly ServerView[];
  stats(): ProxyCounters;
}

export interface ClientView {
  readonly session: SessionInfo;
  readonly state: 'startup' | 'idle' | 'active' | 'closing';
  readonly transactionStatus: 'I' | 'T' | 'E';
  readonly queries: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export interface ServerView {
  readonly sessionId: number;
  readonly address: string;
  readonly backendPid: number;
  readonly tls: boolean;
  readonly connectSeconds: number;
  readonly protocolVersion: string;
}

/** Proxy-wide counters; plain numbers, read on scrape. */
export interface ProxyCounters {
  clientsAccepted: number;
  clientsActive: number;
  serversActive: number;
  upstreamConnectErrors: number;
  protocolErrors: number;
  bytesFromClients: number;
  bytesFromServers: number;
  queries: number;
  denied: number;
  startedAt: number;
}

export interface PluginContext {
  readonly proxy: ProxyView;
  /** Log a line; never pass secrets or unsanitized query text. */
  log(level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void;
}

/**
 * A query interceptor. Any hook may be omitted. onQuery may return a Decision synchronously
 * (the fast path) or a Promise of one; the host only awaits when a Promise is returned.
 * Decisions combine in plugin order: the first deny or intercept wins and ends the round,
 * notices accumulate, and after a rewrite later plugins see the new text, analyzed afresh.
 */
export interface Plugin {
  readonly name: string;
  init?(ctx: PluginContext): void | Promise<void>;
  onConnect?(session: SessionInfo): void;
  onQuery?(query: QueryInfo): Decision | undefined | void | Promise<Decision | undefined | void>;
  onResult?(result: ResultInfo): void;
  onDisconnect?(session: SessionInfo): void;
  close?(): void | Promise<void>;
}
