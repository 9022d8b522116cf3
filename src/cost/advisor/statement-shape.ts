// What the advisor reads from one statement's libpg-query parse tree (parseSync JSON; see
// proxy/analyzer/analyze.ts for how that tree wraps nodes): the tables it scans, how its
// WHERE, JOIN ... ON and ORDER BY clauses use their columns (equality, IN, range, LIKE, join),
// its LIMIT and OFFSET, SELECT *, NOT IN (subquery), and the columns an UPDATE sets.
//
// Values stay references ($n or a literal) until values.ts resolves them against the sampled
// execution; column references stay unresolved when the tree alone cannot tell their table
// (an unqualified column in a join), and resolve.ts settles them with the catalog.
import { parseSync } from 'libpg-query';

type Tree = { readonly [key: string]: unknown };

export interface TableRef {
  schema?: string;
  name: string;
  /** The name the statement refers to it by: its alias, else its name. */
  alias: string;
}

export type ValueRef =
  | { kind: 'param'; n: number }
  | { kind: 'const'; value: string | null }
  /** An expression without columns (now() - interval '1 day'): a constant at execution, value unknown here. */
  | { kind: 'expr' };

export interface ColumnUse {
  column: string;
  /** The table when the tree says which; otherwise `among` lists the tables in scope, nearest first. */
  table?: TableRef;
  among: TableRef[];
}

export type PredicateOp = 'eq' | 'in' | 'range' | 'like' | 'ilike' | 'null' | 'other';

export interface Predicate {
  column: ColumnUse;
  op: PredicateOp;
  value?: ValueRef;
}

export interface StatementShape {
  /** SELECT, INSERT, UPDATE, DELETE, or the statement's node name for anything else. */
  kind: string;
  /** Every table scanned, in every subquery, as referenced. */
  tables: TableRef[];
  /** INSERT, UPDATE or DELETE target. */
  target?: TableRef;
  predicates: Predicate[];
  joins: Array<[ColumnUse, ColumnUse]>;
  /** The outermost query's ORDER BY columns (expressions are skipped). */
  orderBy: Array<{ column: ColumnUse; desc: boolean }>;
  /** Tables of the outermost query's FROM list (joins included). */
  topTables: TableRef[];
  hasWhere: boolean;
  /** The outermost query's LIMIT / OFFSET; undefined when absent (LIMIT ALL counts as absent). */
  limit?: ValueRef;
  offset?: ValueRef;
  /** Tables whose every column the outermost target list returns (`*` or `t.*`). */
  selectStar: TableRef[];
  /** GROUP BY, or a target list of aggregates only: a few result rows whatever the scan. */
  aggregate: boolean;
  /** Columns tested with NOT IN (subquery). */
  notInSubquery: ColumnUse[];
  /** UPDATE SET targets. */
  setColumns: string[];
}

const AGGREGATES = new Set(['count', 'sum', 'avg', 'min', 'max', 'array_agg', 'string_agg', 'bool_and', 'bool_or', 'every', 'json_agg', 'jsonb_agg', 'json_object_agg', 'jsonb_object_agg', 'stddev', 'variance']);
const RANGE_OPS = new Set(['<', '>', '<=', '>=']);

/** The shape of the first statement of `sql`; undefined when it does not parse. */
export function statementShape(sql: string): StatementShape | undefined {
  let stmt: unknown;
  try {
    stmt = parseSync(sql).stmts?.[0]?.stmt;
  } catch {
    return undefined;
  }
  return stmt ? shapeOf(stmt as Tree) : undefined;
}

/** The statement a PREPARE defines, and the values an EXECUTE passes it (text, as $n would be bound). */
export function preparedShape(prepare: string, execute: string): { shape: StatementShape; params: (string | null)[] | null } | undefined {
  try {
    const p = parseSync(prepare).stmts?.[0]?.stmt as Tree | undefined;
    const query = (p?.PrepareStmt as Tree | undefined)?.query as Tree | undefined;
    if (!query) return undefined;
    const e = parseSync(execute).stmts?.[0]?.stmt as Tree | undefined;
    const args = ((e?.ExecuteStmt as Tree | undefined)?.params as Tree[] | undefined) ?? [];
    const values = args.map((a) => (a.A_Const ? constText(a.A_Const as Tree) : undefined));
    const params = values.every((v) => v !== undefined) ? (values as (string | null)[]) : null;
    return { shape: shapeOf(query), params };
  } catch {
    return undefined;
  }
}

interface Scope {
  tables: TableRef[];
  parent: Scope | null;
}

