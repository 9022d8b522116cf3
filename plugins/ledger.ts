// Appends every statement run through the proxy to the audit ledger: who (user, database, client
// address, application_name, session), what (kind, tables, normalized text: literals masked, as
// in telemetry; the text as sent and its parameters only with --ledger-full-text), and the
// outcome (SQLSTATE, rows, duration). The result hook only adds a record to the interval's
// leaf; hashing and the database append happen once per interval.
import type { LedgerService } from '../src/ledger/service.ts';
import type { Plugin } from './contract.ts';

export function createLedgerPlugin(ledger: LedgerService): Plugin {
  return {
    name: 'ledger',
    onResult(r) {
      if (r.query.phase === 'execute') ledger.recordStatement(r);
    },
  };
}
