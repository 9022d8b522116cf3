// The audit ledger in a running sidecar: statements through the proxy, committed row changes
// (a change-capture sink, so they commit with the capture checkpoint) and HeliosDB's own actions
// are appended in batches; every interval a checkpoint of the new size is signed, never one
// inconsistent with the last (CheckpointSigner refuses), and stored in helios.ledger_checkpoints.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import type { ChangeSink } from '../cdc/capture.ts';
import type { CommittedTransaction, Row } from '../cdc/event.ts';
import { connectControl, type ControlTarget } from '../control-client.ts';
import { registerScrapeMetric } from '../observability/scrape-metric.ts';
import { CheckpointSigner } from './checkpoint/index.ts';
import { canonicalJson, type LeafEntry, type LeafValue } from './leaf.ts';
import { consistencyProof, verifyConsistency } from './merkle/index.ts';
import { DbHashSource } from './proofs.ts';
import { collectCosignatures, quorum, type WitnessEndpoint } from './witness/client.ts';
import { parseCheckpoint } from './checkpoint/index.ts';
import { StatementBatch, type StatementOutcome } from './statement-batch.ts';
import { appendInTransaction, appendLeaves, readHead } from './store.ts';

export interface LedgerOptions {
  control: () => ControlTarget | undefined;
  registry: Registry;
  log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  /** Where the checkpoint signing key and its last-signed state live. */
  keyDir: string;
  /** The log's name in its checkpoints (C2SP origin line). */
  origin: string;
  flushMs?: number;
  maxBatch?: number;
  checkpointMs?: number;
  /** Tables whose row changes are logged (schema.table); empty = all. */
  tables?: readonly string[];
  /** Statements logged with their text as sent and Bind parameters (otherwise normalized text only). */
  fullText?: boolean;
  /** Witnesses asked to cosign each checkpoint (c2sp.org/tlog-witness), and how many make it final. */
  witnesses?: readonly { url: string; verifierKey: string }[];
  witnessQuorum?: number;
}

export interface WitnessingReport {
  size: number;
  cosigned: number;
  k: number;
  n: number;
  final: boolean;
  outcomes: { url: string; ok: boolean; status?: number; error?: string }[];
}

/** The hash of a row's values, so the ledger proves a change without holding the data. */
export function rowDigest(row: Row | null): string | null {
  return row === null ? null : createHash('sha256').update(canonicalJson(row as LeafValue)).digest('hex');
}

/** Leaves for committed row changes; written inside change capture's hand-off transaction. */
export class LedgerSink implements ChangeSink {
  readonly name = 'ledger';
  appended = 0;

  constructor(
    private readonly tables: ReadonlySet<string> | null,
    private readonly onAppend: () => void = () => {},
  ) {}

  async write(client: pg.Client, txs: readonly CommittedTransaction[]): Promise<void> {
    const leaves: LeafEntry[] = [];
    for (const tx of txs) {
      for (const e of tx.events) {
        if (this.tables && !this.tables.has(e.table)) continue;
        leaves.push({
          kind: 'row',
          fields: { table: e.table, op: e.op, key: e.key as LeafValue, new: rowDigest(e.new), old: rowDigest(e.old), lsn: e.lsn, xid: e.xid, index: e.index, time: e.commitTime },
        });
      }
    }
    if (leaves.length === 0) return;
    await appendInTransaction(client, leaves);
    this.appended += leaves.length;
    this.onAppend();
  }
}

export class LedgerService {
  readonly sink: LedgerSink;
  private queue: LeafEntry[] = [];
  private flushing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private checkpointTimer: NodeJS.Timeout | null = null;
  private client: pg.Client | null = null;
  private signer: CheckpointSigner | null = null;
  private closed = false;
  private readonly stats = { appended: 0, failedFlushes: 0, checkpoints: 0, size: 0 };
  /** Entries other than this process's own checkpoint-signing records since the last signing: none means nothing to sign. */
  private othersSinceSigning = 0;
  private listener: pg.Client | null = null;
  private readonly statements: StatementBatch;
  private statementCount = 0;
  /** Per witness, the size it is known to have cosigned last (a 409 answer corrects it). */
  private readonly witnesses: WitnessEndpoint[];
  private lastWitnessing: WitnessingReport | null = null;
  private readonly witnessFailures = new Map<string, number>();
  private checkpointing: Promise<{ size: number; note: string } | null> | null = null;

