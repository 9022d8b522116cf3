// Plans of slow statements: EXPLAIN (FORMAT JSON) on HeliosDB's own connection, never EXPLAIN
// ANALYZE, which would run the statement a second time. Off the hot path and rate limited: at
// most one EXPLAIN in flight per statement fingerprint and one per fingerprint per interval,
// each bounded by a statement_timeout and by a timer here. Plan hashes are plan-shape.ts's, the
// same the anomaly engine compares.

import type pg from 'pg';
import { planHash, planTotalCost, rootPlanNode } from '../plan-shape.ts';

/** What is needed to explain one execution of a statement. */
export interface PlanRequest {
  /** pg_query fingerprint; "" (unparsed) is never explained. */
  readonly fingerprint: string;
  readonly database: string;
  /** Analyzer kind: only SELECT, INSERT, UPDATE, DELETE and MERGE are explained (WITH and VALUES are SELECT). */
  readonly kind: string;
  /** One statement, as the client sent it. */
  readonly text: string;
  readonly protocol: 'simple' | 'extended';
  /** Extended protocol: Bind's parameters (null = SQL NULL); undefined when they were not decoded. */
  readonly params?: readonly (Buffer | null)[];
  /** Extended protocol: 0 text, 1 binary, one per parameter. */
  readonly paramFormats?: readonly number[];
}

export interface CapturedPlan {
  readonly fingerprint: string;
  readonly database: string;
  /** Hash of the plan's shape (node types, relations, indexes, join order), not of its costs or estimates. */
  readonly planHash: string;
  /** EXPLAIN (FORMAT JSON)'s document: an array holding one { Plan: ... }. */
  readonly plan: unknown;
  readonly totalCost: number;
}

export type PlanListener = (plan: CapturedPlan) => void;

export interface PlanCaptureOptions {
  /** A connection to `database` on the upstream as HeliosDB itself. */
  connect: (database: string) => Promise<pg.Client>;
  /**
   * True (default): connect opens a new connection each call, which PlanCapture sets up, keeps
   * and ends. False: connect hands out connections a pool caches, sets up (statement_timeout)
   * and ends; PlanCapture changes nothing on them.
   */
  ownsConnections?: boolean;
  /** The longest wait for a plan, and statement_timeout on connections of our own (default 2000 ms). */
  timeoutMs?: number;
  /** Least time between two EXPLAINs of one fingerprint (default 60 s). */
  minIntervalMs?: number;
  /** Connections kept, one per database, least recently opened closed first (default 4). */
  maxConnections?: number;
  /** EXPLAINs running at once across fingerprints (default 4). */
  maxInFlight?: number;
  /** Fingerprints whose last EXPLAIN time is remembered for the rate limit (default 10000). */
  maxFingerprints?: number;
  /** Why a plan could not be had (connection refused, permission denied, timeout, ...). */
  onError?: (err: Error, req: PlanRequest) => void;
  now?: () => number;
}

const PLANNABLE: ReadonlySet<string> = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE']);

const EXPLAIN = 'EXPLAIN (FORMAT JSON)\n';

/**
 * Plan fields holding expressions, where the statement's constants and parameter values appear
 * (a custom plan shows `(id = 42)`, not `(id = $1)`).
 */
const EXPRESSION_FIELDS: ReadonlySet<string> = new Set([
  'Filter', 'Index Cond', 'Recheck Cond', 'Join Filter', 'Hash Cond', 'Merge Cond', 'TID Cond', 'One-Time Filter',
  'Run Condition', 'Conflict Filter', 'Output', 'Sort Key', 'Presorted Key', 'Group Key', 'Cache Key', 'Order By',
  'Function Call', 'Table Function Call', 'Sampling Parameters', 'Repeatable Seed',
]);

// A string constant (with '' inside), optionally E- or B-prefixed, or a number not part of a name.
const LITERAL = /(?:\b[EeBbXx])?'(?:[^']|'')*'|(?<![\w."])-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w"])/g;

