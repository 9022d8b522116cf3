import { describe, expect, it } from 'vitest';
import { canonicalJson, type LeafValue } from './leaf.ts';
import { expandStatements, MAX_STATEMENTS_PER_LEAF, StatementBatch, type StatementOutcome } from './statement-batch.ts';

const session = (id: number, applicationName = 'app') => ({ id, user: 'ann "the auditor"', database: 'shop', clientAddress: '127.0.0.1:50312', applicationName });

function outcome(s: ReturnType<typeof session>, text: string, o: Partial<StatementOutcome> & { params?: (Buffer | null)[]; paramFormats?: number[] } = {}): StatementOutcome {
  return {
    query: { session: s, kind: text.split(' ')[0]!.toUpperCase(), text, normalized: text.replace(/\d+|'[^']*'/g, '$1'), reads: ['public.orders'], writes: text.startsWith('UPDATE') ? ['public.orders'] : [], params: o.params, paramFormats: o.paramFormats },
    rows: o.rows ?? 1,
    durationSeconds: o.durationSeconds ?? 0.000123456,
    sqlstate: o.sqlstate,
    denied: o.denied,
  };
}

describe('statement leaves', () => {
  it('are RFC 8785 canonical JSON, written once per interval with sessions and shapes stated once', () => {
    const b = new StatementBatch();
    const a = session(7);
    b.add(outcome(a, "SELECT * FROM orders WHERE id = 1"));
    b.add(outcome(a, "SELECT * FROM orders WHERE id = 2", { durationSeconds: 1.5 }));
    b.add(outcome(session(9), "UPDATE orders SET note = 'x\u2028\"y' WHERE id = 3", { sqlstate: '23505', rows: 0, denied: true }));
    const json = b.seal()!;
    expect(json).toBe(canonicalJson(JSON.parse(json) as LeafValue));
    const leaf = JSON.parse(json) as { sessions: unknown[]; shapes: unknown[]; statements: { at: number[] } };
    expect([leaf.sessions.length, leaf.shapes.length, leaf.statements.at.length]).toEqual([2, 2, 3]);
    const records = expandStatements(JSON.parse(json));
    expect(records.map((r) => [r.session, r.statement, r.text, r.sqlstate, r.rows, r.ms, r.denied])).toEqual([
      [7, 'SELECT', 'SELECT * FROM orders WHERE id = $1', null, 1, 0.123, undefined],
      [7, 'SELECT', 'SELECT * FROM orders WHERE id = $1', null, 1, 1500, undefined],
      [9, 'UPDATE', 'UPDATE orders SET note = $1 WHERE id = $1', '23505', 0, 0.123, true],
    ]);
    expect(records[2]).toMatchObject({ user: 'ann "the auditor"', database: 'shop', client: '127.0.0.1:50312', application: 'app', tables: ['public.orders'] });
    expect(records[0]!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(b.seal()).toBeNull();
  });

  it('start a new session entry when the session changes its application_name', () => {
    const b = new StatementBatch();
    b.add(outcome(session(1, 'before'), 'SELECT 1'));
    b.add(outcome(session(1, 'after'), 'SELECT 1'));
    expect(expandStatements(JSON.parse(b.seal()!)).map((r) => [r.session, r.application])).toEqual([[1, 'before'], [1, 'after']]);
  });

  it('carry the text as sent and the Bind parameters only when full text is on', () => {
    const params = [Buffer.from('4111 1111'), null, Buffer.from([0xde, 0xad])];
    const normalized = new StatementBatch();
    normalized.add(outcome(session(1), "SELECT 4111", { params, paramFormats: [0, 0, 1] }));
    const [n] = expandStatements(JSON.parse(normalized.seal()!));
    expect(n!.text).toBe('SELECT $1');
    expect(n!.params).toBeUndefined();
    const full = new StatementBatch(true);
    full.add(outcome(session(1), "SELECT 4111", { params, paramFormats: [0, 0, 1] }));
    const json = full.seal()!;
    expect(json).toBe(canonicalJson(JSON.parse(json) as LeafValue));
    const [f] = expandStatements(JSON.parse(json));
    expect(f!.text).toBe('SELECT 4111');
    expect(f!.params).toEqual(['4111 1111', null, '\\xdead']);
  });

  it('say when they are full', () => {
    const b = new StatementBatch();
    for (let i = 0; i < MAX_STATEMENTS_PER_LEAF - 1; i++) b.add(outcome(session(1), 'SELECT 1'));
    expect(b.full).toBe(false);
    b.add(outcome(session(1), 'SELECT 1'));
    expect(b.full).toBe(true);
    expect(expandStatements(JSON.parse(b.seal()!))).toHaveLength(MAX_STATEMENTS_PER_LEAF);
    expect(b.full).toBe(false);
  });
});
