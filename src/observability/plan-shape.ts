// The shape of an EXPLAIN (FORMAT JSON) plan: node types, join order, relations and indexes,
// without costs or row estimates, so two plans compare equal exactly when the planner chose
// the same strategy. A changed shape for the same statement is a plan change.
import { createHash } from 'node:crypto';

type PlanNode = Record<string, unknown> & { Plans?: PlanNode[] };

/** The top plan node of EXPLAIN (FORMAT JSON) output (the array, its first element, or the node). */
export function rootPlanNode(explain: unknown): PlanNode | undefined {
  const first = Array.isArray(explain) ? explain[0] : explain;
  if (first && typeof first === 'object') {
    const plan = (first as Record<string, unknown>).Plan ?? first;
    if (plan && typeof plan === 'object') return plan as PlanNode;
  }
  return undefined;
}

/** e.g. "Nested Loop(Index Scan[orders_pkey on orders],Seq Scan[customers])". */
export function planShape(explain: unknown): string {
  const root = rootPlanNode(explain);
  return root ? nodeShape(root) : '';
}

function nodeShape(n: PlanNode): string {
  const parts: string[] = [];
  for (const key of ['Join Type', 'Strategy', 'Scan Direction'] as const) {
    const v = n[key];
    if (typeof v === 'string' && v !== 'Forward' && v !== 'Plain') parts.push(v);
  }
  const on = [n['Index Name'] && `${String(n['Index Name'])} on`, n['Relation Name'], n['CTE Name'], n['Function Name']].filter(Boolean).join(' ');
  let s = String(n['Node Type'] ?? '?');
  if (parts.length) s += ` ${parts.join(' ')}`;
  if (on) s += `[${on}]`;
  if (n.Plans?.length) s += `(${n.Plans.map(nodeShape).join(',')})`;
  return s;
}

/** A short stable id of the plan's shape (16 hex digits). */
export function planHash(explain: unknown): string {
  return createHash('sha256').update(planShape(explain)).digest('hex').slice(0, 16);
}

/** The planner's total cost estimate of the top node; NaN when absent. */
export function planTotalCost(explain: unknown): number {
  const v = rootPlanNode(explain)?.['Total Cost'];
  return typeof v === 'number' ? v : NaN;
}
