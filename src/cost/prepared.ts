// SQL-level prepared statements (PREPARE name AS ..., EXECUTE name(...)): a session's EXECUTE
// is priced as the statement it names, so a loop of EXECUTEs is estimated, charged and limited
// like the statement itself.
import { parseSync } from 'libpg-query';
import type { SessionInfo } from '../../plugins/contract.ts';
import { analyzeParsed } from '../../proxy/analyzer/analyze.ts';
import { stripComments } from '../../proxy/analyzer/comments.ts';

export interface PreparedStatement {
  name: string;
  /** The whole PREPARE statement, to re-run on HeliosDB's connection for EXPLAIN EXECUTE. */
  text: string;
  kind: string;
  fingerprint: string;
  normalized: string;
}

const NAME = String.raw`("(?:[^"]|"")+"|[A-Za-z_\u0080-\uffff][\w$\u0080-\uffff]*)`;
const PREPARE = new RegExp(String.raw`^\s*PREPARE\s+${NAME}\s*(?:\([^)]*\))?\s*AS\s+([\s\S]+?)[\s;]*$`, 'i');
const NAMED = (verb: string) => new RegExp(String.raw`^\s*${verb}\s+(?:PREPARE\s+)?${NAME}`, 'i');
const EXECUTE = NAMED('EXECUTE');
const DEALLOCATE = NAMED('DEALLOCATE');

function identifier(raw: string): string {
  return raw.startsWith('"') ? raw.slice(1, -1).replace(/""/g, '"') : raw.toLowerCase();
}

export function stripLeadingComments(text: string): string {
  return stripComments(text).trim().replace(/;+\s*$/, '');
}

/** The statement name an EXECUTE or DEALLOCATE refers to; null for DEALLOCATE ALL or no match. */
export function preparedName(text: string, verb: 'EXECUTE' | 'DEALLOCATE'): string | null {
  const m = (verb === 'EXECUTE' ? EXECUTE : DEALLOCATE).exec(stripComments(text));
  if (!m) return null;
  const name = identifier(m[1]!);
  return verb === 'DEALLOCATE' && name === 'all' && !m[1]!.startsWith('"') ? null : name;
}

export function parsePrepare(text: string): PreparedStatement | undefined {
  const clean = stripLeadingComments(text);
  const m = PREPARE.exec(clean);
  if (!m) return undefined;
  const inner = m[2]!;
  try {
    const stmt = parseSync(inner).stmts?.[0]?.stmt;
    if (!stmt) return undefined;
    const a = analyzeParsed(stmt, inner);
    return { name: identifier(m[1]!), text: clean, kind: a.kind, fingerprint: a.fingerprint, normalized: a.normalized };
  } catch {
    return undefined;
  }
}

export function sessionPrepared(session: SessionInfo): Map<string, PreparedStatement> {
  let m = session.state.get('cost.prepared') as Map<string, PreparedStatement> | undefined;
  if (!m) session.state.set('cost.prepared', (m = new Map()));
  return m;
}
