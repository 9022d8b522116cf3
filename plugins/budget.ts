// Enforces per-tenant budgets and statement cost limits on every execution: simple-protocol
// statements one by one (also inside a multi-statement Query), each extended-protocol Bind of
// a named statement, and each SQL EXECUTE. Warnings go out as NoticeResponse (psql prints a
// WARNING); refusals as ErrorResponse with SQLSTATE YB001 (budget exhausted) or YB002
// (statement cost limit), raised by the server so transaction state stays consistent.
import type { CostEngine } from '../src/cost/index.ts';
import type { Plugin } from './contract.ts';

export function createBudgetPlugin(engine: CostEngine): Plugin {
  return {
    name: 'budget',
    onQuery(q) {
      if (q.phase !== 'execute') return;
      return engine.judge(q, engine.begin(q));
    },
    onDisconnect: (session) => engine.endSession(session),
  };
}
