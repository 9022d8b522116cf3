// The hook host: compiles plugins' hooks into arrays at start (null when no plugin has that
// hook, so an unhooked session does no per-message work) and combines onQuery decisions.

import type { Decision, InterceptResult, Plugin, PluginContext, QueryInfo, ResultInfo, SessionInfo } from '../plugins/contract.ts';
import { createAnalyzer, type StatementAnalyzer } from './analyzer/index.ts';
import { noticeResponse } from './codec/write.ts';

type QueryHook = NonNullable<Plugin['onQuery']>;
type SessionHook = (s: SessionInfo) => void;
type ResultHook = (r: ResultInfo) => void;

/** What the plugins decided for one statement, merged in plugin order. */
export interface QueryOutcome {
  deny?: { sqlstate: string; message: string; detail?: string };
  /** NoticeResponse frames to send before the statement's results. */
  notices?: Buffer[];
  /** Replacement text for the statement (a rewrite, or an intercept answered by a VALUES query). */
  sql?: string;
}

const ALLOWED: QueryOutcome = Object.freeze({});
const SQLSTATE = /^[0-9A-Z]{5}$/;

type Logger = PluginContext['log'];

export class HookHost {
  private constructor(
    readonly plugins: readonly Plugin[],
    readonly onConnect: SessionHook[] | null,
    readonly onQuery: { name: string; fn: QueryHook }[] | null,
    readonly onResult: ResultHook[] | null,
    readonly onDisconnect: SessionHook[] | null,
    /** Present only when some plugin inspects queries. */
    readonly analyzer: StatementAnalyzer | null,
    private readonly log: Logger,
  ) {}

  static async create(plugins: readonly Plugin[], ctx: PluginContext, analyzer?: StatementAnalyzer): Promise<HookHost> {
    for (const p of plugins) await p.init?.(ctx);
    const pick = <T>(f: (p: Plugin) => T | undefined): T[] | null => {
      const out = plugins.map(f).filter((x): x is T => x !== undefined);
      return out.length ? out : null;
    };
    const onQuery = pick((p) => (p.onQuery ? { name: p.name, fn: p.onQuery.bind(p) as QueryHook } : undefined));
    const onResult = pick((p) => p.onResult?.bind(p) as ResultHook | undefined);
    // Results carry the analysis, so analyzing is needed whenever either hook is present.
    const needsAnalysis = onQuery !== null || onResult !== null;
    return new HookHost(
      plugins,
      pick((p) => p.onConnect?.bind(p) as SessionHook | undefined),
      onQuery,
      onResult,
      pick((p) => p.onDisconnect?.bind(p) as SessionHook | undefined),
      needsAnalysis ? (analyzer ?? (await createAnalyzer())) : null,
      ctx.log,
    );
  }

  /** True when sessions must track statements and results at all. */
  get tracks(): boolean {
    return this.analyzer !== null;
  }

  /** Runs onQuery hooks; synchronous unless a plugin returns a Promise. */
  decide(q: QueryInfo): QueryOutcome | Promise<QueryOutcome> {
    const hooks = this.onQuery;
    if (hooks === null) return ALLOWED;
    return this.runFrom(hooks, 0, q, ALLOWED);
  }

  private runFrom(hooks: { name: string; fn: QueryHook }[], from: number, q: QueryInfo, acc: QueryOutcome): QueryOutcome | Promise<QueryOutcome> {
    for (let i = from; i < hooks.length; i++) {
      const h = hooks[i]!;
      let d: ReturnType<QueryHook>;
      try {
        d = h.fn(q);
      } catch (err) {
        return this.pluginFailed(h.name, err);
      }
      if (d && typeof (d as Promise<unknown>).then === 'function') {
        return (d as Promise<Decision | undefined | void>).then(
          (res) => {
            if (!res) return this.runFrom(hooks, i + 1, q, acc);
            const next = merge(acc, res, q);
            return isFinal(res) ? next : this.runFrom(hooks, i + 1, this.afterRewrite(q, res), next);
          },
          (err: unknown) => this.pluginFailed(h.name, err),
        );
      }
      if (d) {
        acc = merge(acc, d as Decision, q);
        if (isFinal(d as Decision)) return acc;
        q = this.afterRewrite(q, d as Decision);
      }
    }
    return acc;
  }