function shapeOf(stmt: Tree): StatementShape {
  const [type, body] = nodeOf(stmt);
  const shape: StatementShape = {
    kind: type.replace(/Stmt$/, '').toUpperCase(),
    tables: [],
    predicates: [],
    joins: [],
    orderBy: [],
    topTables: [],
    hasWhere: false,
    selectStar: [],
    aggregate: false,
    notInSubquery: [],
    setColumns: [],
  };
  const w = new Walker(shape);
  switch (type) {
    case 'SelectStmt':
      w.select(body, null, true);
      break;
    case 'UpdateStmt':
    case 'DeleteStmt': {
      const target = tableRef(body.relation as Tree);
      shape.target = target;
      const scope: Scope = { tables: [target], parent: null };
      shape.tables.push(target);
      for (const item of (body.fromClause ?? body.usingClause ?? []) as Tree[]) w.fromItem(item, scope);
      shape.topTables = [...scope.tables];
      if (body.whereClause) {
        shape.hasWhere = true;
        w.conjuncts(body.whereClause as Tree, scope);
      }
      if (type === 'UpdateStmt') shape.setColumns = ((body.targetList ?? []) as Tree[]).map((t) => String((t.ResTarget as Tree).name));
      w.nested(body.targetList, scope);
      w.nested(body.whereClause, scope);
      w.nested(body.withClause, null);
      break;
    }
    case 'InsertStmt': {
      shape.target = tableRef(body.relation as Tree);
      if (body.selectStmt) w.nested(body.selectStmt, null);
      break;
    }
    default:
      w.nested(body, null);
  }
  return shape;
}

class Walker {
  constructor(private readonly shape: StatementShape) {}

  select(body: Tree, parent: Scope | null, top: boolean): void {
    // UNION / INTERSECT / EXCEPT: each arm is a query of its own.
    if (body.op && body.op !== 'SETOP_NONE') {
      this.nested(body.larg, parent);
      this.nested(body.rarg, parent);
      return;
    }
    if (body.withClause) this.nested(body.withClause, parent);
    const scope: Scope = { tables: [], parent };
    for (const item of (body.fromClause ?? []) as Tree[]) this.fromItem(item, scope);
    if (body.whereClause) this.conjuncts(body.whereClause as Tree, scope);
    if (top) {
      const s = this.shape;
      s.topTables = [...scope.tables];
      s.hasWhere = body.whereClause !== undefined;
      s.limit = limitValue(body.limitCount as Tree | undefined);
      s.offset = limitValue(body.limitOffset as Tree | undefined);
      s.aggregate = ((body.groupClause as unknown[] | undefined)?.length ?? 0) > 0 || aggregatesOnly(body.targetList as Tree[] | undefined);
      s.selectStar = starTables((body.targetList ?? []) as Tree[], scope);
      for (const sort of (body.sortClause ?? []) as Tree[]) {
        const sb = sort.SortBy as Tree;
        const col = this.orderColumn(sb.node as Tree, (body.targetList ?? []) as Tree[], scope);
        if (col) s.orderBy.push({ column: col, desc: sb.sortby_dir === 'SORTBY_DESC' });
      }
    }
    // Subqueries anywhere else in this query see its tables.
    for (const key of ['targetList', 'whereClause', 'havingClause', 'sortClause', 'groupClause']) this.nested(body[key], scope);
  }

  /** Adds a FROM item's tables to `scope`; JOIN ... ON conditions are read like WHERE conjuncts. */
  fromItem(item: Tree, scope: Scope): void {
    const [type, body] = nodeOf(item);
    switch (type) {
      case 'RangeVar': {
        const t = tableRef(body);
        scope.tables.push(t);
        this.shape.tables.push(t);
        break;
      }
      case 'JoinExpr':
        this.fromItem(body.larg as Tree, scope);
        this.fromItem(body.rarg as Tree, scope);
        if (body.quals) {
          this.conjuncts(body.quals as Tree, scope);
          this.nested(body.quals, scope);
        }
        break;
      case 'RangeSubselect':
        // LATERAL subqueries see the items before them; others only the outer query's.
        this.nested(body.subquery, body.lateral === true ? scope : scope.parent);
        break;
      default:
        this.nested(body, scope);
    }
  }

