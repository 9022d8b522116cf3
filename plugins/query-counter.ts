// Counts statements by kind: the smallest plugin that proves the hook pipeline.
import type { Plugin, QueryInfo } from './contract.ts';

export interface QueryCounter extends Plugin {
  /** Statements seen by kind (SELECT, INSERT, ...). */
  readonly byKind: ReadonlyMap<string, number>;
}

export function createQueryCounter(): QueryCounter {
  const byKind = new Map<string, number>();
  return {
    name: 'query-counter',
    byKind,
    onQuery(q: QueryInfo) {
      if (q.phase !== 'execute') return;
      byKind.set(q.kind, (byKind.get(q.kind) ?? 0) + 1);
    },
  };
}
