// Change capture: reads committed transactions from a logical replication slot (pgoutput,
// decoded by pg-logical-replication) and hands them to the sinks (the webhook outbox, later the
// ledger and others) in one transaction that also moves the durable checkpoint. Only after that
// commit is the slot confirmed, and never past the checkpoint.
//
// pg-logical-replication's own acknowledgement is off: with auto-ack it confirms each message as
// it is received, and even with auto-ack off its timer confirms the last received LSN unless
// timeoutSeconds is 0. subscribe() is always given the checkpoint, since without an LSN it
// resumes after received-but-unconfirmed data.
import type pg from 'pg';
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { connectControl, controlConfig, type ControlTarget } from '../control-client.ts';
import { UNCHANGED_TOAST, type ChangeEvent, type CommittedTransaction, type Row } from './event.ts';
import { formatLsn, parseLsn, type Lsn } from './lsn.ts';
import { SlotLostError, ensurePublication, prepareSlot, readSlot, syncKeyedPublication, type Publications, type SlotSettings, type SlotState } from './slot.ts';
import { valueParser } from './values.ts';

/** A consumer of committed transactions. Its writes share the hand-off transaction with the checkpoint. */
export interface ChangeSink {
  readonly name: string;
  /** Stores what the transactions mean to this sink; `client` is inside BEGIN and commits with the checkpoint. */
  write(client: pg.Client, txs: readonly CommittedTransaction[]): Promise<void>;
  /** After the hand-off committed: wake workers, update counters. Must not throw. */
  committed?(txs: readonly CommittedTransaction[]): void;
}

export interface CaptureOptions extends SlotSettings {
  /** A login with the REPLICATION attribute, on the database whose changes are captured. */
  control: () => ControlTarget | undefined;
  sinks: readonly ChangeSink[];
  log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  /** Events per hand-off transaction (whole transactions are never split, so one can be larger). */
  maxBatchEvents?: number;
  /** Reading pauses while this many received events wait for their hand-off. */
  highWaterEvents?: number;
  /** How often slot lag and wal_status are read. */
  slotPollMs?: number;
  /** How often the keyed publication is brought in step with the tables' replica identities. */
  keyedSyncMs?: number;
}

export type CaptureState = 'stopped' | 'starting' | 'streaming' | 'reconnecting' | 'alarm';

/**
 * How UPDATE and DELETE reach capture. 'ddl': HeliosDB's keyed publication, kept in step by event
 * triggers inside each DDL's transaction (and periodically). 'periodic': the same without the
 * event triggers (they need a superuser), so a table that gains a replica identity publishes its
 * UPDATE and DELETE from the next sync on. 'off': the configured publication is not HeliosDB's
 * pair and is used as it is. Null until capture has looked.
 */
export type KeyedSync = 'ddl' | 'periodic' | 'off';

export interface CaptureStatus {
  state: CaptureState;
  slot: string;
  publication: string;
  /** The publications pgoutput decodes (empty until capture has looked). */
  publications: string[];
  keyedSync: KeyedSync | null;
  /** Commit end LSN of the last transaction durably handed off; the slot is confirmed up to here. */
  checkpointLsn: string | null;
  transactions: number;
  events: number;
  /** Transactions and events received and not yet handed off. */
  pendingTransactions: number;
  pendingEvents: number;
  lastCommitTime: string | null;
  /** Why capture stopped (a lost slot), or the last connection error while reconnecting. */
  alarm: string | null;
  lastError: string | null;
  slotState: SlotState | null;
}

interface OpenTransaction {
  xid: number;
  commitLsn: string;
  commitTime: string;
  events: ChangeEvent[];
}

const MAX_RETRY_MS = 30_000;
/** Table names a warning about tables without replica identity lists before it only counts. */
const LISTED_TABLES = 20;

function keyedSyncOf(p: Publications): KeyedSync {
  if (!p.keyed) return 'off';
  return p.ddlTriggers ? 'ddl' : 'periodic';
}

/** ISO-8601 with microseconds, from microseconds since the Unix epoch. */
export function isoMicros(us: bigint): string {
  const ms = us / 1000n;
  const iso = new Date(Number(ms)).toISOString();
  const micros = Number(us % 1_000_000n);
  return `${iso.slice(0, 19)}.${String(micros < 0 ? micros + 1_000_000 : micros).padStart(6, '0')}Z`;
}

