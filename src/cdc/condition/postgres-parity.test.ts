// The same conditions evaluated by PostgreSQL and by the compiler, on one row of typed columns.
// PostgreSQL sees the columns with their types; the compiler sees the row as change events carry
// it (the text PostgreSQL prints, decoded as src/cdc/values.ts does), so this also checks that
// reading types from values gives PostgreSQL's answers where the module says it does.
// Text columns are COLLATE "C", the only collation the compiler implements.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgConfig } from '../../../test/harness/pg.ts';
import { compileConditionSync, ConditionError, ensureParser } from './index.ts';

const NEW_ROW = `
  'paid'::text COLLATE "C" AS status, 12.50::numeric AS amount, 7::int AS n, 2.5::float8 AS f,
  true AS flag, NULL::text AS missing, 'Hello World'::text COLLATE "C" AS s,
  '{"status": "paid", "total": 12.5, "items": [{"sku": "a", "n": 1}, {"sku": "b", "n": 2}],
    "tags": ["x", "y"], "none": null, "flags": {"vip": true}}'::jsonb AS p,
  '2026-01-02 03:04:05.123+00'::timestamptz AS ts, '2026-01-02'::date AS d,
  '{a,b,"c d"}'::text[] AS tags, 9223372036854775807::int8 AS big, 'NaN'::float8 AS nan`;
const OLD_ROW = `'pending'::text COLLATE "C" AS status, 10::numeric AS amount, 7::int AS n`;