  /** Reads each AND-ed condition; OR branches are not indexable as one column and are skipped. */
  conjuncts(expr: Tree, scope: Scope): void {
    const [type, body] = nodeOf(expr);
    switch (type) {
      case 'BoolExpr':
        if (body.boolop === 'AND_EXPR') for (const a of body.args as Tree[]) this.conjuncts(a, scope);
        else if (body.boolop === 'NOT_EXPR') this.negated((body.args as Tree[])[0]!, scope);
        return;
      case 'A_Expr':
        this.comparison(body, scope);
        return;
      case 'NullTest': {
        const col = this.column(body.arg as Tree, scope);
        if (col && body.nulltesttype === 'IS_NULL') this.shape.predicates.push({ column: col, op: 'null' });
        return;
      }
      case 'SubLink': {
        // x IN (SELECT ...): a semi-join on x.
        const col = body.subLinkType === 'ANY_SUBLINK' && body.testexpr ? this.column(body.testexpr as Tree, scope) : undefined;
        if (col) this.shape.predicates.push({ column: col, op: 'in', value: { kind: 'expr' } });
        return;
      }
      case 'ColumnRef': {
        const col = this.column(expr, scope);
        if (col) this.shape.predicates.push({ column: col, op: 'eq', value: { kind: 'const', value: 'true' } });
        return;
      }
    }
  }

  private negated(arg: Tree, scope: Scope): void {
    const [type, body] = nodeOf(arg);
    if (type === 'SubLink' && body.subLinkType === 'ANY_SUBLINK' && body.testexpr) {
      const col = this.column(body.testexpr as Tree, scope);
      if (col) this.shape.notInSubquery.push(col);
    } else if (type === 'ColumnRef') {
      const col = this.column(arg, scope);
      if (col) this.shape.predicates.push({ column: col, op: 'eq', value: { kind: 'const', value: 'false' } });
    }
  }

  private comparison(e: Tree, scope: Scope): void {
    const op = operatorName(e);
    const push = (column: ColumnUse | undefined, p: PredicateOp, value?: ValueRef) => {
      if (column) this.shape.predicates.push({ column, op: p, value });
    };
    switch (e.kind) {
      case 'AEXPR_OP': {
        const l = this.operand(e.lexpr as Tree | undefined, scope);
        const r = this.operand(e.rexpr as Tree | undefined, scope);
        if (!l || !r) return;
        if ('column' in l && 'column' in r) {
          if (op === '=') this.shape.joins.push([l, r]);
          return;
        }
        const [col, value] = 'column' in l ? [l, r as ValueRef] : 'column' in r ? [r, l as ValueRef] : [undefined, undefined];
        if (!col) return;
        push(col, op === '=' ? 'eq' : RANGE_OPS.has(op) ? 'range' : 'other', value);
        return;
      }
      case 'AEXPR_OP_ANY':
      case 'AEXPR_IN': {
        if (op !== '=') return;
        const col = this.column(e.lexpr as Tree, scope);
        push(col, 'in', e.kind === 'AEXPR_OP_ANY' ? (this.operand(e.rexpr as Tree, scope) as ValueRef | undefined) : { kind: 'expr' });
        return;
      }
      case 'AEXPR_BETWEEN':
      case 'AEXPR_BETWEEN_SYM':
        push(this.column(e.lexpr as Tree, scope), 'range');
        return;
      case 'AEXPR_LIKE':
      case 'AEXPR_ILIKE': {
        if (op !== '~~' && op !== '~~*') return;
        const value = this.operand(e.rexpr as Tree, scope);
        push(this.column(e.lexpr as Tree, scope), op === '~~' ? 'like' : 'ilike', value && !('column' in value) ? value : undefined);
        return;
      }
    }
  }

  /** A column, a value without columns, or undefined (an expression over columns). */
  private operand(node: Tree | undefined, scope: Scope): ColumnUse | ValueRef | undefined {
    if (!node) return undefined;
    const [type, body] = nodeOf(node);
    switch (type) {
      case 'TypeCast':
      case 'CollateClause':
        return this.operand(body.arg as Tree, scope);
      case 'ColumnRef':
        return this.column(node, scope);
      case 'ParamRef':
        return { kind: 'param', n: Number(body.number) };
      case 'A_Const':
        return { kind: 'const', value: constText(body) ?? null };
      default:
        return hasColumn(node) ? undefined : { kind: 'expr' };
    }
  }

  private column(node: Tree, scope: Scope): ColumnUse | undefined {
    let [type, body] = nodeOf(node);
    while (type === 'TypeCast' || type === 'CollateClause') [type, body] = nodeOf(body.arg as Tree);
    if (type !== 'ColumnRef') return undefined;
    const fields = (body.fields as Tree[]).map((f) => (f.String as Tree | undefined)?.sval as string | undefined);
    if (fields.some((f) => f === undefined)) return undefined; // t.*
    const column = fields[fields.length - 1]!;
    const among = visible(scope);
    if (fields.length === 1) return among.length === 1 ? { column, table: among[0], among } : { column, among };
    const qualifier = fields[fields.length - 2]!;
    const schema = fields.length >= 3 ? fields[fields.length - 3] : undefined;
    const table = among.find((t) => (schema === undefined ? t.alias === qualifier : t.name === qualifier && t.schema === schema));
    return table ? { column, table, among } : undefined;
  }

