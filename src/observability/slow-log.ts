// The slow-statement log: statements at or above a threshold, logged as they finish and kept
// (the last N) for the API. Text is the normalized statement, never its literals.
import type { ResultInfo } from '../../plugins/contract.ts';

export interface SlowStatement {
  at: string;
  durationMs: number;
  fingerprint: string;
  database: string;
  user: string;
  applicationName: string;
  clientAddress: string;
  query: string;
  rows: number;
  sqlstate: string | null;
}

export class SlowLog {
  private readonly entries: SlowStatement[] = [];

  constructor(
    readonly thresholdMs: number,
    private readonly log: (level: 'info', msg: string, fields: Record<string, unknown>) => void,
    private readonly keep = 500,
  ) {}

  add(r: ResultInfo): void {
    const q = r.query;
    const s: SlowStatement = {
      at: new Date().toISOString(),
      durationMs: Math.round(r.durationSeconds * 1e6) / 1e3,
      fingerprint: q.fingerprint,
      database: q.session.database,
      user: q.session.user,
      applicationName: q.session.applicationName,
      clientAddress: q.session.clientAddress,
      query: q.fingerprint ? q.normalized : `(unparseable ${q.kind.toLowerCase()} statement)`,
      rows: r.rows,
      sqlstate: r.sqlstate ?? null,
    };
    this.entries.push(s);
    if (this.entries.length > this.keep) this.entries.shift();
    this.log('info', 'slow statement', { ...s, at: undefined });
  }

  /** Newest first. */
  list(limit = 100): SlowStatement[] {
    return this.entries.slice(-limit).reverse();
  }
}
