// Estimated usage from a plan: EXPLAIN (FORMAT JSON, VERBOSE) nodes plus each relation's size
// from pg_class. Planner cost units are not time; the estimator turns plannerCost into seconds
// with a fitted calibration (calibration.ts). Pages are what the scans are expected to touch:
// a sequential scan reads the whole relation, an index scan a descent plus its leaf pages and,
// for a heap fetch per row, at most every heap page.
import { PAGE_BYTES } from './usage.ts';

export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Schema?: string;
  'Index Name'?: string;
  'Total Cost'?: number;
  'Plan Rows'?: number;
  'Plan Width'?: number;
  'Parent Relationship'?: string;
  Operation?: string;
  Plans?: PlanNode[];
}

export interface RelationSize {
  pages: number;
  /** -1 when never vacuumed or analyzed. */
  tuples: number;
}

export interface PlanUsage {
  /** The plan's total cost in planner units. */
  plannerCost: number;
  pages: number;
  scannedBytes: number;
  /** Result rows × width at the top of the plan. */
  egressBytes: number;
  rows: number;
  /** "schema.table" of every relation scanned, for invalidation when its statistics change. */
  tables: string[];
  /** Node types of the plan, outermost first (the plan's shape, e.g. for plan-change checks). */
  shape: string;
}

export function relationKey(schema: string | undefined, name: string): string {
  return schema ? `${schema}.${name}` : name;
}

/** Relations (tables and indexes) whose sizes planUsage needs, as [schema, name] pairs. */
export function planRelations(root: PlanNode): Array<[string, string]> {
  const seen = new Map<string, [string, string]>();
  walk(root, (n) => {
    if (!n.Schema) return;
    if (n['Relation Name']) seen.set(relationKey(n.Schema, n['Relation Name']), [n.Schema, n['Relation Name']]);
    if (n['Index Name']) seen.set(relationKey(n.Schema, n['Index Name']), [n.Schema, n['Index Name']]);
  });
  return [...seen.values()];
}

function walk(n: PlanNode, visit: (n: PlanNode) => void): void {
  visit(n);
  for (const c of n.Plans ?? []) walk(c, visit);
}

/** B-tree fan-out is a few hundred keys per page; a descent reads about log_300(pages) + 1 pages. */
function descentPages(indexPages: number): number {
  return indexPages <= 1 ? 1 : Math.ceil(Math.log(indexPages) / Math.log(300)) + 1;
}

function indexPagesFor(rows: number, idx: RelationSize | undefined): number {
  if (!idx || idx.pages <= 0) return 1 + Math.ceil(rows / 300);
  const perPage = idx.tuples > 0 ? idx.tuples / idx.pages : 300;
  return Math.min(idx.pages, descentPages(idx.pages) + Math.ceil(rows / Math.max(1, perPage)));
}

function heapPagesFor(rows: number, rel: RelationSize | undefined, width: number): number {
  if (!rel || rel.pages <= 0) return Math.max(1, Math.ceil((rows * Math.max(width, 1)) / PAGE_BYTES));
  return Math.min(rel.pages, Math.max(1, Math.ceil(rows)));
}

export function planUsage(root: PlanNode, sizes: ReadonlyMap<string, RelationSize>): PlanUsage {
  const tables = new Set<string>();
  let pages = 0;
  const visit = (n: PlanNode, loops: number): void => {
    const rows = n['Plan Rows'] ?? 0;
    const width = n['Plan Width'] ?? 0;
    const table = n['Relation Name'] ? relationKey(n.Schema, n['Relation Name']) : undefined;
    const rel = table ? sizes.get(table) : undefined;
    const idx = n['Index Name'] ? sizes.get(relationKey(n.Schema, n['Index Name'])) : undefined;
    if (table) tables.add(table);
    switch (n['Node Type']) {
      case 'Seq Scan':
      case 'Sample Scan':
        pages += loops * (rel && rel.pages > 0 ? rel.pages : heapPagesFor(rows, undefined, width));
        break;
      case 'Index Scan':
        pages += loops * (indexPagesFor(rows, idx) + heapPagesFor(rows, rel, width));
        break;
      case 'Index Only Scan':
      case 'Bitmap Index Scan':
        pages += loops * indexPagesFor(rows, idx);
        break;
      case 'Bitmap Heap Scan':
      case 'Tid Scan':
      case 'Tid Range Scan':
        pages += loops * heapPagesFor(rows, rel, width);
        break;
      case 'ModifyTable':
        // Each written row dirties at least its heap page; index maintenance is in the calibration.
        pages += loops * Math.ceil(n.Plans?.[0]?.['Plan Rows'] ?? 0);
        break;
    }
    const children = n.Plans ?? [];
    // The inner side of a nested loop runs once per outer row.
    const outerRows = n['Node Type'] === 'Nested Loop' ? (children.find((c) => c['Parent Relationship'] === 'Outer')?.['Plan Rows'] ?? 1) : 1;
    for (const c of children) visit(c, c['Parent Relationship'] === 'Inner' && n['Node Type'] === 'Nested Loop' ? loops * Math.max(1, outerRows) : loops);
  };
  visit(root, 1);
  const shape: string[] = [];
  walk(root, (n) => shape.push(n['Node Type']));
  const rows = root['Plan Rows'] ?? 0;
  return {
    plannerCost: root['Total Cost'] ?? 0,
    pages: Math.round(pages),
    scannedBytes: Math.round(pages) * PAGE_BYTES,
    egressBytes: Math.round(rows * (root['Plan Width'] ?? 0)),
    rows,
    tables: [...tables],
    shape: shape.join('>'),
  };
}
