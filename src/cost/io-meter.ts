// Pages a statement shape really reads, per execution. Two sources:
// - pg_stat_statements, when the extension is installed: the deltas of shared_blks_hit +
//   shared_blks_read and calls, polled every few seconds, matched to our fingerprints by
//   fingerprinting its normalized text (pg_query's fingerprint ignores constants and $n alike);
// - otherwise a sample: EXPLAIN (ANALYZE, BUFFERS) of a read-only statement with the
//   parameters of a real execution, in a READ ONLY transaction that is rolled back, at most
//   once per shape per sampling interval. Writes are not sampled: their pages stay estimated,
//   and neither is a SELECT found to write (a volatile function: PostgreSQL refuses it in the
//   READ ONLY transaction with 25006). Samples run on connections of their own: on a client
//   shared with other work, queries queued by others would run inside the sample's transaction
//   (and fail in it once the sampled statement failed).
import { fingerprintSync } from 'libpg-query';
import type pg from 'pg';
import { measuredPages, type ExplainSource } from './explain.ts';
import { shapeKey } from './query-costs.ts';

export type IoSource = 'pg_stat_statements' | 'explain_analyze' | 'none';

export interface IoMeterOptions {
  pollMs: number;
  /** Sampled EXPLAIN ANALYZE: at most one per shape per this interval. */
  sampleEveryMs: number;
}

export const DEFAULT_IO_METER_OPTIONS: IoMeterOptions = { pollMs: 5000, sampleEveryMs: 5 * 60_000 };

const RATE = 0.2;

interface Measure {
  pagesPerCall: number;
  samples: number;
  sampledAt: number;
  sampling?: boolean;
  /** The plan shape (node types) the last sample was taken under. */
  planShape?: string;
  /** The statement writes (refused in a READ ONLY transaction): never sampled again. */
  writes?: boolean;
}

/** read_only_sql_transaction */
const SQLSTATE_READ_ONLY = '25006';

interface PgssRow {
  datname: string;
  userid: string;
  queryid: string;
  query: string;
  calls: string;
  pages: string;
}

export class IoMeter {
  source: IoSource = 'none';
  private readonly measures = new Map<string, Measure>();
  private readonly previous = new Map<string, { calls: number; pages: number }>();
  private readonly fingerprints = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  polls = 0;

  constructor(
    /** The engine's control connections: pg_stat_statements polls. */
    private readonly connect: (database: string) => Promise<pg.Client>,
    private readonly controlDatabase: () => string | undefined,
    /** Connections used for samples and nothing else. */
    private readonly sampler: (database: string) => Promise<pg.Client>,
    readonly options: IoMeterOptions = DEFAULT_IO_METER_OPTIONS,
  ) {}

  /** Finds out which source works: pg_stat_statements if installed and loaded, else sampling. */
  async start(): Promise<IoSource> {
    const db = this.controlDatabase();
    this.source = 'explain_analyze';
    if (db !== undefined) {
      try {
        const client = await this.connect(db);
        const { rows } = await client.query("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'");
        if (rows.length) {
          await this.poll(client);
          this.source = 'pg_stat_statements';
        }
      } catch {
        // Installed but not in shared_preload_libraries ("must be loaded via ..."): sample instead.
      }
    }
    if (this.source === 'pg_stat_statements') {
      this.timer = setInterval(() => void this.pollOnce(), this.options.pollMs);
      this.timer.unref();
    }
    return this.source;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  pagesPerCall(database: string, fingerprint: string): number | undefined {
    return this.pagesPerShape(shapeKey(database, fingerprint));
  }

  /** Pages per execution of a shape (query-costs.ts shapeKey), once measured. */
  pagesPerShape(key: string): number | undefined {
    const m = this.measures.get(key);
    return m && m.samples > 0 ? m.pagesPerCall : undefined;
  }

  /**
   * With sampling as the source: measures this read-only execution's pages now and then, and at
   * once when the shape's plan changed (`planShape`, e.g. a new index turned a sequential scan
   * into an index scan): what the old plan read says nothing about the new one.
   * Returns whether a sample was started.
   */
  maybeSample(key: string, readOnly: boolean, source: ExplainSource, planShape?: string): boolean {
    if (this.source !== 'explain_analyze' || !readOnly) return false;
    let m = this.measures.get(key);
    if (m?.writes) return false;
    const now = Date.now();
    const replanned = m !== undefined && planShape !== undefined && m.planShape !== undefined && planShape !== m.planShape;
    // The first sample may run before the shape's first EXPLAIN: it was taken under this plan.
    if (m && m.planShape === undefined) m.planShape = planShape;
    if (m && (m.sampling || (!replanned && now - m.sampledAt < this.options.sampleEveryMs))) return false;
    if (!m) {
      m = { pagesPerCall: 0, samples: 0, sampledAt: now };
      this.measures.set(key, m);
    }
    const measure = m;
    measure.sampling = true;
    measure.sampledAt = now;
    measure.planShape = planShape ?? measure.planShape;
    const r = source.explainRequest();
    this.sampler(r.database)
      .then((c) => measuredPages(c, r))
      .then(
        (pages) => {
          if (replanned) measure.samples = 0;
          this.learn(measure, pages);
        },
        (err: { code?: string }) => {
          if (err?.code === SQLSTATE_READ_ONLY) measure.writes = true;
        },
      )
      .finally(() => (measure.sampling = false));
    return true;
  }

  private learn(m: Measure, pagesPerCall: number): void {
    m.samples++;
    m.pagesPerCall = m.samples === 1 ? pagesPerCall : m.pagesPerCall + RATE * (pagesPerCall - m.pagesPerCall);
  }

  private async pollOnce(): Promise<void> {
    const db = this.controlDatabase();
    if (db === undefined) return;
    try {
      await this.poll(await this.connect(db));
    } catch {
      // Try again at the next interval.
    }
  }

  private async poll(client: pg.Client): Promise<void> {
    const { rows } = await client.query<PgssRow>(
      `SELECT d.datname, s.userid::text, s.queryid::text, s.query, s.calls::text,
              (s.shared_blks_hit + s.shared_blks_read)::text AS pages
         FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
        WHERE s.queryid IS NOT NULL`,
    );
    this.polls++;
    const deltas = new Map<string, { calls: number; pages: number }>();
    for (const r of rows) {
      const id = `${r.datname}\0${r.userid}\0${r.queryid}`;
      const calls = Number(r.calls);
      const pages = Number(r.pages);
      const prev = this.previous.get(id);
      this.previous.set(id, { calls, pages });
      // A reset of pg_stat_statements (or a first sight) gives no delta to learn from.
      if (!prev || calls <= prev.calls || pages < prev.pages) continue;
      let fp = this.fingerprints.get(r.queryid);
      if (fp === undefined) {
        try {
          fp = fingerprintSync(r.query);
        } catch {
          fp = '';
        }
        if (this.fingerprints.size > 50_000) this.fingerprints.clear();
        this.fingerprints.set(r.queryid, fp);
      }
      if (!fp) continue;
      const key = shapeKey(r.datname, fp);
      const d = deltas.get(key) ?? { calls: 0, pages: 0 };
      d.calls += calls - prev.calls;
      d.pages += pages - prev.pages;
      deltas.set(key, d);
    }
    for (const [key, d] of deltas) {
      let m = this.measures.get(key);
      if (!m) {
        m = { pagesPerCall: 0, samples: 0, sampledAt: Date.now() };
        this.measures.set(key, m);
      }
      this.learn(m, d.pages / d.calls);
    }
  }
}
