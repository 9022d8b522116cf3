// Prices every statement: the estimate from its cached plan before it runs, and its measured
// time, pages and result bytes after, charged to its tenant (src/cost/).
import type { CostEngine } from '../src/cost/index.ts';
import type { Plugin } from './contract.ts';

export function createCostPlugin(engine: CostEngine): Plugin {
  return {
    name: 'cost',
    onQuery(q) {
      if (q.phase === 'execute') engine.begin(q);
    },
    onResult: (r) => engine.finish(r),
  };
}
