// Counts statements by kind and outcome: the smallest plugin that proves the hook pipeline.
import type { Plugin, QueryInfo, ResultInfo } from './contract.ts';

export interface QueryCounter extends Plugin {
  /** Statements seen by kind (SELECT, INSERT, ...). */
  readonly byKind: ReadonlyMap<string, number>;
  /** Failed statements by kind. */
  readonly errorsByKind: ReadonlyMap<string, number>;
}

export function createQueryCounter(): QueryCounter {
  const byKind = new Map<string, number>();
  const errorsByKind = new Map<string, number>();
  return {
    name: 'query-counter',
    byKind,
    errorsByKind,
    onQuery(q: QueryInfo) {
      if (q.phase !== 'execute') return;
      byKind.set(q.kind, (byKind.get(q.kind) ?? 0) + 1);
    },
    onResult(r: ResultInfo) {
      if (r.sqlstate !== undefined) errorsByKind.set(r.query.kind, (errorsByKind.get(r.query.kind) ?? 0) + 1);
    },
  };
}
