// From the libpg-query parse tree of one statement to its StatementAnalysis.
//
// The JSON tree wraps a node as { TypeName: body } wherever the field may hold any node kind,
// and inlines the body when the field has one fixed type (InsertStmt.relation is a bare
// RangeVar). Field names start lowercase and node type names uppercase, which tells them apart.

import { fingerprintSync, normalizeSync } from 'libpg-query';
import type { StatementAnalysis } from '../../plugins/contract.ts';

type Tree = { readonly [key: string]: unknown };

/** Analysis of a statement libpg-query parsed; `text` is its comment-free text. */
export function analyzeParsed(stmt: unknown, text: string): StatementAnalysis {
  const [type, body] = nodeOf(stmt);
  const tables = new TableRefs();
  visit(stmt, ROOT, '', NO_CTES, tables);
  return Object.freeze({
    kind: kindOf(type),
    ...(type === 'TransactionStmt' && { subkind: transactionKind(body) }),
    reads: tables.names('read'),
    writes: tables.names('write'),
    fingerprint: attempt(() => fingerprintSync(text), ''),
    normalized: attempt(() => normalizeSync(text), text),
  });
}

/** Analysis of text libpg-query rejected; the server will reject it too. */
export function analyzeUnparseable(text: string, error: string): StatementAnalysis {
  return Object.freeze({ kind: 'UNKNOWN', reads: NONE, writes: NONE, fingerprint: '', normalized: text, error });
}

const NONE: readonly string[] = Object.freeze([]);

/** An empty statement (only comments or semicolons): valid, executing it yields EmptyQueryResponse. */
export const EMPTY_ANALYSIS: StatementAnalysis = Object.freeze({ kind: 'EMPTY', reads: NONE, writes: NONE, fingerprint: '', normalized: '' });

function attempt<T>(run: () => T, fallback: T): T {
  try {
    return run();
  } catch {
    return fallback;
  }
}

function nodeOf(stmt: unknown): [string, Tree] {
  const [type, body] = Object.entries(stmt as Tree)[0] ?? ['', {}];
  return [type, body as Tree];
}

// Names that "strip Stmt, upper-snake" would make unclear (VIEW for CREATE VIEW, CREATEDB).
const KIND_OF_TYPE: Readonly<Record<string, string>> = {
  CreateStmt: 'CREATE_TABLE',
  ViewStmt: 'CREATE_VIEW',
  IndexStmt: 'CREATE_INDEX',
  RuleStmt: 'CREATE_RULE',
  CreatedbStmt: 'CREATE_DATABASE',
  DropdbStmt: 'DROP_DATABASE',
  VariableSetStmt: 'SET',
  VariableShowStmt: 'SHOW',
};

function kindOf(type: string): string {
  return (
    KIND_OF_TYPE[type] ??
    type
      .replace(/Stmt$/, '')
      .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
      .replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
      .toUpperCase()
  );
}

/** TRANS_STMT_BEGIN → BEGIN; START TRANSACTION stays START, as PostgreSQL keeps it apart. */
function transactionKind(body: Tree): string {
  return String(body.kind).replace(/^TRANS_STMT_/, '');
}

// The field of each statement that holds the relation it writes (COPY only when FROM).
const WRITE_TARGET_FIELD: Readonly<Record<string, string>> = {
  InsertStmt: 'relation',
  UpdateStmt: 'relation',
  DeleteStmt: 'relation',
  MergeStmt: 'relation',
  CopyStmt: 'relation',
  TruncateStmt: 'relations',
  // IntoClause.rel: SELECT ... INTO t, CREATE TABLE t AS, CREATE MATERIALIZED VIEW.
  SelectStmt: 'rel',
  CreateTableAsStmt: 'rel',
  CreateStmt: 'relation',
  CreateForeignTableStmt: 'relation',
  ViewStmt: 'view',
  CreateSeqStmt: 'sequence',
  AlterSeqStmt: 'sequence',
  IndexStmt: 'relation',
  AlterTableStmt: 'relation',
  RenameStmt: 'relation',
  AlterObjectSchemaStmt: 'relation',
  RefreshMatViewStmt: 'relation',
  CreateTrigStmt: 'relation',
  RuleStmt: 'relation',
  CreatePolicyStmt: 'table',
  AlterPolicyStmt: 'table',
};

// Fields holding a bare (unwrapped) RangeVar that names a relation.
const RANGE_VAR_FIELDS: ReadonlySet<string> = new Set(['relation', 'rel', 'view', 'sequence', 'table', 'pktable', 'constrrel', 'name']);

// RangeVars that are not relations: FOR UPDATE OF names FROM items (often aliases); a composite type's name.
const NOT_RELATION_FIELDS: ReadonlySet<string> = new Set(['lockedRels', 'typevar']);

