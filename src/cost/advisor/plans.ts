// Reading EXPLAIN (FORMAT JSON) plans for the advisor: total cost, the indexes a plan uses, the
// relations it reads whole.
import type { PlanNode } from '../plan-usage.ts';

export type AdvisorPlan = PlanNode & { Filter?: string; 'Hash Cond'?: string; 'Subplan Name'?: string };

export function planNodes(root: PlanNode): AdvisorPlan[] {
  const out: AdvisorPlan[] = [];
  const walk = (n: PlanNode) => {
    out.push(n as AdvisorPlan);
    for (const c of n.Plans ?? []) walk(c);
  };
  walk(root);
  return out;
}

export const planCost = (root: PlanNode): number => root['Total Cost'] ?? 0;

export function usesIndex(root: PlanNode, indexName: string): boolean {
  return planNodes(root).some((n) => n['Index Name'] === indexName);
}

/** Sequential scans in the plan, by "schema.table" (EXPLAIN VERBOSE or a plain one: schema may be absent). */
export function seqScans(root: PlanNode): AdvisorPlan[] {
  return planNodes(root).filter((n) => n['Node Type'] === 'Seq Scan' || n['Node Type'] === 'Parallel Seq Scan');
}

/** True when a Limit node bounds the plan's output. */
export function hasLimit(root: PlanNode): boolean {
  return planNodes(root).some((n) => n['Node Type'] === 'Limit');
}

/** True when the plan runs a subquery per row or as a hashed set (NOT IN, correlated subqueries). */
export function hasSubPlan(root: PlanNode): boolean {
  return planNodes(root).some((n) => n['Parent Relationship'] === 'SubPlan' || /SubPlan/.test(n.Filter ?? ''));
}
