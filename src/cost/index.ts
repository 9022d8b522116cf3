// The cost engine: prices every statement before it runs (cached plan × fitted calibration) and
// after (measured time, pages, result bytes), attributes it to a tenant, keeps spend per tenant
// in the helios schema, and judges each statement against its tenant's budget.
//
// Per statement, the proxy path does map lookups and arithmetic only: EXPLAIN, pg_stat_statements
// polls, flushes and budget reloads all run on HeliosDB's own connections, off the client's path.
// The one exception is a statement cost limit: a statement whose shape has no estimate yet waits
// for its EXPLAIN (as pg_plan_filter decides at plan time).
import type pg from 'pg';
import type { Registry } from 'prom-client';
import { ALLOW, Decisions, type Decision, type QueryInfo, type ResultInfo, type SessionInfo } from '../../plugins/contract.ts';
import { connectControl, type ControlTarget } from '../control-client.ts';
import { createControlPool, type ControlPool } from '../observability/control-pool.ts';
import { registerScrapeMetric } from '../observability/scrape-metric.ts';
import { BUDGET_CHANNEL, BudgetStore, SQLSTATE_BUDGET_EXHAUSTED, SQLSTATE_STATEMENT_COST_LIMIT, removeBudget, setBudget, type Budget, type BudgetInput } from './budgets.ts';
import { CostCalibration, PRIOR_SECONDS_PER_COST } from './calibration.ts';
import type { PlanUsage } from './plan-usage.ts';
import type { ExplainRequest, ExplainSource } from './explain.ts';
import { IoMeter, type IoSource } from './io-meter.ts';
import { DEFAULT_ESTIMATOR_OPTIONS, PlanEstimator, type PlanEstimate } from './estimator.ts';
import { Forecaster, type TenantForecast } from './forecaster.ts';
import { QueryCosts, shapeKey } from './query-costs.ts';
import { loadRateCard, type RateCard } from './rate-card.ts';
import { SpendBook, periodEnd, periodStart } from './spend-book.ts';
import { DEFAULT_TENANT_SOURCES, tenantAttribution, type TenantOf, type TenantSource } from './tenant.ts';
import { PAGE_BYTES, RESOURCES, addCost, formatUsd, priceUsage, zeroCost, type Cost } from './usage.ts';
import { parsePrepare, preparedName, sessionPrepared, stripLeadingComments, type PreparedStatement } from './prepared.ts';
import { CostAdvisor } from './advisor/index.ts';

export interface CostOptions {
  rateCard: string;
  tenantSources: readonly TenantSource[];
  /** A statement estimated above this many dollars is refused, whoever runs it; null = no limit. */
  statementLimitUsd: number | null;
  flushMs: number;
  budgetReloadMs: number;
  /** Distinct tenants tracked; statements of further tenants count under "(other)". */
  maxTenants: number;
  /** Longest wait for an EXPLAIN when a statement cost limit needs one. */
  limitWaitMs: number;
  forecastMs: number;
}

export const DEFAULT_COST_OPTIONS: CostOptions = {
  rateCard: 'aurora-standard',
  tenantSources: DEFAULT_TENANT_SOURCES,
  statementLimitUsd: null,
  flushMs: 1000,
  budgetReloadMs: 30_000,
  maxTenants: 1000,
  limitWaitMs: 3000,
  forecastMs: 60_000,
};

export interface CostSources {
  registry: Registry;
  /** HeliosDB's own login to the upstream; its database holds the helios schema. */
  control: () => ControlTarget | undefined;
  log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

/** What the engine knows about one statement between onQuery and onResult. */
export class CostState implements ExplainSource {
  estimate: PlanEstimate | undefined = undefined;
  estimateUsd: number | undefined = undefined;
  /** Dollars reserved against the tenant's budget until the statement completes. */
  reservedUsd = 0;

  constructor(
    readonly tenant: string,
    readonly database: string,
    readonly user: string,
    /** database, role and fingerprint: the plan cache and calibration key. */
    readonly key: string,
    /** database and fingerprint: the per-shape cost and page-count key. */
    readonly shapeKey: string,
    readonly fingerprint: string,
    readonly query: string,
    /** False for statements EXPLAIN cannot plan (utility statements, unparseable text). */
    readonly explainable: boolean,
    readonly readOnly: boolean,
    private readonly text: string,
    private readonly params: readonly (Buffer | null)[] | undefined,
    private readonly paramFormats: readonly number[] | undefined,
    /** For a SQL EXECUTE: the PREPARE text it names. */
    private readonly prepare: string | undefined,
  ) {}