// DROP of these object types drops relations; DropStmt names them as lists of strings, not RangeVars.
const DROPPED_RELATION_TYPES: ReadonlySet<string> = new Set(['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE', 'OBJECT_SEQUENCE']);

interface Owner {
  readonly type: string;
  readonly body: Tree;
}

const ROOT: Owner = { type: '', body: {} };

/** Names of the CTEs visible at a point of the tree. */
type CteScope = ReadonlySet<string>;

const NO_CTES: CteScope = new Set();

/** Walks `value`, found under `field` of the nearest enclosing node `owner`. */
function visit(value: unknown, owner: Owner, field: string, ctes: CteScope, tables: TableRefs): void {
  if (typeof value !== 'object' || value === null || NOT_RELATION_FIELDS.has(field)) return;
  if (Array.isArray(value)) {
    for (const item of value) visit(item, owner, field, ctes, tables);
    return;
  }
  const tree = value as Tree;
  if (RANGE_VAR_FIELDS.has(field) && typeof tree.relname === 'string') {
    tables.add(tree, isWriteTarget(owner, field), ctes);
    return;
  }
  for (const key in tree) {
    const child = tree[key];
    if (!isNodeType(key)) visit(child, owner, key, ctes, tables);
    else if (key === 'RangeVar') tables.add(child as Tree, isWriteTarget(owner, field), ctes);
    else visitNode({ type: key, body: child as Tree }, ctes, tables);
  }
}

function visitNode(node: Owner, outerCtes: CteScope, tables: TableRefs): void {
  const { type, body } = node;
  if (type === 'DropStmt' && DROPPED_RELATION_TYPES.has(body.removeType as string)) {
    for (const object of body.objects as unknown[]) tables.addName(dottedName(object), 'write', 0);
  }
  const withClause = body.withClause as Tree | undefined;
  const ctes = withClause === undefined ? outerCtes : visitWith(withClause, node, outerCtes, tables);
  for (const key in body) {
    if (key !== 'withClause') visit(body[key], node, key, ctes, tables);
  }
}

/**
 * Visits the CTE bodies, each seeing the CTEs before it (all of them under WITH RECURSIVE),
 * and returns the scope of the statement the WITH belongs to.
 */
function visitWith(withClause: Tree, owner: Owner, outerCtes: CteScope, tables: TableRefs): CteScope {
  const ctes = (withClause.ctes as Tree[]).map((cte) => cte.CommonTableExpr as Tree);
  const names = ctes.map((cte) => cte.ctename as string);
  const all = new Set([...outerCtes, ...names]);
  ctes.forEach((cte, i) => {
    const visible = withClause.recursive === true ? all : new Set([...outerCtes, ...names.slice(0, i)]);
    visit(cte, owner, 'ctes', visible, tables);
  });
  return all;
}

function isNodeType(key: string): boolean {
  const first = key.charCodeAt(0);
  return first >= 65 && first <= 90;
}

function isWriteTarget(owner: Owner, field: string): boolean {
  if (WRITE_TARGET_FIELD[owner.type] !== field) return false;
  // COPY t TO reads t.
  return owner.type !== 'CopyStmt' || owner.body.is_from === true;
}

/** "a.b.c" from DropStmt's List of String items. */
function dottedName(object: unknown): string {
  const items = ((object as Tree).List as Tree | undefined)?.items as Tree[] | undefined;
  return (items ?? []).map((item) => (item.String as Tree).sval as string).join('.');
}

class TableRefs {
  private readonly refs: { name: string; role: 'read' | 'write'; location: number }[] = [];

  add(rangeVar: Tree, write: boolean, ctes: CteScope): void {
    const { catalogname, schemaname, relname } = rangeVar as { catalogname?: string; schemaname?: string; relname: string };
    // An unqualified name that a WITH in scope defines is the CTE, not a table; a CTE is never written.
    if (!write && schemaname === undefined && ctes.has(relname)) return;
    const name = [catalogname, schemaname, relname].filter((part) => part !== undefined).join('.');
    this.addName(name, write ? 'write' : 'read', (rangeVar.location as number | undefined) ?? 0);
  }

  addName(name: string, role: 'read' | 'write', location: number): void {
    this.refs.push({ name, role, location });
  }

  /** Distinct names in order of appearance in the text (the tree's field order differs). */
  names(role: 'read' | 'write'): readonly string[] {
    const ordered = this.refs.filter((ref) => ref.role === role).sort((a, b) => a.location - b.location);
    return Object.freeze([...new Set(ordered.map((ref) => ref.name))]);
  }
}