/** A copy of the plan with the constants in its expressions replaced by `?`, for sanitized output. */
export function maskPlanLiterals(plan: unknown): unknown {
  if (Array.isArray(plan)) return plan.map(maskPlanLiterals);
  if (typeof plan !== 'object' || plan === null) return plan;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(plan as Record<string, unknown>)) {
    if (EXPRESSION_FIELDS.has(key)) out[key] = maskExpression(value);
    else out[key] = typeof value === 'object' ? maskPlanLiterals(value) : value;
  }
  return out;
}

function maskExpression(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(LITERAL, '?');
  if (Array.isArray(value)) return value.map(maskExpression);
  return value;
}

/**
 * EXPLAIN's parameters: Bind's text-format values as strings, the server inferring their types
 * as it did for the client. Null when they cannot be passed on (binary format, not decoded).
 */
function explainParams(req: PlanRequest): (string | null)[] | null {
  if (req.protocol === 'simple') return [];
  const { params, paramFormats } = req;
  if (params === undefined) return null;
  if (paramFormats !== undefined) for (const f of paramFormats) if (f !== 0) return null;
  return params.map((p) => (p === null ? null : p.toString('utf8')));
}

export class PlanCapture {
  private readonly connect: (database: string) => Promise<pg.Client>;
  private readonly ownsConnections: boolean;
  private readonly timeoutMs: number;
  private readonly minIntervalMs: number;
  private readonly maxConnections: number;
  private readonly maxInFlight: number;
  private readonly maxFingerprints: number;
  private readonly onError: ((err: Error, req: PlanRequest) => void) | undefined;
  private readonly now: () => number;
  private readonly listeners = new Set<PlanListener>();
  /** Per database, in order of opening. */
  private readonly clients = new Map<string, Promise<pg.Client>>();
  /** Keyed by database and fingerprint. */
  private readonly inFlight = new Set<string>();
  /** When each key's last EXPLAIN started, oldest first. */
  private readonly lastStarted = new Map<string, number>();
  /** Per database, the last EXPLAIN queued. */
  private readonly queues = new Map<string, Promise<void>>();
  /** The bounded waits handed out and not yet settled. */
  private readonly pending = new Set<Promise<CapturedPlan | undefined>>();
  private closed = false;