  /** Made only when an EXPLAIN or a sample is really needed, never per statement. */
  explainRequest(): ExplainRequest {
    return this.prepare !== undefined
      ? { database: this.database, text: this.text, prepare: this.prepare }
      : { database: this.database, text: this.text, params: this.params, paramFormats: this.paramFormats };
  }
}

/** The keys of one statement shape in one session (its database and role are fixed). */
interface SessionShape {
  key: string;
  shapeKey: string;
}

const STATE_KEY = 'cost';
const RESERVED_KEY = 'cost.reserved';
/** Executions after which a shape's fitted factor moves slowly enough to price at most once a second. */
const SETTLED_SAMPLES = 20;
const OTHER_TENANT = '(other)';
const EXPLAINABLE = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'CREATE_TABLE_AS']);
/**
 * Statements a budget never refuses: they do no work of their own, and refusing them would trap
 * a session (a ROLLBACK must always get through) or break drivers (SET, DEALLOCATE, DISCARD).
 * PREPARE is free too; each EXECUTE of it is judged.
 */
const FREE_KINDS = new Set(['TRANSACTION', 'SET', 'SHOW', 'DISCARD', 'DEALLOCATE', 'PREPARE', 'LISTEN', 'UNLISTEN', 'CLOSE_PORTAL', 'EMPTY']);
/** A bare call of a helios control function with constant arguments: how an exhausted tenant checks or raises its budget. */
const ARG = String.raw`(?:\$\d+|ARRAY\s*\[\s*(?:\$\d+\s*(?:,\s*\$\d+\s*)*)?\])(?:\s*::\s*[\w\[\]" ]+?)?`;
const CONTROL_CALL = new RegExp(
  String.raw`^\s*SELECT\s+(?:\*\s+FROM\s+)?helios\.(?:set_budget|remove_budget|budget_status|cost_forecast|version)\s*\(\s*(?:${ARG}\s*(?:,\s*${ARG}\s*)*)?\)\s*$`,
  'i',
);

const BUDGET_CHANGE = /helios\.(?:set_budget|remove_budget)\b/i;

export function budgetExempt(q: Pick<QueryInfo, 'kind' | 'normalized'>): boolean {
  return FREE_KINDS.has(q.kind) || (q.kind === 'SELECT' && CONTROL_CALL.test(q.normalized));
}

interface TenantTotals {
  cost: Cost;
  statements: number;
  rejected: Map<string, number>;
}

export class CostEngine {
  readonly card: RateCard;
  readonly spend = new SpendBook();
  readonly budgets = new BudgetStore();
  readonly calibration = new CostCalibration();
  readonly queries = new QueryCosts();
  readonly estimator: PlanEstimator;
  readonly forecaster: Forecaster;
  readonly io: IoMeter;
  private readonly pool: ControlPool;
  /** Sampled EXPLAIN ANALYZE runs in a transaction: never on the shared control connections. */
  private readonly samplePool: ControlPool;
  private readonly tenantOf: TenantOf;
  private readonly reserved = new Map<string, number>();
  private readonly totals = new Map<string, TenantTotals>();
  private listener: pg.Client | undefined;
  private timers: NodeJS.Timeout[] = [];
  private syncing: Promise<void> | null = null;
  private closed = false;
  /** A budget change made through this proxy, being read back: statements wait for it (read-your-writes). */
  private budgetReload: Promise<void> | null = null;
  /** True once spend and budgets were read from the helios schema. */
  schemaReady = false;
  private advisorInstance: CostAdvisor | undefined;
  private syncFailing = false;

