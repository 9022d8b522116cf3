// Parsing a condition with the real PostgreSQL grammar (libpg-query): the text is parsed as the
// WHERE clause of `SELECT 1 WHERE <condition>`, and the statement must have nothing else, so the
// condition is exactly one expression. Also maps parse tree locations back to the condition's
// text for error messages.
//
// The parse tree JSON wraps a node as { TypeName: body } (see proxy/analyzer/analyze.ts) and
// leaves out fields holding a zero, false or empty value. Its `location`s are byte offsets into
// the UTF-8 statement; the error cursor of a syntax error counts characters instead.

import { loadModule, parseSync, scanSync, type ScanToken } from 'libpg-query';
import { ConditionError, quote } from './errors.ts';

export type Tree = { readonly [key: string]: unknown };

const PREFIX = 'SELECT 1 WHERE ';
const PREFIX_BYTES = Buffer.byteLength(PREFIX);

/** Longer conditions are refused: a webhook filter is a few comparisons, not a program. */
export const MAX_CONDITION_LENGTH = 16 * 1024;

let loading: Promise<void> | undefined;
let loaded = false;

/** Loads libpg-query's WASM module once; compileConditionSync needs it done. */
export function ensureParser(): Promise<void> {
  loading ??= loadModule().then(() => {
    loaded = true;
  });
  return loading;
}

/** The condition's text, and where things are in it. */
export class Source {
  private bytes: Buffer | undefined;
  private tokens: ScanToken[] | undefined;

  constructor(readonly text: string) {}

  get sql(): string {
    return PREFIX + this.text;
  }

  /** 1-based character position in the condition of a byte offset into the statement. */
  positionOfByte(offset: number): number | undefined {
    if (offset < PREFIX_BYTES) return undefined;
    return this.utf8().subarray(PREFIX_BYTES, offset).toString('utf8').length + 1;
  }

  /** An error about `node`, at its position, quoting its text unless the message already does. */
  error(message: string, node?: unknown, quoteFragment = false): ConditionError {
    const span = node === undefined ? undefined : this.span(node);
    if (!span) return new ConditionError(message);
    const fragment = quoteFragment ? `: ${quote(this.utf8().subarray(span[0], span[1]).toString('utf8'), 80)}` : '';
    return new ConditionError(`${message}${fragment}`, this.positionOfByte(span[0]));
  }

  /** The text of `node` (best effort: from its first to its last located token, brackets closed). */
  fragment(node: unknown): string {
    const span = this.span(node);
    return span ? this.utf8().subarray(span[0], span[1]).toString('utf8') : '';
  }

  private utf8(): Buffer {
    return (this.bytes ??= Buffer.from(this.sql, 'utf8'));
  }

  private span(node: unknown): [number, number] | undefined {
    const [first, last] = locations(node);
    if (first < 0) return undefined;
    const tokens = this.scan();
    const from = tokens.findIndex((t) => t.end > first);
    if (from < 0) return [first, first];
    let to = from;
    while (to + 1 < tokens.length && tokens[to + 1].start <= last) to++;
    // A node's location is where it starts; close the brackets and CASEs its last located token
    // leaves open (the ")" of a call, the END of a CASE), as the node's text includes them.
    let depth = 0;
    for (let i = from; i <= to; i++) depth += nesting(tokens[i]);
    while (depth > 0 && to + 1 < tokens.length) depth += nesting(tokens[++to]);
    return [tokens[from].start, tokens[to].end];
  }

  private scan(): ScanToken[] {
    if (!this.tokens) {
      try {
        this.tokens = scanSync(this.sql).tokens.filter((t) => t.tokenName !== 'C_COMMENT' && t.tokenName !== 'SQL_COMMENT');
      } catch {
        this.tokens = [];
      }
    }
    return this.tokens;
  }
}

function nesting(token: ScanToken): number {
  switch (token.text.toUpperCase()) {
    case '(':
    case '[':
    case 'CASE':
      return 1;
    case ')':
    case ']':
    case 'END':
      return -1;
    default:
      return 0;
  }
}

/** The smallest and largest `location` in a parse tree (iterative: trees can be deep). */
function locations(node: unknown): [number, number] {
  let first = -1;
  let last = -1;
  const stack: unknown[] = [node];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value !== 'object' || value === null) continue;
    for (const [key, child] of Object.entries(value)) {
      if (key === 'location' && typeof child === 'number' && child >= 0) {
        if (first < 0 || child < first) first = child;
        if (child > last) last = child;
      } else if (typeof child === 'object' && child !== null) {
        stack.push(child);
      }
    }
  }
  return [first, last];
}

