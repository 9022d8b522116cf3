import { loadModule } from 'libpg-query';
import { beforeAll, describe, expect, it } from 'vitest';
import type { QueryInfo } from './contract.ts';
import { createWebhookArgs, createWebhookCall } from './webhooks.ts';

beforeAll(() => loadModule());

/** What the plugin reads of a statement: undefined when it is not a plain create_webhook call. */
function read(sql: string, params?: (string | null)[], formats?: number[]) {
  const call = createWebhookCall(sql);
  if (!call) return undefined;
  const q = { params: params?.map((p) => (p === null ? null : Buffer.from(p))), paramFormats: formats ?? params?.map(() => 0) } as unknown as QueryInfo;
  const { url, condition } = createWebhookArgs(call, q);
  const show = (v: unknown) => (typeof v === 'symbol' ? '?' : v);
  return { url: show(url), condition: show(condition) };
}

describe('the webhooks plugin reads create_webhook calls', () => {
  it('positional, named and mixed arguments, literals and casts', () => {
    expect(read("SELECT helios.create_webhook('a', 'http://x/y')")).toEqual({ url: 'http://x/y', condition: null });
    expect(read("select * from HELIOS.CREATE_WEBHOOK('a', 'http://x', '{t}', '{insert}', E'new.a > 1'::text)")).toEqual({ url: 'http://x', condition: 'new.a > 1' });
    expect(read("SELECT signing_secret FROM helios.create_webhook(name => 'a', condition := 'new.b', url => 'http://x')")).toEqual({ url: 'http://x', condition: 'new.b' });
    expect(read("/* app */ SELECT helios.create_webhook('a', url => 'http://x', condition => NULL)")).toEqual({ url: 'http://x', condition: null });
  });

  it('text Bind parameters; binary or computed values are unreadable', () => {
    expect(read('SELECT helios.create_webhook($1, $2, condition => $3)', ['a', 'http://x', 'new.c = 1'])).toEqual({ url: 'http://x', condition: 'new.c = 1' });
    expect(read('SELECT helios.create_webhook($1, $2, condition => $3)', ['a', 'http://x', null])).toEqual({ url: 'http://x', condition: null });
    expect(read('SELECT helios.create_webhook($1, $2)', ['a', 'http://x'], [0, 1])).toEqual({ url: '?', condition: null });
    expect(read("SELECT helios.create_webhook('a', 'http://' || 'x', condition => lower('X'))")).toEqual({ url: '?', condition: '?' });
  });

  it('leaves everything else alone', () => {
    for (const sql of [
      "SELECT 1, helios.create_webhook('a', 'http://x')",
      "SELECT create_webhook('a', 'http://x')",
      "SELECT public.create_webhook('a', 'http://x')",
      "WITH w AS (SELECT 1) SELECT helios.create_webhook('a', 'http://x')",
      "SELECT * FROM helios.create_webhook('a', 'http://x'), other",
      "SELECT helios.create_webhook('a', 'http://x') UNION SELECT 'b', 'c'",
      "SELECT helios.create_webhook('a', 'http://x'); SELECT 1",
      'SELECT helios.create_webhook(',
      "SELECT helios.list_webhooks()",
    ]) {
      expect(createWebhookCall(sql), sql).toBeNull();
    }
  });
});
