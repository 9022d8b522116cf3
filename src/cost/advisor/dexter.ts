// Which validated candidates become recommendations.
//
// Dexter's rule: an index is worth proposing for a statement only when the planner uses it and
// the statement's estimated plan cost drops by at least half. Per statement the candidate with
// the cheapest plan wins (within 1%, the one with fewer columns); a winner whose columns lead a
// wider winner on the same table is folded into it when the wider one serves its statements
// nearly as well (within 10%), so one index is proposed instead of two.
//
// Then the writes: every index makes the table's writes dearer, so the dollars an index saves
// reads are weighed against what it adds to the INSERTs, UPDATEs and MERGEs the cost engine
// priced on that table (writeOverheadUsd), and only a positive balance is recommended.

export const DEXTER_MIN_REDUCTION = 0.5;
const TIE = 0.01;
const FOLD_SLACK = 1.1;

export interface PlanOutcome {
  after: number;
  /** The plan uses the candidate index. */
  used: boolean;
}

export interface StatementOutcomes {
  /** One statement's use of one table (a join can want an index on each side). */
  id: string;
  /** Estimated plan cost today. */
  before: number;
  /** Per candidate key, the plan with that index. */
  withIndex: Map<string, PlanOutcome>;
}

/** Dexter's rule. */
export function halvesCost(before: number, o: PlanOutcome | undefined): boolean {
  return o !== undefined && o.used && before > 0 && o.after <= before * (1 - DEXTER_MIN_REDUCTION);
}

export function reduction(before: number, after: number): number {
  return before > 0 ? Math.max(0, 1 - after / before) : 0;
}

/**
 * Chosen candidate per statement (id → candidate key), after folding narrower
 * winners into wider ones. `columnsOf` gives a candidate's columns.
 */
export function chooseIndexes(statements: readonly StatementOutcomes[], columnsOf: (key: string) => readonly string[]): Map<string, string> {
  const chosen = new Map<string, string>();
  for (const s of statements) {
    const ok = [...s.withIndex].filter(([, o]) => halvesCost(s.before, o));
    if (ok.length === 0) continue;
    const best = Math.min(...ok.map(([, o]) => o.after));
    const near = ok.filter(([, o]) => o.after <= best * (1 + TIE) + 1e-9);
    near.sort(([a], [b]) => columnsOf(a).length - columnsOf(b).length || (a < b ? -1 : a > b ? 1 : 0));
    chosen.set(s.id, near[0]![0]);
  }
  const byId = new Map(statements.map((s) => [s.id, s]));
  for (let changed = true; changed; ) {
    changed = false;
    const winners = new Set(chosen.values());
    for (const narrow of winners) {
      const served = [...chosen].filter(([, k]) => k === narrow).map(([id]) => byId.get(id)!);
      const wider = [...winners].find(
        (w) =>
          w !== narrow &&
          served[0] !== undefined &&
          isPrefix(columnsOf(narrow), columnsOf(w)) &&
          served.every((s) => {
            const o = s.withIndex.get(w);
            return halvesCost(s.before, o) && o!.after <= s.withIndex.get(narrow)!.after * FOLD_SLACK + 1e-9;
          }),
      );
      if (wider) {
        for (const s of served) chosen.set(s.id, wider);
        changed = true;
        break;
      }
    }
  }
  return chosen;
}

function isPrefix(a: readonly string[], b: readonly string[]): boolean {
  return a.length < b.length && a.every((c, i) => b[i] === c);
}

export interface WriteShape {
  kind: 'INSERT' | 'UPDATE' | 'DELETE' | 'MERGE';
  /** Dollars the cost engine charged for the shape's executions. */
  usd: number;
  /** UPDATE SET columns. */
  setColumns: readonly string[];
}

/**
 * Extra write dollars one more B-tree would have cost over the same executions. First-order
 * model: a row write costs one unit for the heap tuple plus one per index entry written (each
 * dirties about one page). With k indexes today and a HOT-update ratio h (pg_stat_user_tables
 * n_tup_hot_upd / n_tup_upd; HOT updates write no index entry):
 * - INSERT and MERGE: 1 + k units become 2 + k: the statement costs 1 / (1 + k) more;
 * - UPDATE not setting an indexed column: 1 + k(1-h) units become 1 + (k+1)(1-h);
 * - UPDATE setting one: HOT becomes impossible, so 1 + k(1-h) becomes 2 + k;
 * - DELETE: none at the time (index entries go when VACUUM removes the row, which no statement pays for).
 */
export function writeOverheadUsd(writes: readonly WriteShape[], indexColumns: readonly string[], existingIndexes: number, hotRatio: number): number {
  const k = Math.max(0, existingIndexes);
  const h = Math.min(1, Math.max(0, hotRatio));
  let usd = 0;
  for (const w of writes) {
    switch (w.kind) {
      case 'INSERT':
      case 'MERGE':
        usd += w.usd / (1 + k);
        break;
      case 'UPDATE': {
        const now = 1 + k * (1 - h);
        const after = w.setColumns.some((c) => indexColumns.includes(c)) ? 2 + k : 1 + (k + 1) * (1 - h);
        usd += (w.usd * (after - now)) / now;
        break;
      }
      case 'DELETE':
        break;
    }
  }
  return usd;
}