  constructor(opts: PlanCaptureOptions) {
    this.connect = opts.connect;
    this.ownsConnections = opts.ownsConnections ?? true;
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.minIntervalMs = opts.minIntervalMs ?? 60_000;
    this.maxConnections = Math.max(1, opts.maxConnections ?? 4);
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 4);
    this.maxFingerprints = Math.max(1, opts.maxFingerprints ?? 10_000);
    this.onError = opts.onError;
    this.now = opts.now ?? Date.now;
  }

  /** Calls `listener` with every plan captured; returns the function that removes it. */
  onPlan(listener: PlanListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /**
   * Explains the statement unless it is not plannable or rate limited, in which case it returns
   * undefined at once. The promise settles within timeoutMs with the plan, or undefined when
   * the EXPLAIN failed or is still running; listeners still get a plan that comes later.
   */
  capture(req: PlanRequest): Promise<CapturedPlan | undefined> | undefined {
    if (this.closed || req.fingerprint === '' || !PLANNABLE.has(req.kind)) return undefined;
    const values = explainParams(req);
    if (values === null) return undefined;
    const key = `${req.database}\0${req.fingerprint}`;
    if (this.inFlight.has(key) || this.inFlight.size >= this.maxInFlight) return undefined;
    const now = this.now();
    const last = this.lastStarted.get(key);
    if (last !== undefined && now - last < this.minIntervalMs) return undefined;
    this.remember(key, now);
    this.inFlight.add(key);
    const run = this.explain(req, values).then(
      (plan) => {
        this.inFlight.delete(key);
        this.emit(plan);
        return plan;
      },
      (err: unknown) => {
        this.inFlight.delete(key);
        this.onError?.(err instanceof Error ? err : new Error(String(err)), req);
        return undefined;
      },
    );
    const bounded = within(run, this.timeoutMs);
    this.pending.add(bounded);
    void bounded.then(() => this.pending.delete(bounded));
    return bounded;
  }

  /** Settles when every capture handed out so far has settled (each within timeoutMs). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** EXPLAINs running now. */
  get running(): number {
    return this.inFlight.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    const clients = [...this.clients.values()];
    this.clients.clear();
    if (this.ownsConnections) await Promise.allSettled(clients.map(async (c) => (await c).end()));
  }

  private remember(key: string, now: number): void {
    this.lastStarted.delete(key);
    this.lastStarted.set(key, now);
    if (this.lastStarted.size > this.maxFingerprints) this.lastStarted.delete(this.lastStarted.keys().next().value!);
  }

  private emit(plan: CapturedPlan): void {
    for (const listener of this.listeners) {
      try {
        listener(plan);
      } catch {
        // A listener's failure is its own; the others and the span still get the plan.
      }
    }
  }

  /** Runs after the EXPLAINs already queued for the database: pg wants one query at a time per client. */
  private explain(req: PlanRequest, values: (string | null)[]): Promise<CapturedPlan> {
    const before = this.queues.get(req.database) ?? Promise.resolve();
    const run = before.then(() => this.explainNow(req, values));
    const queue = run.then(noop, noop);
    this.queues.set(req.database, queue);
    void queue.then(() => {
      if (this.queues.get(req.database) === queue) this.queues.delete(req.database);
    });
    return run;
  }

  private async explainNow(req: PlanRequest, values: (string | null)[]): Promise<CapturedPlan> {
    const client = await this.client(req.database);
    // Extended protocol: a single statement only, so a text can never smuggle in a second one.
    const res = await client.query({ text: EXPLAIN + req.text, values, queryMode: 'extended' } as pg.QueryConfig);
    const raw: unknown = res.rows[0]?.['QUERY PLAN'];
    const plan: unknown = typeof raw === 'string' ? JSON.parse(raw) : raw;
    if (!Array.isArray(plan) || rootPlanNode(plan) === undefined) throw new Error('EXPLAIN returned no plan');
    return { fingerprint: req.fingerprint, database: req.database, planHash: planHash(plan), plan, totalCost: planTotalCost(plan) };
  }

  private client(database: string): Promise<pg.Client> {
    const cached = this.clients.get(database);
    if (cached !== undefined) return cached;
    const opening = this.ownsConnections ? this.open(database) : this.connect(database);
    this.clients.set(database, opening);
    if (this.clients.size > this.maxConnections) {
      const [oldest, client] = this.clients.entries().next().value!;
      this.clients.delete(oldest);
      if (this.ownsConnections) void client.then((c) => c.end()).catch(() => {});
    }
    // A failed or broken connection leaves the cache, so the next EXPLAIN opens a fresh one.
    const forget = () => {
      if (this.clients.get(database) === opening) this.clients.delete(database);
    };
    opening.then(
      (c) => {
        c.on('error', forget);
        c.on('end', forget);
      },
      forget,
    );
    return opening;
  }

  /**
   * A connection of our own: its EXPLAINs get our statement_timeout, and read-only transactions,
   * which EXPLAIN without ANALYZE passes whatever the statement and anything else would not.
   */
  private async open(database: string): Promise<pg.Client> {
    const client = await this.connect(database);
    try {
      await client.query(`SET statement_timeout = ${Math.max(1, Math.round(this.timeoutMs))}; SET default_transaction_read_only = on`);
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    return client;
  }
}

function noop(): void {}

/** `p`'s value if it settles within `ms`, else undefined. */
function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    timer.unref();
    void p.then((v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}