const CONDITIONS = [
  // logic and NULL
  "new.status = 'paid'",
  'new.status <> old.status',
  'new.status IS DISTINCT FROM old.status',
  'new.n IS NOT DISTINCT FROM old.n',
  'new.missing IS DISTINCT FROM NULL',
  'new.missing IS NULL',
  "new.missing = 'x'",
  "NOT (new.missing = 'x')",
  "new.missing = 'x' OR new.flag",
  "new.missing = 'x' AND new.flag",
  "new.missing = 'x' AND NOT new.flag",
  'new.flag IS TRUE',
  'new.missing::boolean IS UNKNOWN',
  "(new.missing = 'x') IS NOT FALSE",
  "new.flag = 't'",
  // numbers
  'new.amount > 10',
  'new.amount = 12.5',
  "new.n = '7'",
  'new.amount > old.amount',
  'new.amount + 0.1 = 12.6',
  "(new.amount * 3)::text = '37.50'",
  "(new.amount + 1)::text = '13.50'",
  'new.n / 2 = 3',
  'new.n % 4 = 3',
  'new.n::numeric / 2 = 3.5',
  'new.f / 2 = 1.25',
  'new.big = 9223372036854775807',
  'new.big > 9223372036854775806',
  'new.nan > 1e300',
  "new.nan = 'NaN'::float8",
  '0.1 + 0.2 = 0.3',
  '7 / 2 = 3',
  '-7 % 3 = -1',
  '2 ^ 10 = 1024',
  'round(2.5) = 3',
  'round(-2.5) = -3',
  'round(1.005, 2) = 1.01',
  'round(new.f) = 2',
  'round(new.amount) = 13',
  "round(new.amount, 1)::text = '12.5'",
  'trunc(new.amount) = 12',
  'floor(-new.amount) = -13',
  'ceil(new.amount) = 13',
  'abs(-new.n) = 7',
  'mod(new.n, 3) = 1',
  'sign(-new.amount) = -1',
  'sqrt(new.n::float8) > 2.6',
  'power(new.n, 2) = 49',
  'new.amount::int = 13',
  'new.f::int = 2',
  "new.n::text = '7'",
  'new.amount::numeric(5,1) = 12.5',
  'new.n / 0 = 1',
  "'12.5'::int = 1",
  // IN, BETWEEN, CASE and friends
  'new.n IN (1, 7, NULL)',
  'new.n IN (1, 2, NULL)',
  'new.n NOT IN (1, 2, NULL)',
  'new.n NOT IN (1, 2)',
  "new.n IN ('7', '8')",
  'new.amount IN (12.5, 13)',
  "new.status IN ('a', 'paid')",
  'new.n BETWEEN 1 AND 7',
  'new.n NOT BETWEEN 8 AND 10',
  'new.n BETWEEN SYMMETRIC 10 AND 1',
  'new.n BETWEEN NULL AND 10',
  'new.n BETWEEN 8 AND NULL',
  'greatest(new.n, 3, NULL) = 7',
  'least(new.amount, 100) = 12.5',
  'coalesce(new.missing, new.status) = \'paid\'',
  'nullif(new.n, 7) IS NULL',
  "CASE WHEN new.n > 5 THEN 'big' ELSE 'small' END = 'big'",
  "CASE new.status WHEN 'pending' THEN 1 WHEN 'paid' THEN 2 END = 2",
  "CASE WHEN new.missing = 'x' THEN true ELSE false END",
  // text
  "new.status LIKE 'pa%'",
  "new.status LIKE 'p_id'",
  "new.status NOT LIKE '%x%'",
  "new.status ILIKE 'PA%'",
  "s LIKE 'Hello%World'",
  "new.s LIKE 'Hello\\_World'",
  "new.s LIKE 'H%!%' ESCAPE '!'",
  "'a_c' LIKE 'a\\_c'",
  "lower(new.s) = 'hello world'",
  "upper(new.status) = 'PAID'",
  'length(new.s) = 11',
  "substr(new.s, 1, 5) = 'Hello'",
  "substring(new.s from 7) = 'World'",
  "substring(new.s, 0, 3) = 'He'",
  "left(new.s, -6) = 'Hello'",
  "right(new.s, 5) = 'World'",
  "position('World' in new.s) = 7",
  "strpos(new.s, 'o') = 5",
  "replace(new.s, 'o', '0') = 'Hell0 W0rld'",
  "trim(both 'H' from new.s) = 'ello World'",
  "btrim('  x  ') = 'x'",
  "split_part(new.s, ' ', 2) = 'World'",
  "split_part(new.s, ' ', -1) = 'World'",
  "starts_with(new.s, 'Hell')",
  "concat(new.status, NULL, new.n) = 'paid7'",
  "concat_ws('-', new.status, new.missing, new.n) = 'paid-7'",
  "new.status || '!' = 'paid!'",
  "new.missing || '!' IS NULL",
  "new.s < 'Hello Worlds'",
  "new.s > 'Hello'",
  "new.s < 'hello'",
  "new.status::int = 1",
  // json
  "new.p->>'status' = 'paid'",
  "new.p->'status' = '\"paid\"'",
  "new.p->'total' = '12.50'",
  "new.p->'none' IS NULL",
  "new.p->>'none' IS NULL",
  "new.p->'nope' IS NULL",
  "new.p->'items'->1->>'sku' = 'b'",
  "new.p->'items'->-1->>'sku' = 'b'",
  "new.p #>> '{items,0,sku}' = 'a'",
  "new.p #> '{flags,vip}' = 'true'",
  "new.p ? 'status'",
  "new.p ?| array['nope', 'tags']",
  "new.p ?& array['status', 'nope']",
  'new.p @> \'{"flags": {"vip": true}}\'',
  'new.p @> \'{"items": [{"sku": "b"}]}\'',
  '\'{"status": "paid"}\' <@ new.p',
  "new.p->'tags' @> '\"x\"'",
  "(new.p->>'total')::numeric > 12",
  "(new.p->'total')::numeric = 12.5",
  "jsonb_typeof(new.p->'tags') = 'array'",
  "jsonb_array_length(new.p->'items') = 2",
  'new.p->\'flags\' || \'{"x": 1}\' = \'{"vip": true, "x": 1}\'',
  'new.p->>\'flags\' = \'{"vip": true}\'',
  "new.p->>'tags' = '[\"x\", \"y\"]'",
  "new.p->'flags' > new.p->'tags'",
  "(new.p->>'status')::int = 1",
  "jsonb_array_length(new.p) = 1",
  // time and arrays
  "new.ts::timestamptz > '2026-01-02T03:04:05Z'",
  "new.ts::timestamptz < '2026-01-02 05:04:06+02'",
  "new.ts::date = '2026-01-02'",
  "new.ts::timestamptz::text = '2026-01-02 03:04:05.123+00'",
  "new.ts::timestamptz(0)::text = '2026-01-02 03:04:05+00'",
  "new.d::date < '2026-01-03'",
  "new.d::timestamp = '2026-01-02 00:00:00'",
  "new.tags @> '{a}'",
  "new.tags @> ARRAY['c d']",
  "new.tags && ARRAY['z', 'b']",
  "new.tags <@ '{a,b,c d,e}'",
];

