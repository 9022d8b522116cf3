// Appends every statement run through the proxy to the audit ledger: who (user, database, client
// address, application_name, session), what (kind, tables, normalized text: literals masked, as
// in telemetry; full text only with fullText), and the outcome (SQLSTATE, rows, duration). The
// result hook only queues; encoding, hashing and the database append happen in batches.
import type { LedgerService } from '../src/ledger/service.ts';
import type { Plugin } from './contract.ts';

export interface LedgerPluginOptions {
  /** Log the statement text as sent (with its literals) instead of the normalized text. */
  fullText?: boolean;
}

export function createLedgerPlugin(ledger: LedgerService, o: LedgerPluginOptions = {}): Plugin {
  return {
    name: 'ledger',
    onResult(r) {
      const q = r.query;
      if (q.phase !== 'execute') return;
      const s = q.session;
      ledger.record('statement', {
        time: new Date().toISOString(),
        session: s.id,
        user: s.user,
        database: s.database,
        client: s.clientAddress,
        application: s.applicationName,
        statement: q.kind,
        tables: q.writes.length ? [...q.writes, ...q.reads.filter((t) => !q.writes.includes(t))] : [...q.reads],
        text: o.fullText ? q.text : q.normalized,
        sqlstate: r.sqlstate ?? null,
        rows: r.rows,
        ms: Math.round(r.durationSeconds * 1e6) / 1e3,
        denied: r.denied || undefined,
      });
    },
  };
}