  /** Later plugins judge the rewritten statement, not the original. */
  private afterRewrite(q: QueryInfo, d: Decision): QueryInfo {
    if (d.action !== 'rewrite') return q;
    const a = this.analyzer!.analyzeStatement(d.sql);
    // Same prototype (the session's Statement has a lazy state getter) and the same per-query
    // state map, made now if no plugin has touched it yet, so onResult sees what onQuery stored.
    void q.state;
    const next = Object.create(Object.getPrototypeOf(q) as object) as QueryInfo;
    return Object.assign(next, q, a.analysis, { text: d.sql, tags: { ...q.tags, ...a.tags } });
  }

  /** A plugin that throws fails closed: the statement is refused rather than let through unchecked. */
  private pluginFailed(name: string, err: unknown): QueryOutcome {
    const message = err instanceof Error ? err.message : String(err);
    this.log('error', 'plugin onQuery failed', { plugin: name, error: message });
    return { deny: { sqlstate: 'XX000', message: `HeliosDB plugin "${name}" failed: ${message}` } };
  }

  result(r: ResultInfo): void {
    const hooks = this.onResult;
    if (hooks === null) return;
    for (const h of hooks) {
      try {
        h(r);
      } catch (err) {
        this.log('error', 'plugin onResult failed', { error: err instanceof Error ? err.message : String(err) });
      }
    }
  }

  connect(s: SessionInfo): void {
    this.eachSession(this.onConnect, s, 'onConnect');
  }

  disconnect(s: SessionInfo): void {
    this.eachSession(this.onDisconnect, s, 'onDisconnect');
  }

  private eachSession(hooks: SessionHook[] | null, s: SessionInfo, which: string): void {
    if (hooks === null) return;
    for (const h of hooks) {
      try {
        h(s);
      } catch (err) {
        this.log('error', `plugin ${which} failed`, { error: err instanceof Error ? err.message : String(err) });
      }
    }
  }

  async close(): Promise<void> {
    for (const p of this.plugins) await p.close?.();
  }
}

/** A deny or an intercept ends the round: nothing later may undo it. */
function isFinal(d: Decision): boolean {
  return d.action === 'deny' || d.action === 'intercept';
}

function merge(acc: QueryOutcome, d: Decision | undefined, q: QueryInfo): QueryOutcome {
  if (!d) return acc;
  switch (d.action) {
    case 'allow':
      return acc;
    case 'deny': {
      // Classes 00-02 are not errors; RAISE would not abort with them.
      const sqlstate = SQLSTATE.test(d.sqlstate) && !/^0[0-2]/.test(d.sqlstate) ? d.sqlstate : '42501';
      return { ...acc, deny: { sqlstate, message: d.message, detail: d.detail } };
    }
    case 'notice': {
      const n = noticeResponse({ severity: d.severity ?? 'WARNING', code: d.severity === 'WARNING' || !d.severity ? '01000' : '00000', message: d.message });
      return { ...acc, notices: [...(acc.notices ?? []), n] };
    }
    case 'rewrite':
      return { ...acc, sql: d.sql };
    case 'intercept':
      return { ...acc, sql: interceptSql(d.result, q) };
  }
}

/**
 * A statement that makes the server itself raise `sqlstate`. Running it in place of a denied
 * statement leaves the server's transaction exactly as a failing statement would: aborted
 * inside BEGIN, rolled back in an implicit transaction. The proxy then replaces the error's
 * text with the plugin's message.
 */
export function denySql(sqlstate: string): string {
  return `DO $helios$BEGIN RAISE EXCEPTION USING ERRCODE = '${sqlstate}', MESSAGE = 'statement denied by HeliosDB'; END$helios$`;
}

/** E'' literals are read the same whatever standard_conforming_strings says. */
function literal(v: string): string {
  return `E'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function ident(v: string): string {
  return `"${v.replace(/"/g, '""')}"`;
}

/**
 * Intercepted results are answered by the server as a VALUES query, so they are
 * protocol-correct in simple, extended and pipelined flows without a second code path.
 */
export function interceptSql(r: InterceptResult, _q?: QueryInfo): string {
  const cols = r.columns.map(ident);
  if (r.rows.length === 0) return `SELECT ${cols.map((c) => `NULL::text AS ${c}`).join(', ')} WHERE false`;
  const rows = r.rows.map((row) => `(${row.map((v) => (v === null ? 'NULL::text' : `${literal(String(v))}::text`)).join(', ')})`);
  return `SELECT * FROM (VALUES ${rows.join(', ')}) AS helios(${cols.join(', ')})`;
}
