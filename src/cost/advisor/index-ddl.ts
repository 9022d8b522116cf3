// The CREATE INDEX statements the advisor emits: identifiers quoted only where PostgreSQL needs
// it, and a deterministic index name in PostgreSQL's own style (table_col1_col2_idx), shortened
// with a hash of the full definition when it would pass the 63-byte identifier limit or clash
// with an existing relation.
import { createHash } from 'node:crypto';
import { parseSync } from 'libpg-query';

const MAX_IDENTIFIER_BYTES = 63;
const PLAIN = /^[a-z_][a-z0-9_]*$/;

/**
 * `name` as an SQL identifier. A lowercase name is left bare when the real grammar accepts it
 * bare as an index, table and column name (so keywords like `user` or `order` get quotes,
 * while `time` or `name` need none); anything else is double-quoted, with `"` doubled.
 * Needs libpg-query's module loaded (loadModule).
 */
export function quoteIdent(name: string): string {
  if (PLAIN.test(name) && parsesBare(name)) return name;
  return `"${name.replace(/"/g, '""')}"`;
}

function parsesBare(name: string): boolean {
  try {
    parseSync(`CREATE INDEX ${name} ON ${name}.${name} (${name})`);
    return true;
  } catch {
    return false;
  }
}

export interface IndexDefinition {
  schema: string;
  table: string;
  columns: readonly string[];
}

/** Cuts a string to at most `bytes` UTF-8 bytes without splitting a character. */
function truncateBytes(s: string, bytes: number): string {
  let out = '';
  for (const ch of s) {
    if (Buffer.byteLength(out + ch) > bytes) break;
    out += ch;
  }
  return out;
}

/** table_col1_col2_idx; with an 8-hex hash of the definition when too long or when `taken` has the plain name. */
export function indexName(def: IndexDefinition, taken: ReadonlySet<string> = new Set()): string {
  const plain = `${def.table}_${def.columns.join('_')}_idx`;
  if (Buffer.byteLength(plain) <= MAX_IDENTIFIER_BYTES && !taken.has(plain)) return plain;
  const hash = createHash('sha1').update(`${def.schema}.${def.table}(${def.columns.join(',')})`).digest('hex').slice(0, 8);
  return `${truncateBytes(`${def.table}_${def.columns.join('_')}`, MAX_IDENTIFIER_BYTES - 1 - hash.length - 4)}_${hash}_idx`;
}

/** CREATE INDEX [CONCURRENTLY] name ON schema.table (cols): a B-tree, the default access method. */
export function createIndexSql(def: IndexDefinition, name: string, concurrently = true): string {
  const cols = def.columns.map(quoteIdent).join(', ');
  return `CREATE INDEX${concurrently ? ' CONCURRENTLY' : ''} ${quoteIdent(name)} ON ${quoteIdent(def.schema)}.${quoteIdent(def.table)} (${cols})`;
}
