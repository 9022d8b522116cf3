import { beforeAll, describe, expect, it } from 'vitest';
import { UNCHANGED_TOAST, type ChangeEvent } from '../event.ts';
import { compileCondition, compileConditionSync, ensureParser } from './index.ts';

beforeAll(() => ensureParser());

function event(over: Partial<ChangeEvent>): ChangeEvent {
  return {
    id: '0/16B3748:0',
    lsn: '0/16B3748',
    table: 'public.orders',
    op: 'update',
    new: null,
    old: null,
    key: {},
    unchanged: [],
    commitTime: '2026-01-02T03:04:05.000Z',
    xid: 1,
    index: 0,
    count: 1,
    ...over,
  };
}

describe('compiled conditions', () => {
  it('compile once and evaluate per change event', async () => {
    const c = await compileCondition("new.status = 'paid' AND old.status IS DISTINCT FROM 'paid' AND new.amount > 100");
    expect(c.source).toBe("new.status = 'paid' AND old.status IS DISTINCT FROM 'paid' AND new.amount > 100");
    expect(c.columns).toEqual(['new.status', 'old.status', 'new.amount']);
    expect(Object.isFrozen(c) && Object.isFrozen(c.columns)).toBe(true);

    expect(c.matches(event({ new: { status: 'paid', amount: '250.00' }, old: { status: 'pending' } }))).toBe(true);
    // Without REPLICA IDENTITY FULL the old row holds only the key: old.status is NULL, which IS DISTINCT FROM 'paid'.
    expect(c.matches(event({ new: { status: 'paid', amount: '250.00' }, old: { id: 1 } }))).toBe(true);
    expect(c.matches(event({ new: { status: 'paid', amount: '250.00' }, old: { status: 'paid' } }))).toBe(false);
    expect(c.matches(event({ new: { status: 'paid', amount: '99.99' }, old: null }))).toBe(false);
    expect(c.matches(event({ op: 'delete', new: null, old: { status: 'paid' } }))).toBe(false);
  });

  it('take the event as it is, unchanged TOASTed values included', () => {
    const c = compileConditionSync("new.body LIKE '%urgent%' OR new.priority > 5");
    const e = event({ new: { body: UNCHANGED_TOAST, priority: 1 }, unchanged: ['body'] });
    expect(c.evaluate(e)).toBe(null);
    expect(c.matches(e)).toBe(false);
    expect(c.matches(event({ new: { body: UNCHANGED_TOAST, priority: 9 }, unchanged: ['body'] }))).toBe(true);
    expect(compileConditionSync('new.body IS NOT NULL').matches(e)).toBe(true);
  });

  it('compileConditionSync works once the parser is loaded, and both give the same result', async () => {
    const row = { new: { a: 1 }, old: null };
    expect(compileConditionSync('new.a = 1').matches(row)).toBe((await compileCondition('new.a = 1')).matches(row));
  });

  it('evaluate tells true, false and unknown apart; matches only true', () => {
    const c = compileConditionSync('new.a > 1');
    expect(c.evaluate({ new: { a: 2 }, old: null })).toBe(true);
    expect(c.evaluate({ new: { a: 0 }, old: null })).toBe(false);
    expect(c.evaluate({ new: {}, old: null })).toBe(null);
    expect(c.matches({ new: {}, old: null })).toBe(false);
  });

  it('keep no state between rows that would change answers', () => {
    const c = compileConditionSync("new.s LIKE new.p AND new.t @> '{a}' AND new.j @> '{\"k\": 1}'");
    const rows = [
      { new: { s: 'abc', p: 'a%', t: '{a,b}', j: { k: 1 } }, old: null },
      { new: { s: 'abc', p: 'b%', t: '{a,b}', j: { k: 1 } }, old: null },
      { new: { s: 'abc', p: 'a%', t: '{b}', j: { k: 1 } }, old: null },
      { new: { s: 'abc', p: 'a%', t: '{a}', j: { k: 2 } }, old: null },
    ];
    for (let round = 0; round < 2; round++) {
      expect(rows.map((r) => c.matches(r))).toEqual([true, false, false, false]);
    }
  });
});