// Where the compiler knowingly answers otherwise, because it cannot know a column's type (see
// index.ts): [condition, PostgreSQL's answer, the compiler's answer].
const DIFFERENCES: ReadonlyArray<[string, Outcome, Outcome]> = [
  // A string literal compared with a numeric column is a numeric there; with a string, text here.
  ["new.amount = '12.5'", true, false],
  // Likewise a timestamptz column: PostgreSQL compares instants, the compiler the printed text.
  ["new.ts = '2026-01-02T03:04:05.123Z'", true, false],
  // Functions of text accept any value here, converting it as ::text would.
  ['lower(new.n) = \'7\'', 'error', true],
];

type Outcome = boolean | null | 'error';

let client: pg.Client;
let row: { new: Record<string, unknown>; old: Record<string, unknown> };

/** A column value as change events carry it (src/cdc/values.ts): text as printed, a few types converted. */
function decode(text: string | null, typeOid: number): unknown {
  if (text === null) return null;
  switch (typeOid) {
    case 16: return text === 't';
    case 21: case 23: case 26: return Number(text);
    case 20: return Number.isSafeInteger(Number(text)) ? Number(text) : text;
    case 700: case 701: return Number.isFinite(Number(text)) ? Number(text) : text;
    case 114: case 3802: return JSON.parse(text);
    default: return text;
  }
}

async function decodedRow(select: string): Promise<Record<string, unknown>> {
  const result = await client.query({ text: `SELECT ${select}`, types: { getTypeParser: () => (v: string) => v } });
  return Object.fromEntries(result.fields.map((f) => [f.name, decode(result.rows[0][f.name] as string | null, f.dataTypeID)]));
}

async function postgres(condition: string): Promise<Outcome> {
  try {
    const result = await client.query(`SELECT (${condition}) AS r FROM (SELECT ${NEW_ROW}) AS new, (SELECT ${OLD_ROW}) AS old`);
    return result.rows[0].r as boolean | null;
  } catch {
    return 'error';
  }
}

function compiled(condition: string): Outcome {
  try {
    return compileConditionSync(condition).evaluate(row);
  } catch (err) {
    if (err instanceof ConditionError) return 'error';
    throw err;
  }
}

beforeAll(async () => {
  await ensureParser();
  client = new pg.Client(pgConfig());
  await client.connect();
  await client.query("SET TimeZone = 'UTC'");
  row = { new: await decodedRow(NEW_ROW), old: await decodedRow(OLD_ROW) };
});

afterAll(async () => {
  await client?.end();
});

describe('agrees with PostgreSQL', () => {
  it('on the decoded row', async () => {
    expect(await postgres("new.status = 'paid' AND old.status = 'pending'")).toBe(true);
    expect(await postgres('new.n / 0 = 1')).toBe('error');
    expect(row.new).toMatchObject({ status: 'paid', amount: '12.50', n: 7, f: 2.5, flag: true, missing: null, big: '9223372036854775807' });
  });

  for (const [condition, theirs, ours] of DIFFERENCES) {
    it(`except, as documented: ${condition}`, async () => {
      expect(await postgres(condition)).toBe(theirs);
      expect(compiled(condition)).toBe(ours);
    });
  }

  for (const condition of CONDITIONS) {
    it(condition, async () => {
      expect(compiled(condition)).toBe(await postgres(condition));
    });
  }
});