  constructor(private readonly o: LedgerOptions) {
    this.sink = new LedgerSink(o.tables?.length ? new Set(o.tables) : null, () => this.othersSinceSigning++);
    this.statements = new StatementBatch(o.fullText ?? false);
    this.witnesses = (o.witnesses ?? []).map((w) => ({ url: w.url, verifierKey: w.verifierKey, oldSize: 0 }));
    registerScrapeMetric(o.registry, 'helios_ledger_checkpoint_cosignatures', 'Witness cosignatures of the newest checkpoint this process submitted.', 'gauge', () =>
      this.lastWitnessing ? [{ value: this.lastWitnessing.cosigned, labels: {} }] : [],
    );
    registerScrapeMetric(o.registry, 'helios_ledger_checkpoint_final', '1 when the newest checkpoint this process submitted reached the witness quorum.', 'gauge', () =>
      this.lastWitnessing ? [{ value: this.lastWitnessing.final ? 1 : 0, labels: {} }] : [],
    );
    registerScrapeMetric(o.registry, 'helios_ledger_witness_failures_total', 'Checkpoint submissions a witness did not cosign, by witness URL.', 'counter', () =>
      [...this.witnessFailures].map(([witness, value]) => ({ value, labels: { witness } })),
    );
    registerScrapeMetric(o.registry, 'helios_ledger_entries_total', 'Ledger entries appended by this process (statements and actions; row changes by change capture).', 'counter', () => [
      { value: this.stats.appended, labels: {} },
    ]);
    registerScrapeMetric(o.registry, 'helios_ledger_statements_total', 'Statements through the proxy recorded in the ledger by this process (many per entry: one entry per interval).', 'counter', () => [
      { value: this.statementCount, labels: {} },
    ]);
    registerScrapeMetric(o.registry, 'helios_ledger_size', 'Entries in the ledger at the last checkpoint this process signed or saw.', 'gauge', () => [{ value: this.stats.size, labels: {} }]);
    registerScrapeMetric(o.registry, 'helios_ledger_pending_entries', 'Entries queued in this process, not yet appended.', 'gauge', () => [{ value: this.queue.length, labels: {} }]);
  }

  start(): void {
    this.signer = CheckpointSigner.open(this.o.keyDir, this.o.origin);
    void this.listen();
    this.checkpointTimer = setInterval(() => void this.checkpoint().catch((err: Error) => this.o.log('warn', 'ledger: checkpoint failed', { error: err.message })), this.o.checkpointMs ?? 10_000);
    this.checkpointTimer.unref();
  }

  get verifierKey(): string | undefined {
    return this.signer?.verifierKey;
  }

  /** Queues an entry; appended within flushMs. Never throws. */
  record(kind: LeafEntry['kind'], fields: Record<string, LeafValue | undefined>): void {
    if (this.closed) return;
    if (fields.action !== 'checkpoint_signed') this.othersSinceSigning++;
    this.queue.push({ kind, fields });
    if (this.queue.length >= (this.o.maxBatch ?? 5000)) this.flushSoon(0);
    else this.flushSoon(this.o.flushMs ?? 50);
  }

  /** Adds a statement run through the proxy to the current interval's leaf; appended within flushMs. Never throws. */
  recordStatement(r: StatementOutcome): void {
    if (this.closed) return;
    this.statements.add(r);
    this.statementCount++;
    if (this.statements.full) this.sealStatements();
    this.flushSoon(this.o.flushMs ?? 50);
  }

  private sealStatements(): void {
    const canonical = this.statements.seal();
    if (canonical === null) return;
    this.othersSinceSigning++;
    this.queue.push({ kind: 'statements', canonical });
  }

  private flushSoon(ms: number): void {
    if (this.timer && ms > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, ms);
    this.timer.unref();
  }

  /** Appends everything queued; a failed append keeps the entries queued and is retried. Concurrent calls share one run. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    const run = this.appendQueued();
    this.flushing = run;
    void run.finally(() => {
      if (this.flushing === run) this.flushing = null;
    });
    return run;
  }

  private async appendQueued(): Promise<void> {
    this.sealStatements();
    while (this.queue.length) {
      const batch = this.queue.slice(0, this.o.maxBatch ?? 5000);
      try {
        const client = await this.connection();
        const head = await appendLeaves(client, batch);
        this.queue.splice(0, batch.length);
        this.stats.appended += batch.length;
        this.stats.size = head.size;
      } catch (err) {
        this.stats.failedFlushes++;
        this.o.log('warn', 'ledger: append failed; entries stay queued and are retried', { entries: this.queue.length, error: (err as Error).message });
        await this.client?.end().catch(() => {});
        this.client = null;
        if (!this.closed) this.flushSoon(1000);
        return;
      }
    }
  }

  /**
   * HeliosDB's own actions: budget and webhook definitions changed (by any sidecar or SQL client;
   * both NOTIFY) are recorded with what they are now (secrets left out).
   */
  private async listen(): Promise<void> {
    if (this.closed) return;
    const target = this.o.control();
    if (!target) return;
    try {
      const c = await connectControl(target);
      c.on('error', () => {});
      c.on('end', () => {
        if (this.listener !== c) return;
        this.listener = null;
        if (!this.closed) setTimeout(() => void this.listen(), 1000).unref();
      });
      c.on('notification', (n) => void this.recordChange(n.channel, n.payload ?? ''));
      await c.query('LISTEN helios_budgets; LISTEN helios_webhooks');
      this.listener = c;
    } catch (err) {
      this.o.log('debug', 'ledger: cannot listen for budget and webhook changes; retrying', { error: (err as Error).message });
      if (!this.closed) setTimeout(() => void this.listen(), 5000).unref();
    }
  }