/** The WHERE expression of the condition's statement; throws ConditionError. */
export function parseCondition(source: Source): Tree {
  const text = source.text;
  if (text.trim() === '') throw new ConditionError('the condition is empty');
  if (text.length > MAX_CONDITION_LENGTH) {
    throw new ConditionError(`the condition is too long (${text.length} characters; at most ${MAX_CONDITION_LENGTH})`);
  }
  // The parser reads a C string: it would silently stop at a NUL and ignore the rest.
  const nul = text.indexOf('\0');
  if (nul >= 0) throw new ConditionError('the condition contains a NUL character', nul + 1);
  if (!loaded) {
    // Another module may have loaded libpg-query already; parseSync tells.
    try {
      parseSync('SELECT 1');
      loaded = true;
    } catch {
      throw new Error('libpg-query is not loaded: await ensureParser() before compileConditionSync()');
    }
  }
  let result: { stmts?: Array<{ stmt?: Tree; stmt_len?: number }> };
  try {
    result = parseSync(source.sql) as typeof result;
  } catch (err) {
    throw syntaxError(err, text);
  }
  const stmts = result.stmts ?? [];
  const select = stmts[0]?.stmt?.SelectStmt as Tree | undefined;
  if (stmts.length > 1) {
    throw new ConditionError('a condition is a single expression: found more than one statement', separatorPosition(source));
  }
  const extra = select && Object.keys(select).filter((k) => !EXPECTED_SELECT.has(k) || (k in EXPECTED_SELECT_VALUES && select[k] !== EXPECTED_SELECT_VALUES[k]));
  if (!select || !select.whereClause || extra === undefined || extra.length > 0) {
    throw new ConditionError(
      'a condition is a single expression: clauses such as ORDER BY, GROUP BY, LIMIT or UNION are not allowed',
      clausePosition(source),
    );
  }
  return select.whereClause as Tree;
}

const EXPECTED_SELECT = new Set(['targetList', 'whereClause', 'limitOption', 'op']);
const EXPECTED_SELECT_VALUES: Readonly<Record<string, unknown>> = { limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' };

function syntaxError(err: unknown, text: string): ConditionError {
  if (err instanceof RangeError) return new ConditionError('the condition is nested too deeply');
  const details = (err as { sqlDetails?: { message?: string; cursorPosition?: number } }).sqlDetails;
  const message = details?.message ?? (err instanceof Error ? err.message : String(err));
  // PostgreSQL's parser stack overflows as "memory exhausted" on deep nesting.
  if (/memory exhausted|stack depth/i.test(message)) return new ConditionError('the condition is nested too deeply');
  const cursor = details?.cursorPosition;
  const position = cursor === undefined ? undefined : Math.min(Math.max(cursor - PREFIX.length + 1, 1), text.length + 1);
  return new ConditionError(message.replace(/at end of input$/, 'at end of condition'), position);
}

// Where a shape violation starts, for the message: the first ";" or clause keyword outside brackets.
const CLAUSE_KEYWORDS = new Set(['ORDER', 'GROUP', 'HAVING', 'LIMIT', 'OFFSET', 'FETCH', 'UNION', 'INTERSECT', 'EXCEPT', 'WINDOW', 'FOR', 'INTO', 'FROM']);

function separatorPosition(source: Source): number | undefined {
  return tokenPosition(source, (t) => t.text === ';');
}

function clausePosition(source: Source): number | undefined {
  let previous = '';
  return tokenPosition(source, (t) => {
    const word = t.text.toUpperCase();
    const hit = CLAUSE_KEYWORDS.has(word) && !(word === 'FROM' && previous === 'DISTINCT');
    previous = word;
    return hit;
  });
}

function tokenPosition(source: Source, test: (t: ScanToken) => boolean): number | undefined {
  let tokens: ScanToken[];
  try {
    tokens = scanSync(source.sql).tokens;
  } catch {
    return undefined;
  }
  let depth = 0;
  for (const t of tokens) {
    if (t.start < PREFIX_BYTES) continue;
    if (t.text === '(' || t.text === '[') depth++;
    else if (t.text === ')' || t.text === ']') depth--;
    else if (depth === 0 && test(t)) return source.positionOfByte(t.start);
  }
  return undefined;
}