/**
 * Decodes column values with our parsers (exact text, JSON-safe numbers) instead of pg's global
 * type parsers. Messages are parsed as they arrive and handled later (flow control), so a
 * relation's parsers must be swapped at parse time, before its rows are parsed.
 */
class ExactValuesPgoutput extends PgoutputPlugin {
  override parse(buffer: Buffer): Pgoutput.Message {
    const m = super.parse(buffer);
    if (m.tag === 'relation') for (const c of m.columns) c.parser = valueParser(c.typeOid);
    return m;
  }
}

export class ChangeCapture {
  private stateValue: CaptureState = 'stopped';
  private checkpoint: Lsn | null = null;
  private service: LogicalReplicationService | null = null;
  private handoff: pg.Client | null = null;
  private open: OpenTransaction | null = null;
  private ready: CommittedTransaction[] = [];
  private readyEvents = 0;
  private flushing: Promise<void> | null = null;
  private waiters: (() => void)[] = [];
  private stopping = false;
  /** The hand-off connection is preparing the slot (creating one may wait on other sessions). */
  private preparing = false;
  private running: Promise<void> | null = null;
  private slotTimer: NodeJS.Timeout | null = null;
  private retryTimer: { timer: NodeJS.Timeout; wake: () => void } | null = null;
  private counts = { transactions: 0, events: 0 };
  private lastCommitTime: string | null = null;
  private alarm: string | null = null;
  private lastError: string | null = null;
  private slotState: SlotState | null = null;
  private publications: Publications | null = null;
  private publicationsReported = false;
  private syncTimer: NodeJS.Timeout | null = null;
  /** A keyed-publication sync is due; it runs when the hand-off connection is free. */
  private syncWanted = false;
  /** Sync failures already logged, so a lock that stays taken is not logged every few seconds. */
  private syncFailures = new Set<string>();
  /** Primary-key columns (none: ordered by table) of relations whose replica identity does not name the row (FULL, NOTHING). */
  private readonly keyColumns = new Map<number, string[]>();
  private readonly maxBatchEvents: number;
  private readonly highWaterEvents: number;

  constructor(private readonly o: CaptureOptions) {
    this.maxBatchEvents = o.maxBatchEvents ?? 5000;
    this.highWaterEvents = o.highWaterEvents ?? 100_000;
  }

  get state(): CaptureState {
    return this.stateValue;
  }

  status(): CaptureStatus {
    return {
      state: this.stateValue,
      slot: this.o.slot,
      publication: this.o.publication,
      publications: this.publications?.names ?? [],
      keyedSync: this.publications === null ? null : keyedSyncOf(this.publications),
      checkpointLsn: this.checkpoint === null ? null : formatLsn(this.checkpoint),
      transactions: this.counts.transactions,
      events: this.counts.events,
      pendingTransactions: this.ready.length + (this.open ? 1 : 0),
      pendingEvents: this.readyEvents + (this.open?.events.length ?? 0),
      lastCommitTime: this.lastCommitTime,
      alarm: this.alarm,
      lastError: this.lastError,
      slotState: this.slotState,
    };
  }

  /** Starts capturing in the background; reconnects after errors, stops for good on an alarm. */
  start(): void {
    if (this.running) return;
    this.stopping = false;
    this.stateValue = 'starting';
    this.running = this.loop();
    const poll = this.o.slotPollMs ?? 5000;
    this.slotTimer = setInterval(() => void this.pollSlot(), poll);
    this.slotTimer.unref();
    this.syncTimer = setInterval(() => this.requestSync(), this.o.keyedSyncMs ?? 2000);
    this.syncTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;

    if (this.slotTimer) clearInterval(this.slotTimer);
    this.slotTimer = null;
    if (this.syncTimer) clearInterval(this.syncTimer);
    this.syncTimer = null;
    this.retryTimer?.wake();
    await this.service?.stop().catch(() => {});
    if (this.preparing) await this.cancelPreparation();
    await this.running?.catch(() => {});
    this.running = null;
    await this.flushing?.catch(() => {});
    await this.handoff?.end().catch(() => {});
    this.handoff = null;
    if (this.stateValue !== 'alarm') this.stateValue = 'stopped';
  }

  /**
   * Cancels the statement the hand-off connection runs while a session prepares (a slot being
   * created, a lock waited for), so stop() does not wait for transactions of other sessions. A
   * cancelled slot creation leaves no slot behind; nothing was confirmed, so nothing is lost.
   */
  private async cancelPreparation(): Promise<void> {
    const pid = (this.handoff as (pg.Client & { processID?: number }) | null)?.processID;
    const target = this.o.control();
    if (!pid || !target) return;
    try {
      const c = await connectControl({ ...target });
      try {
        await c.query('SELECT pg_cancel_backend($1)', [pid]);
      } finally {
        await c.end().catch(() => {});
      }
    } catch (err) {
      this.o.log('debug', 'cdc: could not cancel the slot preparation', { slot: this.o.slot, error: (err as Error).message });
    }
  }