  private async recordChange(channel: string, name: string): Promise<void> {
    try {
      if (channel === 'helios_budgets') {
        const { rows } = await this.withClient((c) =>
          c.query('SELECT tenant, limit_usd::text, period, action, thresholds::text, statement_limit_usd::text FROM helios.budgets WHERE tenant = $1', [name]),
        );
        this.record('action', { action: rows[0] ? 'budget_set' : 'budget_removed', tenant: name, budget: rows[0] ?? null, time: new Date().toISOString() });
      } else if (channel === 'helios_webhooks') {
        const { rows } = await this.withClient((c) =>
          c.query('SELECT name, url, tables, operations, condition, state, state_reason, batch_size, rate_limit, max_attempts FROM helios.webhooks WHERE name = $1', [name]),
        );
        this.record('action', { action: rows[0] ? 'webhook_changed' : 'webhook_deleted', webhook: name, definition: rows[0] ?? null, time: new Date().toISOString() });
      }
    } catch (err) {
      this.o.log('warn', 'ledger: could not record a definition change', { channel, name, error: (err as Error).message });
    }
  }

  /** Runs `fn` on a connection of its own (reads that may take long, e.g. verification, never hold up appends). */
  async withClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const target = this.o.control();
    if (!target) throw new Error('no control connection configured');
    const c = await connectControl(target);
    c.on('error', () => {});
    try {
      return await fn(c);
    } finally {
      await c.end().catch(() => {});
    }
  }

  /**
   * Replaces the checkpoint signing key. Checkpoints signed before stay verifiable with the old
   * key, which is kept; witnesses refuse the new key's checkpoints until they are given it
   * (`helios witness --log ORIGIN=NEWKEY`), so give it to them first. Recorded in the ledger.
   */
  rotateKey(): { previous: string; verifierKey: string } {
    if (!this.signer) throw new Error('the ledger is not signing (no signing key opened)');
    const previous = this.signer.verifierKey;
    const verifierKey = this.signer.rotate();
    this.record('action', { action: 'signing_key_rotated', previous, verifierKey, time: new Date().toISOString() });
    this.o.log('info', 'ledger: checkpoint signing key rotated', { verifierKey });
    return { previous, verifierKey };
  }

  /** Verifier keys of the checkpoints this ledger signed (current and previous keys). */
  get verifierKeys(): string[] {
    return this.signer?.verifierKeys ?? [];
  }

  /** Verifiers for the checkpoints this ledger signed (current and previous keys). */
  verifiers(): ReturnType<CheckpointSigner['verifiers']> {
    return this.signer?.verifiers() ?? [];
  }

  get origin(): string {
    return this.o.origin;
  }

  private async connection(): Promise<pg.Client> {
    if (this.client) return this.client;
    const target = this.o.control();
    if (!target) throw new Error('no control connection configured');
    const c = await connectControl(target);
    c.on('error', () => {});
    c.on('end', () => {
      if (this.client === c) this.client = null;
    });
    this.client = c;
    return c;
  }

  /**
   * Signs a checkpoint of the current head when it grew. The signer itself refuses a smaller
   * size, the same size with another root, and anything the consistency proof (from the
   * stored leaves) does not bridge.
   */
  checkpoint(): Promise<{ size: number; note: string } | null> {
    // One signing at a time: a tick while witnesses are still answering shares the run in flight.
    if (!this.checkpointing) {
      const run = this.signCheckpoint().finally(() => {
        if (this.checkpointing === run) this.checkpointing = null;
      });
      this.checkpointing = run;
    }
    return this.checkpointing;
  }

  private async signCheckpoint(): Promise<{ size: number; note: string } | null> {
    if (!this.signer) return null;
    await this.flush();
    // A session of its own: on the append connection a read could fall inside a batch's open
    // transaction and sign a head that then rolls back, and a write could wait on its commit.
    return this.withClient((client) => this.signOn(client, this.signer!));
  }

  private async signOn(client: pg.Client, signer: CheckpointSigner): Promise<{ size: number; note: string } | null> {
    const head = await readHead(client);
    const last = signer.lastSigned;
    // Nothing new to sign: a checkpoint not yet final is offered to the witnesses again (one may be back).
    if (last && (last.size === head.size || (head.size === last.size + 1 && this.othersSinceSigning === 0))) {
      if (this.witnesses.length && !this.lastWitnessing?.final) await this.witnessStored(client);
      return null;
    }
    const proof = last && last.size > 0 && last.size < head.size ? await consistencyProof(last.size, head.size, new DbHashSource(client)) : [];
    const note = signer.sign(head.size, head.root, (oldSize, oldRoot, newSize, newRoot) =>
      oldSize === 0 || (oldSize === newSize ? oldRoot.equals(newRoot) : verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof)),
    );
    await client.query('INSERT INTO helios.ledger_checkpoints (size, root, note) VALUES ($1, $2, $3) ON CONFLICT (size) DO NOTHING', [head.size, head.root, note]);
    this.stats.checkpoints++;
    this.stats.size = head.size;
    this.othersSinceSigning = 0;
    this.record('action', { action: 'checkpoint_signed', size: head.size, root: head.root.toString('hex'), time: new Date().toISOString() });
    this.o.log('debug', 'ledger: checkpoint signed', { size: head.size });
    if (this.witnesses.length) await this.witness(client, note);
    return { size: head.size, note };
  }

  /** The newest stored checkpoint, offered to the witnesses again. */
  private async witnessStored(client: pg.Client): Promise<void> {
    const { rows } = await client.query<{ note: string }>('SELECT note FROM helios.ledger_checkpoints ORDER BY size DESC LIMIT 1');
    if (!rows[0]) return;
    // Only the log's own signature goes out again: the witnesses' lines are collected afresh.
    const note = rows[0].note;
    const cut = note.indexOf('\n\n');
    const sigs = note.slice(cut + 2).split('\n').filter(Boolean);
    const own = sigs.filter((line) => this.verifiers().some((v) => line.startsWith(`\u2014 ${v.name} `)));
    await this.witness(client, `${note.slice(0, cut + 2)}${own.map((l) => `${l}\n`).join('')}`);
  }

  /**
   * Asks every configured witness to cosign (c2sp.org/tlog-witness), each from the size it last
   * cosigned with a consistency proof from the stored log, and stores the cosigned note, the count
   * and finality (k of n) with the checkpoint. Witnesses that refuse or are down are logged and
   * counted; the next checkpoint, or the next tick, asks them again.
   */
  async witness(client: pg.Client, note: string): Promise<WitnessingReport> {
    const checkpoint = parseCheckpoint(note.slice(0, note.indexOf('\n\n') + 1));
    const k = this.o.witnessQuorum || quorum(this.witnesses.length);
    const source = new DbHashSource(client);
    const result = await collectCosignatures({
      witnesses: this.witnesses,
      note,
      checkpoint,
      k,
      proofFor: (oldSize) => consistencyProof(oldSize, checkpoint.size, source),
    });
    for (const o of result.outcomes) {
      const w = this.witnesses.find((x) => x.url === o.url)!;
      if (o.ok) w.oldSize = checkpoint.size;
      else {
        if (o.latestSize !== undefined && o.latestSize <= checkpoint.size) w.oldSize = o.latestSize;
        this.witnessFailures.set(o.url, (this.witnessFailures.get(o.url) ?? 0) + 1);
        this.o.log('warn', 'ledger: a witness did not cosign the checkpoint', { witness: o.url, size: checkpoint.size, status: o.status, error: o.error });
      }
    }
    await client.query('UPDATE helios.ledger_checkpoints SET note = $2, cosigners = $3, final = $4 WHERE size = $1', [checkpoint.size, result.note, result.cosigned, result.final]);
    this.lastWitnessing = {
      size: checkpoint.size, cosigned: result.cosigned, k: result.k, n: result.n, final: result.final,
      outcomes: result.outcomes.map((o) => ({ url: o.url, ok: o.ok, status: o.status, error: o.error })),
    };
    if (!result.final) this.o.log('warn', 'ledger: checkpoint not final: too few witnesses cosigned', { size: checkpoint.size, cosigned: result.cosigned, needed: k });
    return this.lastWitnessing;
  }

  /** The configured witnesses' keys and the quorum, for verification. */
  get witnessing(): { keys: string[]; k: number; last: WitnessingReport | null } {
    return { keys: this.witnesses.map((w) => w.verifierKey), k: this.o.witnessQuorum || (this.witnesses.length ? quorum(this.witnesses.length) : 0), last: this.lastWitnessing };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    const listener = this.listener;
    this.listener = null;
    await listener?.end().catch(() => {});
    await this.flush().catch(() => {});
    await this.client?.end().catch(() => {});
    this.client = null;
  }
}