  constructor(
    private readonly sources: CostSources,
    readonly options: CostOptions = DEFAULT_COST_OPTIONS,
  ) {
    this.card = loadRateCard(options.rateCard);
    this.tenantOf = tenantAttribution(options.tenantSources);
    this.pool = createControlPool(sources.control);
    this.samplePool = createControlPool(sources.control);
    this.estimator = new PlanEstimator(this.pool.connect, DEFAULT_ESTIMATOR_OPTIONS, (key, message) =>
      sources.log('debug', 'cost: EXPLAIN failed; the statement is priced after it runs', { shape: key.split('\0')[2], error: message }),
    );
    this.io = new IoMeter(this.pool.connect, () => this.controlDatabase(), this.samplePool.connect);
    this.forecaster = new Forecaster(this.spend, this.budgets);
    this.registerMetrics(sources.registry);
  }

  private controlDatabase(): string | undefined {
    const c = this.sources.control();
    return c ? (c.database ?? c.user ?? 'postgres') : undefined;
  }

  /** Reads spend and budgets, finds the I/O source and starts the background work. Never throws. */
  async start(): Promise<void> {
    this.estimator.start();
    await Promise.all([this.syncNow(), this.reloadBudgets(), this.listen()]);
    const source = await this.io.start();
    this.sources.log('info', 'cost engine running', {
      rateCard: this.card.name,
      tenants: this.options.tenantSources.join(','),
      ioSource: source,
      budgets: this.budgets.size,
      schema: this.schemaReady ? 'ok' : 'unavailable',
    });
    const every = (ms: number, f: () => unknown) => {
      const t = setInterval(f, ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.options.flushMs, () => void this.syncNow());
    every(this.options.budgetReloadMs, () => void this.reloadBudgets());
    every(this.options.forecastMs, () => void this.forecast().catch(() => {}));
  }

  /** Forecasts end-of-period spend (all due tenants, or one) from the spend in the helios schema. */
  async forecast(tenant?: string): Promise<TenantForecast[]> {
    await this.syncNow();
    const client = await this.controlClient();
    try {
      return await this.forecaster.run(client, Date.now(), tenant);
    } catch (err) {
      this.sources.log('debug', 'cost: forecast failed', { error: (err as Error).message });
      throw err;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.estimator.stop();
    this.io.stop();
    await this.syncing?.catch(() => {});
    await this.syncNow();
    await this.listener?.end().catch(() => {});
    this.listener = undefined;
    await Promise.all([this.pool.close(), this.samplePool.close()]);
  }

  get ioSource(): IoSource {
    return this.io.source;
  }

  /** The optimization advisor over this engine's figures, made on first use. */
  get advisor(): CostAdvisor {
    this.advisorInstance ??= new CostAdvisor({ queries: this.queries, card: this.card, control: this.sources.control, log: this.sources.log });
    return this.advisorInstance;
  }

  private async controlClient(): Promise<pg.Client> {
    const db = this.controlDatabase();
    if (db === undefined) throw new Error('no control connection configured');
    return this.pool.connect(db);
  }

  /** Flushes spend and reads totals back; concurrent calls share one run. */
  syncNow(): Promise<void> {
    if (this.syncing) return this.syncing;
    const run = (async () => {
      try {
        await this.spend.sync(await this.controlClient());
        this.schemaReady = true;
      } catch (err) {
        // Once per outage, not once a second.
        if (!this.syncFailing) {
          this.sources.log('warn', 'cost: could not write spend to the helios schema; it is kept in memory and retried', { error: (err as Error).message });
        }
        this.syncFailing = true;
        this.schemaReady = false;
        return;
      }
      if (this.syncFailing) this.sources.log('info', 'cost: spend is written to the helios schema again');
      this.syncFailing = false;
    })();
    this.syncing = run.finally(() => (this.syncing = null));
    return this.syncing;
  }

  async reloadBudgets(): Promise<void> {
    try {
      await this.budgets.reload(await this.controlClient());
    } catch (err) {
      this.sources.log('debug', 'cost: could not read budgets', { error: (err as Error).message });
    }
  }

  /** LISTEN helios_budgets on a connection of its own, reopened when it drops. */
  private async listen(): Promise<void> {
    const target = this.sources.control();
    if (!target || this.closed) return;
    try {
      const client = await connectControl(target);
      client.on('notification', (n) => {
        if (n.channel === BUDGET_CHANNEL) void this.reloadBudgets();
      });
      const reopen = () => {
        if (this.listener !== client) return;
        this.listener = undefined;
        if (!this.closed) setTimeout(() => void this.listen().then(() => this.reloadBudgets()), 1000).unref();
      };
      client.on('error', reopen);
      client.on('end', reopen);
      await client.query(`LISTEN ${BUDGET_CHANNEL}`);
      this.listener = client;
    } catch (err) {
      this.sources.log('debug', 'cost: could not listen for budget changes; polling only', { error: (err as Error).message });
      if (!this.closed) setTimeout(() => void this.listen(), 10_000).unref();
    }
  }

  /** Sets a budget through helios.set_budget and applies it here before returning. */
  async setBudget(input: BudgetInput): Promise<Budget> {
    const b = await setBudget(await this.controlClient(), input);
    await this.reloadBudgets();
    return b;
  }

  async removeBudget(tenant: string): Promise<boolean> {
    const removed = await removeBudget(await this.controlClient(), tenant);
    await this.reloadBudgets();
    return removed;
  }

  // ---- per statement ----

  private tenantFor(q: QueryInfo): string {
    const t = this.tenantOf(q);
    if (this.totals.has(t) || this.budgets.get(t) || this.totals.size < this.options.maxTenants) return t;
    return OTHER_TENANT;
  }

  /** The statement's tenant and pre-execution estimate; made once per statement and kept in its state. */
  begin(q: QueryInfo): CostState {
    const state = q.state;
    const existing = state.get(STATE_KEY) as CostState | undefined;
    if (existing) return existing;
    const session = q.session;
    const database = session.database;
    let fingerprint = q.fingerprint;
    let query = q.normalized;
    let text = q.text;
    let prepared: PreparedStatement | undefined;
    if (q.kind === 'PREPARE' || q.kind === 'EXECUTE' || q.kind === 'DEALLOCATE') prepared = this.trackPrepared(q);
    if (prepared) {
      fingerprint = prepared.fingerprint;
      query = prepared.normalized;
      text = stripLeadingComments(q.text);
    }
    const explainable = fingerprint !== '' && (prepared !== undefined || EXPLAINABLE.has(q.kind));
    const shape = sessionShape(session, fingerprint);
    const s = new CostState(
      this.tenantFor(q), database, session.user, shape.key, shape.shapeKey, fingerprint, query, explainable,
      q.kind === 'SELECT' || (prepared !== undefined && prepared.kind === 'SELECT'),
      text, prepared ? undefined : q.params, prepared ? undefined : q.paramFormats, prepared?.text,
    );
    if (explainable) {
      const estimate = this.estimator.lookup(shape.key, s);
      if (estimate) {
        s.estimate = estimate;
        s.estimateUsd = this.estimateUsd(s, estimate);
      }
    }
    state.set(STATE_KEY, s);
    return s;
  }

  /**
   * The estimate's dollars, recomputed at most once a second per plan once its fit has settled
   * (the fit and page counts move slowly then); while a shape has few executions each one moves
   * its fit by decades, so the price follows every new one.
   */
  private estimateUsd(s: CostState, e: PlanEstimate): number {
    const now = Date.now();
    const samples = this.calibration.samples(s.key);
    let p = e.priced;
    if (p === undefined || now - p.at > 1000 || (samples !== p.samples && samples <= SETTLED_SAMPLES)) {
      p = e.priced = { at: now, usd: this.estimateCost(s, e).total, samples };
    }
    return p.usd;
  }

  private trackPrepared(q: QueryInfo): PreparedStatement | undefined {
    const map = sessionPrepared(q.session);
    if (q.kind === 'DEALLOCATE') {
      const name = preparedName(q.text, 'DEALLOCATE');
      if (name === null || name.toUpperCase() === 'ALL') map.clear();
      else map.delete(name);
      return undefined;
    }
    if (q.kind === 'PREPARE') {
      const p = parsePrepare(q.text);
      if (p) map.set(p.name, p);
      return undefined;
    }
    const name = preparedName(q.text, 'EXECUTE');
    return name === null ? undefined : map.get(name);
  }

  /** Dollars the estimate predicts, with time fitted per shape and pages measured when known. */
  estimateCost(s: Pick<CostState, 'key' | 'shapeKey'>, e: PlanEstimate): Cost {
    const measured = this.io.pagesPerShape(s.shapeKey);
    const pages = measured ?? e.pages;
    return priceUsage(
      { cpuSeconds: this.calibration.seconds(s.key, e.plannerCost), pages, scannedBytes: pages * PAGE_BYTES, egressBytes: e.egressBytes },
      this.card,
    );
  }

  /**
   * What the plan alone predicts, with nothing learned: planner cost at the prior seconds per
   * unit and the plan's own pages. The baseline the fitted estimate is judged against.
   */
  planOnlyCost(plan: PlanUsage): Cost {
    return priceUsage(
      { cpuSeconds: plan.plannerCost * PRIOR_SECONDS_PER_COST, pages: plan.pages, scannedBytes: plan.scannedBytes, egressBytes: plan.egressBytes },
      this.card,
    );
  }

  /** Budget and statement-limit verdict for one execution. */
  judge(q: QueryInfo, s: CostState): Decision | Promise<Decision> {
    if (this.budgetReload) return this.budgetReload.then(() => this.judgeNow(q, s));
    return this.judgeNow(q, s);
  }

  private judgeNow(q: QueryInfo, s: CostState): Decision | Promise<Decision> {
    const budget = this.budgets.get(s.tenant);
    const limit = budget?.statementLimitUsd ?? this.options.statementLimitUsd;
    if ((!budget && limit === null) || budgetExempt(q)) return ALLOW;
    if (limit !== null && s.estimateUsd === undefined && s.explainable) {
      return this.awaitEstimate(s).then(() => this.verdict(q, s, budget, limit));
    }
    return this.verdict(q, s, budget, limit);
  }

  private async awaitEstimate(s: CostState): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.options.limitWaitMs);
    });
    const est = await Promise.race([this.estimator.request(s.key, s), timeout]);
    clearTimeout(timer);
    if (est) {
      s.estimate = est;
      s.estimateUsd = this.estimateCost(s, est).total;
    }
  }

  private verdict(q: QueryInfo, s: CostState, budget: Budget | undefined, limit: number | null): Decision {
    const est = s.estimateUsd;
    if (limit !== null && est !== undefined && est > limit) {
      return this.refuse(s, SQLSTATE_STATEMENT_COST_LIMIT,
        `statement cost limit exceeded for tenant "${s.tenant}": estimated cost ${formatUsd(est)} is above the limit of ${formatUsd(limit)} per statement`,
        `HeliosDB estimates each statement from its plan before it runs (rate card ${this.card.name}).`);
    }
    if (!budget) return ALLOW;
    const spent = this.spend.spent(s.tenant, budget.period) + (this.reserved.get(s.tenant) ?? 0);
    const after = spent + (est ?? 0);
    const periodName = budget.period === 'day' ? 'daily' : 'monthly';
    if (spent >= budget.limitUsd || after > budget.limitUsd) {
      const message =
        `${spent >= budget.limitUsd ? 'budget exhausted' : 'statement would exceed the budget'} for tenant "${s.tenant}": ` +
        `${formatUsd(spent)} spent of its ${formatUsd(budget.limitUsd)} ${periodName} budget; ` +
        `this statement's estimated cost is ${est === undefined ? 'not known yet' : formatUsd(est)}`;
      const detail = `The ${budget.period} began ${new Date(periodStart(budget.period, Date.now())).toISOString()} and ends ${new Date(periodEnd(budget.period, Date.now())).toISOString()}.`;
      if (budget.action === 'reject') return this.refuse(s, SQLSTATE_BUDGET_EXHAUSTED, message, detail);
      this.reserve(q, s, est);
      return Decisions.notice(message);
    }
    this.reserve(q, s, est);
    const pct = (100 * after) / budget.limitUsd;
    let level = 0;
    for (const t of budget.thresholds) if (pct >= t) level = t;
    if (level === 0) return ALLOW;
    const warned = sessionWarnings(q.session);
    const mark = `${s.tenant}\0${budget.period}\0${periodStart(budget.period, Date.now())}`;
    if ((warned.get(mark) ?? 0) >= level) return ALLOW;
    warned.set(mark, level);
    return Decisions.notice(
      `tenant "${s.tenant}" has used ${Math.floor(pct)}% of its ${formatUsd(budget.limitUsd)} ${periodName} budget (${formatUsd(after)} spent; warning at ${level}%)`,
    );
  }

  private reserve(q: QueryInfo, s: CostState, est: number | undefined): void {
    if (!est) return;
    s.reservedUsd = est;
    this.reserved.set(s.tenant, (this.reserved.get(s.tenant) ?? 0) + est);
    // A session that ends mid-statement gets no result for it: its reservations are released then.
    let open = q.session.state.get(RESERVED_KEY) as Set<CostState> | undefined;
    if (!open) q.session.state.set(RESERVED_KEY, (open = new Set()));
    open.add(s);
  }

  private release(s: CostState): void {
    if (!s.reservedUsd) return;
    const left = (this.reserved.get(s.tenant) ?? 0) - s.reservedUsd;
    if (left > 1e-12) this.reserved.set(s.tenant, left);
    else this.reserved.delete(s.tenant);
    s.reservedUsd = 0;
  }

  /** Releases what a closing session still had reserved. */
  endSession(session: SessionInfo): void {
    const open = session.state.get(RESERVED_KEY) as Set<CostState> | undefined;
    if (!open) return;
    for (const s of open) this.release(s);
    open.clear();
  }

  private refuse(s: CostState, sqlstate: string, message: string, detail: string): Decision {
    this.spend.reject(s.tenant);
    const t = this.tenantTotals(s.tenant);
    t.rejected.set(sqlstate, (t.rejected.get(sqlstate) ?? 0) + 1);
    return Decisions.deny(sqlstate, message, detail);
  }

  private tenantTotals(tenant: string): TenantTotals {
    let t = this.totals.get(tenant);
    if (!t) this.totals.set(tenant, (t = { cost: zeroCost(), statements: 0, rejected: new Map() }));
    return t;
  }

  /** Prices a completed statement and charges its tenant. */
  finish(r: ResultInfo): void {
    const q = r.query;
    if (q.phase !== 'execute') return;
    const s = q.state.get(STATE_KEY) as CostState | undefined;
    if (!s) return;
    if (s.reservedUsd) {
      this.release(s);
      (q.session.state.get(RESERVED_KEY) as Set<CostState> | undefined)?.delete(s);
    }
    if (r.denied) return;
    // Anchored first: most statements fail it at their first word; the unanchored search runs on control calls only.
    if (r.sqlstate === undefined && q.kind === 'SELECT' && CONTROL_CALL.test(q.normalized) && BUDGET_CHANGE.test(q.normalized)) {
      const reload = this.reloadBudgets().finally(() => {
        if (this.budgetReload === reload) this.budgetReload = null;
      });
      this.budgetReload = reload;
    }
    const measured = this.io.pagesPerShape(s.shapeKey);
    const pages = measured ?? s.estimate?.pages ?? 0;
    const cost = priceUsage({ cpuSeconds: r.durationSeconds, pages, scannedBytes: pages * PAGE_BYTES, egressBytes: r.bytes }, this.card);
    this.spend.add(s.tenant, cost);
    const t = this.tenantTotals(s.tenant);
    addCost(t.cost, cost);
    t.statements++;
    if (s.fingerprint) this.queries.record(s, cost, r.durationSeconds, r);
    if (s.estimate && r.sqlstate === undefined) {
      this.calibration.observe(s.key, s.estimate.plannerCost, r.durationSeconds);
      // A plan that no longer matches its executions (a new index, a data change) is made again.
      if (s.estimateUsd !== undefined && cost.total > 0 && Math.abs(Math.log(s.estimateUsd / cost.total)) > Math.log(20) && this.calibration.samples(s.key) > 5) {
        this.estimator.invalidate(s.key);
      }
    }
    if (s.explainable && r.sqlstate === undefined) this.io.maybeSample(s.shapeKey, s.readOnly, s, s.estimate?.shape);
    if (r.sqlstate === undefined && !s.explainable && q.writes.length && q.kind !== 'INSERT' && q.kind !== 'UPDATE' && q.kind !== 'DELETE' && q.kind !== 'MERGE') {
      // DDL changed a table: plans over it may change.
      this.estimator.invalidateTables(s.database, q.writes);
    }
    if (r.sqlstate === undefined && q.kind === 'VACUUM') void this.estimator.pollStats();
  }

  // ---- reading ----

  /** Tenants with spend or a budget, with current-period figures. */
  tenants(): TenantReport[] {
    const names = new Set<string>([...this.spend.names(), ...this.budgets.list().map((b) => b.tenant)]);
    const now = Date.now();
    return [...names].sort().map((tenant) => {
      const budget = this.budgets.get(tenant);
      const day = this.spend.period(tenant, 'day', now);
      const month = this.spend.period(tenant, 'month', now);
      const spent = budget ? (budget.period === 'day' ? day.total : month.total) : null;
      return {
        tenant,
        day,
        month,
        budget: budget ?? null,
        spentUsd: spent,
        percent: budget && spent !== null ? (100 * spent) / budget.limitUsd : null,
        status: budget && spent !== null ? (spent >= budget.limitUsd ? 'exhausted' : (100 * spent) / budget.limitUsd >= (budget.thresholds[0] ?? 101) ? 'warning' : 'ok') : null,
        reservedUsd: this.reserved.get(tenant) ?? 0,
      };
    });
  }

  private registerMetrics(registry: Registry): void {
    registerScrapeMetric(registry, 'helios_cost_dollars_total', 'Dollars charged to tenants for completed statements (this process), by tenant and resource.', 'counter', () => {
      const out = [];
      for (const [tenant, t] of this.totals) for (const r of RESOURCES) out.push({ value: t.cost[r], labels: { tenant, resource: r } });
      return out;
    });
    registerScrapeMetric(registry, 'helios_cost_statements_total', 'Statements priced (this process), by tenant.', 'counter', () =>
      [...this.totals].map(([tenant, t]) => ({ value: t.statements, labels: { tenant } })),
    );
    registerScrapeMetric(registry, 'helios_budget_rejections_total', 'Statements refused by a budget or a statement cost limit (this process), by tenant and SQLSTATE.', 'counter', () => {
      const out = [];
      for (const [tenant, t] of this.totals) for (const [sqlstate, n] of t.rejected) out.push({ value: n, labels: { tenant, sqlstate } });
      return out;
    });
    registerScrapeMetric(registry, 'helios_budget_limit_dollars', 'Budget limit per tenant for its period.', 'gauge', () =>
      this.budgets.list().map((b) => ({ value: b.limitUsd, labels: { tenant: b.tenant, period: b.period } })),
    );
    registerScrapeMetric(registry, 'helios_budget_spent_dollars', 'Spend in the current budget period (all HeliosDB sidecars on this database), per tenant with a budget.', 'gauge', () =>
      this.budgets.list().map((b) => ({ value: this.spend.spent(b.tenant, b.period), labels: { tenant: b.tenant, period: b.period } })),
    );
  }
}