  private orderColumn(node: Tree, targets: Tree[], scope: Scope): ColumnUse | undefined {
    const [type, body] = nodeOf(node);
    if (type === 'A_Const') {
      // ORDER BY 2: the second output column.
      const n = Number(constText(body));
      const t = targets[n - 1]?.ResTarget as Tree | undefined;
      return t ? this.column(t.val as Tree, scope) : undefined;
    }
    if (type === 'ColumnRef' && (body.fields as unknown[]).length === 1) {
      // ORDER BY an output column's alias.
      const name = ((body.fields as Tree[])[0]!.String as Tree | undefined)?.sval;
      const t = targets.map((x) => x.ResTarget as Tree).find((x) => x.name === name);
      if (t) return this.column(t.val as Tree, scope);
    }
    return this.column(node, scope);
  }

  /** Walks any value for nested queries (subqueries, CTEs), each read with `scope` as its outer scope. */
  nested(value: unknown, scope: Scope | null): void {
    if (typeof value !== 'object' || value === null) return;
    if (Array.isArray(value)) {
      for (const v of value) this.nested(v, scope);
      return;
    }
    for (const [key, child] of Object.entries(value as Tree)) {
      if (key === 'SelectStmt') this.select(child as Tree, scope, false);
      else this.nested(child, scope);
    }
  }
}

function nodeOf(node: Tree): [string, Tree] {
  const [type, body] = Object.entries(node)[0] ?? ['', {}];
  return [type, (body ?? {}) as Tree];
}

function tableRef(rv: Tree): TableRef {
  const name = String(rv.relname);
  const alias = ((rv.alias as Tree | undefined)?.aliasname as string | undefined) ?? name;
  return rv.schemaname === undefined ? { name, alias } : { schema: String(rv.schemaname), name, alias };
}

function visible(scope: Scope): TableRef[] {
  const out: TableRef[] = [];
  for (let s: Scope | null = scope; s; s = s.parent) out.push(...s.tables);
  return out;
}

function operatorName(e: Tree): string {
  const names = (e.name ?? []) as Tree[];
  return String((names[names.length - 1]?.String as Tree | undefined)?.sval ?? '');
}

/**
 * A_Const's value as text, as it would be bound; undefined for NULL. The tree leaves out fields
 * at their default (`ival: {}` is 0, `boolval: {}` is false).
 */
export function constText(c: Tree): string | undefined {
  if (c.isnull === true) return undefined;
  if (c.ival) return String((c.ival as Tree).ival ?? 0);
  if (c.fval) return String((c.fval as Tree).fval ?? '0');
  if (c.sval) return String((c.sval as Tree).sval ?? '');
  if (c.boolval) return (c.boolval as Tree).boolval === true ? 'true' : 'false';
  if (c.bsval) return String((c.bsval as Tree).bsval ?? '');
  return undefined;
}

function limitValue(node: Tree | undefined): ValueRef | undefined {
  if (!node) return undefined;
  const [type, body] = nodeOf(node);
  if (type === 'A_Const') return body.isnull === true ? undefined : { kind: 'const', value: constText(body) ?? null };
  if (type === 'ParamRef') return { kind: 'param', n: Number(body.number) };
  if (type === 'TypeCast') return limitValue(body.arg as Tree);
  return { kind: 'expr' };
}

function hasColumn(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some(hasColumn);
  for (const [key, child] of Object.entries(value as Tree)) {
    if (key === 'ColumnRef') return true;
    if (key === 'SelectStmt') continue; // a scalar subquery is a value here
    if (hasColumn(child)) return true;
  }
  return false;
}

function aggregatesOnly(targets: Tree[] | undefined): boolean {
  if (!targets?.length) return false;
  return targets.every((t) => {
    const [type, body] = nodeOf((t.ResTarget as Tree).val as Tree);
    if (type !== 'FuncCall' || body.over) return false;
    const names = body.funcname as Tree[];
    return AGGREGATES.has(String((names[names.length - 1]!.String as Tree).sval));
  });
}

function starTables(targets: Tree[], scope: Scope): TableRef[] {
  const out: TableRef[] = [];
  for (const t of targets) {
    const [type, body] = nodeOf((t.ResTarget as Tree).val as Tree);
    if (type !== 'ColumnRef') continue;
    const fields = body.fields as Tree[];
    if (!fields[fields.length - 1]!.A_Star) continue;
    if (fields.length === 1) out.push(...scope.tables);
    else {
      const q = (fields[fields.length - 2]!.String as Tree | undefined)?.sval;
      const table = scope.tables.find((x) => x.alias === q);
      if (table) out.push(table);
    }
  }
  return [...new Set(out)];
}