  private async loop(): Promise<void> {
    let delay = 500;
    while (!this.stopping) {
      try {
        await this.session();
        delay = 500;
      } catch (err) {
        if (err instanceof SlotLostError) {
          this.alarm = err.message;
          this.stateValue = 'alarm';
          this.o.log('error', 'cdc: ALARM: change capture stopped', { slot: this.o.slot, error: err.message });
          return;
        }
        if (this.stopping) break;
        this.lastError = (err as Error).message;
        this.o.log('warn', 'cdc: replication connection failed; retrying', { slot: this.o.slot, error: this.lastError, retryMs: delay });
      }
      if (this.stopping) break;
      this.stateValue = 'reconnecting';
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.retryTimer = { timer, wake: () => { clearTimeout(timer); resolve(); } };
      });
      this.retryTimer = null;
      delay = Math.min(MAX_RETRY_MS, delay * 2);
    }
  }

  /** One replication connection, from the checkpoint until it ends. */
  private async session(): Promise<void> {
    const target = this.o.control();
    if (!target) throw new Error('no upstream login configured for change capture');
    // Whatever was received but not handed off is received again from the checkpoint.
    this.open = null;
    this.ready = [];
    this.readyEvents = 0;
    this.releaseWaiters();
    if (!this.handoff) {
      const client = await connectControl({ ...target });
      client.on('error', () => {});
      client.on('end', () => {
        if (this.handoff !== client) return;
        this.handoff = null;
        // Nothing can be handed off or checkpointed now, so the stream stops too. A server in fast
        // shutdown ends this session first, and its walsender waits for its client to confirm
        // everything sent (which this one never would past its checkpoint) or to go away.
        void this.service?.stop().catch(() => {});
      });
      this.handoff = client;
    }
    const publications = await ensurePublication(this.handoff, this.o);
    this.publications = publications;
    this.reportPublications(publications);
    // Tables that gained or lost a replica identity while capture was down.
    await this.syncKeyed(this.handoff);
    this.preparing = true;
    // Creating a slot waits until every transaction open in the cluster has ended.
    const slow = setTimeout(() => {
      if (this.preparing) {
        this.o.log('warn', 'cdc: still preparing the replication slot: creating one waits for every open transaction in the cluster to end (see pg_stat_activity for sessions with a backend_xid, e.g. idle in transaction)', { slot: this.o.slot });
      }
    }, 5000);
    slow.unref();
    let prepared: Awaited<ReturnType<typeof prepareSlot>>;
    try {
      prepared = await prepareSlot(this.handoff, this.o);
    } finally {
      this.preparing = false;
      clearTimeout(slow);
    }
    const { checkpoint, created } = prepared;
    this.checkpoint = checkpoint;
    if (created) this.o.log('info', 'cdc: created replication slot', { slot: this.o.slot, at: formatLsn(checkpoint) });
    await this.pollSlot();
    // stop() found no stream to end while this session was still preparing: none may start now.
    if (this.stopping) return;
    const service = new LogicalReplicationService(
      // DateStyle and TimeZone fix how the walsender prints timestamps in the events.
      { ...controlConfig(target, undefined, 'heliosdb-cdc'), options: '-c datestyle=ISO,YMD -c timezone=UTC -c extra_float_digits=3' },
      { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
    );
    this.service = service;
    service.on('data', (_lsn: string, msg: Pgoutput.Message) => this.onMessage(msg));
    service.on('heartbeat', (lsn: string, _ts: number, respond: boolean) => this.onKeepalive(lsn, respond));
    service.on('error', (err: Error) => {
      this.lastError = err.message;
    });
    service.on('start', () => {
      this.stateValue = 'streaming';
      this.lastError = null;
      this.o.log('info', 'cdc: streaming', { slot: this.o.slot, from: formatLsn(checkpoint) });
    });
    // pgoutput publishes a change of a table in both publications once, with the union of their operations.
    const plugin = new ExactValuesPgoutput({ protoVersion: 1, publicationNames: publications.names });
    try {
      await service.subscribe(plugin, this.o.slot, formatLsn(checkpoint));
    } finally {
      this.service = null;
      await service.destroy().catch(() => {});
    }
    if (!this.stopping) throw new Error(this.lastError ?? 'replication stream ended');
  }

  private onMessage(msg: Pgoutput.Message): void | Promise<void> {
    switch (msg.tag) {
      case 'relation':
        return this.resolveKey(msg);
      case 'begin':
        this.open = { xid: msg.xid, commitLsn: formatLsn(parseLsn(msg.commitLsn!)), commitTime: isoMicros(msg.commitTime as bigint), events: [] };
        return;
      case 'insert':
      case 'update':
      case 'delete':
        if (this.open && msg.relation.schema !== 'helios') this.open.events.push(this.rowEvent(this.open, msg));
        return;
      case 'truncate':
        if (this.open) {
          for (const r of msg.relations) if (r.schema !== 'helios') this.open.events.push(this.event(this.open, r, 'truncate', null, null, {}, []));
        }
        return;
      case 'commit':
        return this.onCommit(msg);
      default:
        return;
    }
  }

  /**
   * With REPLICA IDENTITY FULL pgoutput flags every column as part of the key, and with NOTHING
   * none: the row's identity for ordering is then its primary key, read from the catalog (the
   * stream waits for it, so no row of the relation is built before). Without a primary key (or
   * when it cannot be read) the key is empty and the table's changes are ordered as one: the whole
   * row is no identity, since an UPDATE changes it, and its events would be ordered apart.
   */
  private resolveKey(r: Pgoutput.MessageRelation): Promise<void> | void {
    this.keyColumns.delete(r.relationOid);
    if (r.replicaIdentity !== 'full' && r.replicaIdentity !== 'nothing') return;
    const client = this.handoff;
    if (!client) {
      this.keyColumns.set(r.relationOid, []);
      return;
    }
    return client
      .query<{ attname: string }>(
        `SELECT a.attname FROM pg_index i JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
         WHERE i.indrelid = $1 AND i.indisprimary ORDER BY k.n`,
        [r.relationOid],
      )
      .then(
        ({ rows }) => {
          this.keyColumns.set(r.relationOid, rows.map((x) => x.attname));
        },
        () => {
          this.keyColumns.set(r.relationOid, []);
        },
      );
  }

  private rowEvent(tx: OpenTransaction, m: Pgoutput.MessageInsert | Pgoutput.MessageUpdate | Pgoutput.MessageDelete): ChangeEvent {
    const r = m.relation;
    let next: Row | null = null;
    let old: Row | null = null;
    const unchanged: string[] = [];
    if (m.tag !== 'delete') {
      next = m.new as Row;
      for (const c of r.columns) {
        // pgoutput's 'u' (unchanged TOAST) decodes as undefined when no old tuple supplied it.
        if (next[c.name] === undefined) {
          next[c.name] = UNCHANGED_TOAST as unknown as Row[string];
          unchanged.push(c.name);
        }
      }
    }
    if (m.tag !== 'insert') old = (m.old ?? m.key) as Row | null;
    const from = next ?? old;
    const key: Row = {};
    if (from) for (const k of this.keyColumns.get(r.relationOid) ?? r.keyColumns) key[k] = from[k] ?? null;
    return this.event(tx, r, m.tag, next, old, key, unchanged);
  }

  private event(tx: OpenTransaction, r: Pgoutput.MessageRelation, op: ChangeEvent['op'], next: Row | null, old: Row | null, key: Row, unchanged: string[]): ChangeEvent {
    const index = tx.events.length;
    return {
      id: `${tx.commitLsn}:${index}`,
      lsn: tx.commitLsn,
      table: `${r.schema}.${r.name}`,
      op,
      new: next,
      old,
      key,
      unchanged,
      commitTime: tx.commitTime,
      xid: tx.xid,
      index,
      count: 0,
    };
  }

  private onCommit(msg: Pgoutput.MessageCommit): void | Promise<void> {
    const tx = this.open;
    this.open = null;
    if (!tx) return;
    const end = parseLsn(msg.commitEndLsn!);
    // Handed off before a restart whose confirmation did not reach the server.
    if (this.checkpoint !== null && end <= this.checkpoint) return;
    for (const e of tx.events) e.count = tx.events.length;
    this.ready.push({ xid: tx.xid, commitLsn: tx.commitLsn, commitEndLsn: formatLsn(end), commitTime: tx.commitTime, events: tx.events });
    this.readyEvents += tx.events.length;
    this.scheduleFlush();
    if (this.readyEvents >= this.highWaterEvents) return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = this.flushAll().finally(() => {
      this.flushing = null;
      if (this.ready.length) this.scheduleFlush();
    });
  }

  /** Hands off everything ready, in batches, each in one transaction with the checkpoint. */
  private async flushAll(): Promise<void> {
    while (this.ready.length && !this.stopping) {
      const batch: CommittedTransaction[] = [];
      let events = 0;
      while (this.ready.length && (batch.length === 0 || events + this.ready[0]!.events.length <= this.maxBatchEvents)) {
        const tx = this.ready.shift()!;
        batch.push(tx);
        events += tx.events.length;
      }
      try {
        await this.handOff(batch, events);
      } catch (err) {
        // Not handed off, not confirmed: the stream is restarted from the checkpoint and sends them again.
        this.lastError = (err as Error).message;
        this.o.log('warn', 'cdc: hand-off failed; resuming from the checkpoint', { slot: this.o.slot, error: this.lastError });
        this.ready = [];
        this.readyEvents = 0;
        this.releaseWaiters();
        await this.service?.stop().catch(() => {});
        return;
      }
      this.readyEvents -= events;
      if (this.readyEvents < this.highWaterEvents / 2) this.releaseWaiters();
      await this.runWantedSync();
    }
    await this.runWantedSync();
  }

  private async handOff(batch: CommittedTransaction[], events: number): Promise<void> {
    const client = this.handoff;
    if (!client) throw new Error('hand-off connection closed');
    const last = batch[batch.length - 1]!;
    await client.query('BEGIN');
    try {
      for (const sink of this.o.sinks) await sink.write(client, batch);
      await client.query(
        'UPDATE helios.cdc_slots SET checkpoint_lsn = $2, transactions = transactions + $3, events = events + $4, updated_at = now() WHERE slot_name = $1',
        [this.o.slot, last.commitEndLsn, batch.length, events],
      );
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
    this.checkpoint = parseLsn(last.commitEndLsn);
    this.counts.transactions += batch.length;
    this.counts.events += events;
    this.lastCommitTime = last.commitTime;
    this.confirm();
    for (const sink of this.o.sinks) {
      try {
        sink.committed?.(batch);
      } catch (err) {
        this.o.log('error', 'cdc: sink failed after hand-off', { sink: sink.name, error: (err as Error).message });
      }
    }
  }

  /**
   * Confirms the slot exactly up to the checkpoint. pg-logical-replication reports lsn + 1 as
   * written, flushed and applied, so it is given checkpoint - 1: a slot confirmed one byte past a
   * commit's end would skip a transaction whose commit record starts right there.
   */
  private confirm(): void {
    const service = this.service;
    if (!service || this.checkpoint === null || this.checkpoint === 0n) return;
    void service.acknowledge(formatLsn(this.checkpoint - 1n));
  }

  /**
   * A keepalive carries the position the server has sent up to. With nothing received and not
   * handed off, everything before it is done: the checkpoint moves there (durably first), so an
   * idle or unpublished-table workload does not pin WAL.
   */
  private onKeepalive(lsnText: string, respond: boolean): void {
    const lsn = parseLsn(lsnText);
    const idle = this.open === null && this.ready.length === 0 && this.flushing === null;
    if (idle && this.checkpoint !== null && lsn > this.checkpoint && this.handoff) {
      const client = this.handoff;
      this.flushing = client
        .query('UPDATE helios.cdc_slots SET checkpoint_lsn = greatest(checkpoint_lsn, $2::pg_lsn), updated_at = now() WHERE slot_name = $1', [this.o.slot, formatLsn(lsn)])
        .then(
          () => {
            if (this.checkpoint === null || lsn > this.checkpoint) this.checkpoint = lsn;
            this.confirm();
          },
          (err: Error) => {
            this.lastError = err.message;
          },
        )
        .finally(() => {
          this.flushing = null;
          if (this.ready.length) this.scheduleFlush();
        });
      return;
    }
    if (respond) this.confirm();
  }

  private releaseWaiters(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Logs once per capture what the publications mean for writes and for what is captured. */
  private reportPublications(p: Publications): void {
    if (p.created) this.o.log('info', 'cdc: created publications', { publication: this.o.publication, keyed: p.keyed, schemas: this.o.schemas.join(',') });
    if (p.recreatedKeyed) {
      this.o.log('warn', 'cdc: the keyed publication was missing and was created again; UPDATE and DELETE committed while it was missing were not captured', { keyed: p.keyed });
    }
    if (this.publicationsReported) return;
    this.publicationsReported = true;
    if (p.keyed && !p.ddlTriggers) {
      this.o.log(
        'warn',
        'cdc: no DDL event triggers (installing them needs a superuser): a table that gains a replica identity (a new table with a primary key, REPLICA IDENTITY FULL) has its UPDATE and DELETE captured only from the next periodic sync on, and those committed before it are not; a table that loses its identity refuses UPDATE and DELETE until that sync. INSERT and TRUNCATE are always captured',
        { publication: this.o.publication, keyed: p.keyed, syncMs: this.o.keyedSyncMs ?? 2000, fix: 'SELECT helios.cdc_install_ddl_triggers() as a superuser, once the helios schema belongs to one' },
      );
    }
    if (!p.keyed && p.blocking.length) {
      const listed = p.blocking.slice(0, LISTED_TABLES).join(', ') + (p.blocking.length > LISTED_TABLES ? `, and ${p.blocking.length - LISTED_TABLES} more` : '');
      this.o.log(
        'warn',
        `cdc: publication ${this.o.publication}, used as it is (HeliosDB did not create it as its publication pair), publishes UPDATE and DELETE for tables without a replica identity, so PostgreSQL refuses UPDATE and DELETE on them: ${listed}`,
        {
          publication: this.o.publication,
          tables: p.blocking.length,
          fix: `ALTER TABLE ... REPLICA IDENTITY FULL (or add a primary key) on each; or stop HeliosDB, DROP PUBLICATION ${this.o.publication} and start it again: it then creates ${this.o.publication} for INSERT and TRUNCATE and a keyed publication for UPDATE and DELETE of tables with a replica identity (changes committed while no publication exists are not captured)`,
        },
      );
    } else if (!p.keyed) {
      this.o.log('info', 'cdc: using the existing publication as it is', { publication: this.o.publication });
    }
  }

  /** Asks for a keyed-publication sync: now if the hand-off connection is idle, else between hand-offs. */
  private requestSync(): void {
    if (!this.publications?.keyed || this.stateValue !== 'streaming' || this.stopping) return;
    this.syncWanted = true;
    // The hand-off connection runs one thing at a time; a sync inside a hand-off's transaction would
    // hold the publication's lock until it commits, and its failure would abort the hand-off.
    if (this.flushing) return;
    this.flushing = this.runWantedSync().finally(() => {
      this.flushing = null;
      if (this.ready.length) this.scheduleFlush();
    });
  }

  private async runWantedSync(): Promise<void> {
    if (!this.syncWanted) return;
    this.syncWanted = false;
    const client = this.handoff;
    if (client) await this.syncKeyed(client);
  }

  /** Never throws: what fails is tried again at the next tick. A failure is logged when it first appears, not at every tick. */
  private async syncKeyed(client: pg.Client): Promise<void> {
    const keyed = this.publications?.keyed;
    if (!keyed) return;
    const failures = new Set<string>();
    const failed = (what: string, fields: Record<string, unknown>) => {
      failures.add(what);
      if (!this.syncFailures.has(what)) this.o.log('warn', 'cdc: could not bring the keyed publication in step; retrying', { keyed, ...fields });
    };
    try {
      for (const c of await syncKeyedPublication(client, this.o.publication)) {
        if (c.error !== null) failed(`${c.action} ${c.table}: ${c.error}`, { action: c.action, table: c.table, error: c.error });
        else if (c.action === 'add') this.o.log('info', 'cdc: table has a replica identity; its UPDATE and DELETE are captured', { table: c.table, keyed });
        else this.o.log('info', 'cdc: table has no usable replica identity; only its INSERT and TRUNCATE are captured', { table: c.table, keyed });
      }
    } catch (err) {
      failed((err as Error).message, { error: (err as Error).message });
    }
    this.syncFailures = failures;
  }

  private async pollSlot(): Promise<void> {
    const client = this.handoff;
    if (!client) return;
    try {
      this.slotState = await readSlot(client, this.o.slot);
      if (this.slotState.walStatus === 'lost' && this.stateValue !== 'alarm') {
        this.alarm = `replication slot "${this.o.slot}" lost WAL it still needed (wal_status lost): changes after ${this.slotState.confirmedFlushLsn} cannot be read`;
        this.o.log('error', 'cdc: ALARM: replication slot lost WAL', { slot: this.o.slot });
      }
    } catch {
      // Polled again; the hand-off path reports connection trouble.
    }
  }
}