export interface TenantReport {
  tenant: string;
  day: Cost & { statements: number; rejected: number };
  month: Cost & { statements: number; rejected: number };
  budget: Budget | null;
  spentUsd: number | null;
  percent: number | null;
  status: 'ok' | 'warning' | 'exhausted' | null;
  reservedUsd: number;
}

/** Per session, per fingerprint: the keys, made once instead of concatenated per statement. */
function sessionShape(session: SessionInfo, fingerprint: string): SessionShape {
  let shapes = session.state.get('cost.shapes') as Map<string, SessionShape> | undefined;
  if (!shapes) session.state.set('cost.shapes', (shapes = new Map()));
  let shape = shapes.get(fingerprint);
  if (!shape) {
    // A session runs a bounded set of shapes in practice; an ad-hoc flood starts the map over.
    if (shapes.size >= 1000) shapes.clear();
    shape = { key: `${session.database}\0${session.user}\0${fingerprint}`, shapeKey: shapeKey(session.database, fingerprint) };
    shapes.set(fingerprint, shape);
  }
  return shape;
}

function sessionWarnings(session: SessionInfo): Map<string, number> {
  let m = session.state.get('cost.warned') as Map<string, number> | undefined;
  if (!m) session.state.set('cost.warned', (m = new Map()));
  return m;
}
