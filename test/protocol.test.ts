// Protocol fidelity through the proxy: every message flow a client can start comes back as the
// server produced it, both as a plain byte pipe (plugins none) and with hooks tracking requests
// (plugins all).
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decisions, type Plugin, type QueryInfo, type ResultInfo } from '../plugins/contract.ts';
import { useFreshDatabase } from './harness/db.ts';
import { testPg } from './harness/pg.ts';
import { startTestProxy, type TestProxy } from './support/proxy.ts';
import {
  RawClient, commandTag, dataRowText, dataRowValues, fields, int32, msg, types, type Frame, type RawConnectOptions,
} from './support/raw-client.ts';

const fx = useFreshDatabase('protocol');

/** Polls `check` until it returns true, at most `tries` times `intervalMs` apart. */
async function eventually(check: () => Promise<boolean>, tries = 100, intervalMs = 50): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return false;
}

/** Records every result the hooks report, so tests can check statements were attributed right. */
function resultRecorder(): Plugin & { results: ResultInfo[] } {
  const results: ResultInfo[] = [];
  return { name: 'test-result-recorder', results, onResult: (r) => void results.push(r) };
}

describe.each(['none', 'all'] as const)('through the proxy with plugins %s', (mode) => {
  let proxy: TestProxy;
  const recorder = resultRecorder();
  const cleanups: (() => Promise<unknown>)[] = [];
  /** Table names unique to this mode, since both modes share the file's database. */
  const table = (name: string) => `${name}_${mode}`;

  beforeAll(async () => {
    proxy = await startTestProxy({ plugins: mode, extraPlugins: mode === 'all' ? [recorder] : [] });
  });

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await proxy?.close();
  });

  async function pgClient(extra: pg.ClientConfig = {}): Promise<pg.Client> {
    const c = new pg.Client({ ...proxy.connection, database: fx.db.name, ...extra });
    await c.connect();
    cleanups.push(() => c.end());
    return c;
  }

  function sqlClient(extra: postgres.Options<Record<string, postgres.PostgresType>> = {}): postgres.Sql {
    const sql = postgres({ ...proxy.connection, database: fx.db.name, max: 1, onnotice: () => {}, ...extra });
    cleanups.push(() => sql.end({ timeout: 5 }));
    return sql;
  }

  async function raw(extra: Partial<RawConnectOptions> = {}) {
    const r = await RawClient.connect({
      host: proxy.connection.host,
      port: proxy.connection.port,
      user: testPg.user,
      password: testPg.password,
      database: fx.db.name,
      ...extra,
    });
    cleanups.push(async () => r.client.destroy());
    return r;
  }

  /** Results the hooks reported for statements whose text contains `marker`. */
  const recorded = (marker: string) => recorder.results.filter((r) => r.query.text.includes(marker));

  describe('simple query protocol', () => {
    it('returns each result set of a multi-statement Query string, in order', async () => {
      const { client } = await raw();
      const frames = await client.simpleQuery("select 1 as a /*multi*/; select 'x' as b, 2 as c /*multi*/; select generate_series(1, 3) as g /*multi*/");
      // RowDescription, DataRow..., CommandComplete per statement; one ReadyForQuery at the end.
      expect(types(frames)).toBe('TDCTDCTDDDCZ');
      expect(frames.filter((f) => f.type === 'D').map((f) => dataRowText(f.body))).toEqual([['1'], ['x', '2'], ['1'], ['2'], ['3']]);
      expect(frames.filter((f) => f.type === 'C').map((f) => commandTag(f.body))).toEqual(['SELECT 1', 'SELECT 1', 'SELECT 3']);
      expect(frames.at(-1)!.body.toString()).toBe('I');
      if (mode === 'all') {
        const r = recorded('/*multi*/');
        expect(r.map((x) => [x.query.index, x.commandTag, x.rows])).toEqual([[0, 'SELECT 1', 1], [1, 'SELECT 1', 1], [2, 'SELECT 3', 3]]);
      }
    });

    it('answers empty queries with EmptyQueryResponse', async () => {
      const { client } = await raw();
      for (const sql of ['', '   ', ';', ' ; ; ', '-- only a comment', '/* only a comment */']) {
        expect(types(await client.simpleQuery(sql)), JSON.stringify(sql)).toBe('IZ');
      }
      // An empty statement in the extended protocol: Execute answers EmptyQueryResponse.
      client.send(msg.parse('', ''), msg.bind('', ''), msg.describe('P', ''), msg.execute(), msg.sync());
      expect(types(await client.readyForQuery())).toBe('12nIZ');
      expect(await client.rows('select 42')).toEqual([['42']]);
    });

    it('stops at the first failing statement and rolls back the implicit transaction', async () => {
      const t = table('midstring');
      await fx.client.query(`create table ${t} (n int); create sequence ${t}_seq`);
      const { client } = await raw();
      const frames = await client.simpleQuery(
        `insert into ${t} values (1); select nextval('${t}_seq'); select 1/0; select nextval('${t}_seq'); insert into ${t} values (2)`,
      );
      // The statements before the failing one complete, the failing one errors, the rest never run.
      expect(types(frames)).toBe('CTDCEZ');
      expect(commandTag(frames[0]!.body)).toBe('INSERT 0 1');
      expect(fields(frames[4]!.body).get('C')).toBe('22012');
      expect(frames[5]!.body.toString()).toBe('I');
      // Sequences are not transactional: one nextval ran, the second did not.
      expect((await fx.client.query(`select last_value::int as v from ${t}_seq`)).rows[0].v).toBe(1);
      // A multi-statement Query string is one implicit transaction: the first insert is undone too.
      expect((await fx.client.query(`select count(*)::int as n from ${t}`)).rows[0].n).toBe(0);
      expect(await client.rows('select 7')).toEqual([['7']]);
      if (mode === 'all') {
        const r = recorded(`into ${t} values`).concat(recorder.results.filter((x) => x.query.text === 'select 1/0'));
        expect(r.map((x) => [x.query.text, x.commandTag, x.sqlstate])).toEqual(
          expect.arrayContaining([[`insert into ${t} values (1)`, 'INSERT 0 1', undefined], ['select 1/0', '', '22012']]),
        );
        expect(recorded(`into ${t} values (2)`)).toEqual([]);
      }
    });

    it('answers SHOW helios.* inside a multi-statement Query string only when plugins are on', async () => {
      const { client } = await raw();
      const answered = await client.simpleQuery('select 1 as a; show helios.stats; select 2 as b');
      if (mode === 'all') {
        expect(types(answered)).toBe('TDCTDCTDCZ');
        expect(answered.filter((f) => f.type === 'D').map((f) => dataRowText(f.body).length)).toEqual([1, 10, 1]);
        const refused = await client.simpleQuery('select 1 as a; show helios.nope; select 2 as b');
        expect(types(refused)).toBe('TDCEZ');
        expect(fields(refused[3]!.body).get('C')).toBe('42704');
        expect(fields(refused[3]!.body).get('M')).toBe('unrecognized HeliosDB command "helios.nope"');
      } else {
        // Passthrough: the server itself answers, and has no such parameter.
        expect(types(answered)).toBe('TDCEZ');
        expect(fields(answered[3]!.body).get('C')).toBe('42704');
        expect(fields(answered[3]!.body).get('M')).toBe('unrecognized configuration parameter "helios.stats"');
      }
    });

    it('keeps transaction state: BEGIN/COMMIT/ROLLBACK and the aborted state', async () => {
      const t = table('tx');
      await fx.client.query(`create table ${t} (n int)`);
      const { client } = await raw();
      const status = async (sql: string) => {
        const frames = await client.simpleQuery(sql);
        return [types(frames), frames.at(-1)!.body.toString()];
      };
      expect(await status('begin')).toEqual(['CZ', 'T']);
      expect(await status(`insert into ${t} values (1)`)).toEqual(['CZ', 'T']);
      expect(proxy.view.clients().some((c) => c.transactionStatus === 'T')).toBe(true);
      expect(await status('rollback')).toEqual(['CZ', 'I']);
      expect(await status(`begin; insert into ${t} values (2); commit`)).toEqual(['CCCZ', 'I']);
      expect(await status('begin')).toEqual(['CZ', 'T']);
      expect(await status('select nonexistent_column')).toEqual(['EZ', 'E']);
      const aborted = await client.simpleQuery('select 1');
      expect(fields(aborted[0]!.body).get('C')).toBe('25P02');
      expect(aborted.at(-1)!.body.toString()).toBe('E');
      expect(await status('rollback')).toEqual(['CZ', 'I']);
      expect((await fx.client.query(`select array_agg(n)::text as a from ${t}`)).rows[0].a).toBe('{2}');

      const c = await pgClient();
      await c.query('begin');
      await c.query(`insert into ${t} values (3)`);
      await c.query('commit');
      await c.query('begin');
      await c.query(`insert into ${t} values (4)`);
      await c.query('rollback');
      expect((await fx.client.query(`select array_agg(n order by n)::text as a from ${t}`)).rows[0].a).toBe('{2,3}');
    });
  });

  describe('extended query protocol', () => {
    it('binds text parameters (pg and postgres.js)', async () => {
      const c = await pgClient();
      const r = await c.query('select $1::int + $2::int as s, $3::text as t, $4::text is null as n', [40, 2, 'héllo ✓', null]);
      expect(r.rows).toEqual([{ s: 42, t: 'héllo ✓', n: true }]);
      const sql = sqlClient();
      const [row] = await sql`select ${40}::int + ${2}::int as s, ${'héllo ✓'}::text as t, ${null}::text is null as n`;
      expect(row).toEqual({ s: 42, t: 'héllo ✓', n: true });
    });

    it('binds binary parameters and returns binary results', async () => {
      const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      // node-postgres sends Buffer parameters in binary format (format code 1).
      const c = await pgClient();
      const r = await c.query('select $1::bytea as b, length($1::bytea) as len', [bytes]);
      expect(Buffer.compare(r.rows[0].b, bytes)).toBe(0);
      expect(r.rows[0].len).toBe(256);

      const sql = sqlClient();
      const [row] = await sql`select ${bytes}::bytea as b, ${'9223372036854775806'}::int8 + 1 as big`;
      expect(Buffer.compare(row!.b as Buffer, bytes)).toBe(0);
      expect(row!.big).toBe('9223372036854775807');

      // int8 parameter and result both in binary: 8 bytes big-endian each way.
      const { client } = await raw();
      const param = Buffer.alloc(8);
      param.writeBigInt64BE(-9007199254740993n);
      client.send(
        msg.parse('', 'select $1::int8 - 1 as v, $2::bytea as b', [20, 17]),
        msg.bind('', '', [param, bytes], [1, 1], [1, 1]),
        msg.execute(),
        msg.sync(),
      );
      const frames = await client.readyForQuery();
      expect(types(frames)).toBe('12DCZ');
      const [v, b] = dataRowValues(frames[2]!.body);
      expect(v!.readBigInt64BE()).toBe(-9007199254740994n);
      expect(Buffer.compare(b!, bytes)).toBe(0);
    });

    it('reuses a named prepared statement many times', async () => {
      const c = await pgClient();
      for (let i = 0; i < 200; i++) {
        const r = await c.query({ name: 'square', text: 'select $1::int * $1::int as sq /*square*/', values: [i] });
        expect(r.rows[0].sq).toBe(i * i);
      }
      // Prepared once: the server holds one statement of that name.
      const ps = await c.query("select count(*)::int as n from pg_prepared_statements where name = 'square'");
      expect(ps.rows[0].n).toBe(1);
      if (mode === 'all') {
        const r = recorded('/*square*/');
        expect(r).toHaveLength(200);
        expect(r.every((x) => x.query.statementName === 'square' && x.commandTag === 'SELECT 1')).toBe(true);
        expect(r.map((x) => x.query.params?.[0]?.toString())).toEqual(Array.from({ length: 200 }, (_, i) => String(i)));
      }
    });

    it('answers 50 pipelined queries of postgres.js in order', async () => {
      const sql = sqlClient();
      const n = 50;
      const all = Array.from({ length: n }, (_, i) => sql`select ${i}::int as i, repeat('x', ${i}::int) as s /*pipelined*/`);
      const rows = await Promise.all(all);
      expect(rows.map((r) => r[0])).toEqual(Array.from({ length: n }, (_, i) => ({ i, s: 'x'.repeat(i) })));
      if (mode === 'all') {
        const r = recorded('/*pipelined*/');
        expect(r).toHaveLength(n);
        expect(r.map((x) => x.query.params?.[0]?.toString())).toEqual(Array.from({ length: n }, (_, i) => String(i)));
      }
    });

    it('answers queries pipelined by node-postgres in pipeline mode', async () => {
      const c = await pgClient({ pipeline: true } as pg.ClientConfig);
      const all = Array.from({ length: 30 }, (_, i) => c.query('select $1::int * 2 as d', [i]));
      const res = await Promise.all(all);
      expect(res.map((r) => r.rows[0].d)).toEqual(Array.from({ length: 30 }, (_, i) => i * 2));
    });

    it('passes Describe, Close and Flush through', async () => {
      const { client } = await raw();
      // Flush makes the server send what it has without ending the implicit transaction.
      client.send(msg.parse('st', 'select $1::int + 1 as next, $2::text as label', [23, 25]), msg.flush());
      expect(types([await client.next()])).toBe('1');
      client.send(msg.describe('S', 'st'), msg.flush());
      const pd = await client.next();
      expect(pd.type).toBe('t'); // ParameterDescription: int16 count, then type OIDs.
      expect([pd.body.readInt16BE(0), pd.body.readUInt32BE(2), pd.body.readUInt32BE(6)]).toEqual([2, 23, 25]);
      const rd = await client.next();
      expect(rd.type).toBe('T');
      expect(rd.body.readInt16BE(0)).toBe(2);
      expect(rd.body.toString('utf8', 2, rd.body.indexOf(0, 2))).toBe('next');
      client.send(msg.bind('p1', 'st', ['41', 'hi']), msg.describe('P', 'p1'), msg.execute('p1'), msg.flush());
      const portal = [await client.next(), await client.next(), await client.next(), await client.next()];
      expect(types(portal)).toBe('2TDC');
      expect(dataRowText(portal[2]!.body)).toEqual(['42', 'hi']);
      // A statement without results describes as NoData.
      client.send(msg.parse('', 'set local work_mem = 1024'), msg.describe('S', ''), msg.close('P', 'p1'), msg.close('S', 'st'), msg.sync());
      expect(types(await client.readyForQuery())).toBe('1tn33Z');
      // The statement is gone: binding it fails.
      client.send(msg.bind('', 'st', ['1', 'x']), msg.execute(), msg.sync());
      const gone = await client.readyForQuery();
      expect(types(gone)).toBe('EZ');
      expect(fields(gone[0]!.body).get('C')).toBe('26000');
      expect(await client.rows('select 1')).toEqual([['1']]);
    });

    it('passes Query, Parse and Bind messages larger than the hooks decode', async () => {
      // 3 MB each: above the 1 MiB the proxy decodes for hooks, so they stream through.
      const text = 'y'.repeat(3 << 20);
      const { client } = await raw();
      expect(await client.rows(`select length('${text}') /*big-query*/`)).toEqual([[String(text.length)]]);
      client.send(msg.parse('big', `select length('${text}') as n, $1::text = repeat('z', ${3 << 20}) as same`), msg.sync());
      expect(types(await client.readyForQuery())).toBe('1Z');
      client.send(msg.bind('', 'big', ['z'.repeat(3 << 20)]), msg.execute(), msg.sync());
      const frames = await client.readyForQuery();
      expect(types(frames)).toBe('2DCZ');
      expect(dataRowText(frames[1]!.body)).toEqual([String(text.length), 't']);
      expect(await client.rows('select 1')).toEqual([['1']]);
    });

    it('suspends a portal at Execute’s row limit and resumes it', async () => {
      const { client } = await raw();
      client.send(msg.parse('', 'select generate_series(1, 5) as g'), msg.bind('cur', ''), msg.execute('cur', 2), msg.execute('cur', 2), msg.execute('cur', 0), msg.sync());
      const frames = await client.readyForQuery();
      expect(types(frames)).toBe('12DDsDDsDCZ');
      expect(frames.filter((f) => f.type === 'D').map((f) => dataRowText(f.body)[0])).toEqual(['1', '2', '3', '4', '5']);
    });

    it('skips to Sync after an error inside a pipeline, then works again', async () => {
      const t = table('pipeline_err');
      await fx.client.query(`create table ${t} (n int)`);
      const { client } = await raw();
      const step = (sql: string) => [msg.parse('', sql), msg.bind('', ''), msg.execute()];
      client.send(
        ...step(`insert into ${t} values (1)`),
        // random() is volatile, so the division happens at Execute, not while planning at Bind.
        ...step('select 1 / (random() * 0)::int'),
        ...step(`insert into ${t} values (2)`),
        msg.describe('S', 'never_prepared'),
        msg.sync(),
        // Constant 1/0 is folded while planning, which happens at Bind for the unnamed statement.
        ...step('select 1/0'),
        msg.sync(),
        ...step('selec 1'),
        msg.sync(),
        ...step(`insert into ${t} values (3)`),
        msg.sync(),
      );
      const atExecute = await client.readyForQuery();
      // Parse, Bind, Execute of the first; Parse, Bind, then the error; everything else until Sync is skipped.
      expect(types(atExecute)).toBe('12C12EZ');
      expect(fields(atExecute[5]!.body).get('C')).toBe('22012');
      const atBind = await client.readyForQuery();
      expect(types(atBind)).toBe('1EZ');
      expect(fields(atBind[1]!.body).get('C')).toBe('22012');
      const atParse = await client.readyForQuery();
      expect(types(atParse)).toBe('EZ');
      expect(fields(atParse[0]!.body).get('C')).toBe('42601');
      const last = await client.readyForQuery();
      expect(types(last)).toBe('12CZ');
      expect(last.at(-1)!.body.toString()).toBe('I');
      // Messages up to the first Sync ran in one implicit transaction, rolled back by the error.
      expect((await fx.client.query(`select array_agg(n)::text as a from ${t}`)).rows[0].a).toBe('{3}');
      expect(await client.rows('select 2')).toEqual([['2']]);
      if (mode === 'all') {
        expect(recorded(`into ${t} values (3)`).map((x) => x.commandTag)).toEqual(['INSERT 0 1']);
        expect(recorded('random() * 0').map((x) => x.sqlstate)).toEqual(['22012']);
      }
    });

    it('isolates a failing query among pipelined postgres.js queries', async () => {
      const sql = sqlClient();
      const all = Array.from({ length: 21 }, (_, i) =>
        i === 10 ? sql`select 1/${0}::int as i` : sql`select ${i}::int as i`);
      const settled = await Promise.allSettled(all);
      settled.forEach((s, i) => {
        if (i === 10) {
          expect(s.status).toBe('rejected');
          expect((s as PromiseRejectedResult).reason.code).toBe('22012');
        } else {
          expect(s).toEqual({ status: 'fulfilled', value: [expect.objectContaining({ i })] });
        }
      });
      expect((await sql`select 'after' as a`)[0]!.a).toBe('after');
    });
  });

  describe('COPY', () => {
    it('copies in and out with postgres.js streams', async () => {
      const t = table('copy_small');
      await fx.client.query(`create table ${t} (id int, v text)`);
      const sql = sqlClient();
      const input = '1\tone\n2\t\\N\n3\tthree with\\ttab\n';
      await pipeline(Readable.from([input]), await sql.unsafe(`copy ${t} from stdin`).writable());
      const rows = await sql.unsafe(`select id, v from ${t} order by id`);
      expect(rows.map((r) => [r.id, r.v])).toEqual([[1, 'one'], [2, null], [3, 'three with\ttab']]);
      const out: Buffer[] = [];
      for await (const chunk of await sql.unsafe(`copy (select * from ${t} order by id) to stdout`).readable()) out.push(chunk as Buffer);
      expect(Buffer.concat(out).toString()).toBe(input);
      expect((await sql`select 'still usable' as s`)[0]!.s).toBe('still usable');
    });

    it('copies about 10 MB each way without altering a byte', async () => {
      const t = table('copy_big');
      await fx.client.query(`create table ${t} (id int primary key, payload text)`);
      const sql = sqlClient();
      const lines: string[] = [];
      for (let i = 0; i < 80_000; i++) lines.push(`${i}\t${randomBytes(64).toString('hex')}\n`);
      const input = lines.join('');
      expect(input.length).toBeGreaterThan(10_000_000);
      // Many small writes and a few large ones, so CopyData frames come in both sizes.
      const chunks: string[] = [];
      for (let off = 0, i = 0; off < input.length; i++) {
        const size = i % 50 === 0 ? 1_500_000 : 7_000;
        chunks.push(input.slice(off, off + size));
        off += size;
      }
      await pipeline(Readable.from(chunks), await sql.unsafe(`copy ${t} from stdin`).writable());
      const check = await fx.client.query(`select count(*)::int as n, sum(length(payload))::int as len from ${t}`);
      expect(check.rows[0]).toEqual({ n: 80_000, len: 80_000 * 128 });

      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of await sql.unsafe(`copy (select * from ${t} order by id) to stdout`).readable()) {
        hash.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
      }
      expect(bytes).toBe(Buffer.byteLength(input));
      expect(hash.digest('hex')).toBe(createHash('sha256').update(input).digest('hex'));
    });

    it('runs COPY FROM STDIN inside a multi-statement Query string', async () => {
      const t = table('copy_multi');
      await fx.client.query(`create table ${t} (n int)`);
      const { client } = await raw();
      client.send(msg.query(`copy ${t} from stdin; select sum(n)::int as s from ${t}`));
      expect((await client.next()).type).toBe('G');
      client.send(msg.copyData('1\n2\n'), msg.copyData('3\n'), msg.copyDone());
      const frames = await client.readyForQuery();
      expect(types(frames)).toBe('CTDCZ');
      expect(commandTag(frames[0]!.body)).toBe('COPY 3');
      expect(dataRowText(frames[2]!.body)).toEqual(['6']);
    });

    it('keeps its request accounting through COPY FROM STDIN in the extended protocol', async () => {
      const t = table('copy_ext');
      await fx.client.query(`create table ${t} (n int)`);
      const app = `copy-ext-${mode}`;
      const { client } = await raw({ params: { application_name: app } });
      const state = () => proxy.view.clients().find((c) => c.session.applicationName === app)?.state;
      // Sent in one go, as drivers pipeline it: the server enters copy-in at Execute and ignores
      // the Sync that follows, so the client sends another after CopyDone.
      client.send(msg.parse('', `copy ${t} from stdin`), msg.bind('', ''), msg.describe('P', ''), msg.execute(), msg.sync());
      expect(types(await client.readUntil('G'))).toBe('12nG');
      client.send(msg.copyData('1\n2\n'), msg.copyDone(), msg.sync());
      const done = await client.readyForQuery();
      expect(types(done)).toBe('CZ');
      expect(commandTag(done[0]!.body)).toBe('COPY 2');
      expect(client.drained).toBe(true);
      expect(await client.rows('select 1 /*after-copy-ext*/')).toEqual([['1']]);
      if (mode === 'all') expect(recorded('/*after-copy-ext*/').map((r) => r.commandTag)).toEqual(['SELECT 1']);
      // Every request has been answered: the session is idle, not waiting for a ReadyForQuery.
      expect(await eventually(async () => state() === 'idle', 20, 25)).toBe(true);
    });

    it('ends COPY FROM STDIN on CopyFail and stays usable', async () => {
      const t = table('copy_fail');
      await fx.client.query(`create table ${t} (n int)`);
      const { client } = await raw();
      client.send(msg.query(`copy ${t} from stdin`));
      const start = await client.next();
      expect(start.type).toBe('G'); // CopyInResponse
      client.send(msg.copyData('1\n2\n'), msg.copyFail('client gave up'));
      const end = await client.readyForQuery();
      expect(types(end)).toBe('EZ');
      const err = fields(end[0]!.body);
      expect(err.get('C')).toBe('57014');
      expect(err.get('M')).toContain('client gave up');
      expect((await fx.client.query(`select count(*)::int as n from ${t}`)).rows[0].n).toBe(0);
      client.send(msg.query(`copy ${t} from stdin`));
      expect((await client.next()).type).toBe('G');
      client.send(msg.copyData('5\n6\n'), msg.copyDone());
      const done = await client.readyForQuery();
      expect(types(done)).toBe('CZ');
      expect(commandTag(done[0]!.body)).toBe('COPY 2');
    });
  });

  describe('COPY BOTH (logical replication)', () => {
    it('streams logical decoding through CopyBoth and takes standby status updates', async () => {
      const t = table('repl');
      await fx.client.query(`create table ${t} (id int primary key, v text)`);
      const slot = `helios_proto_${mode}_${randomBytes(3).toString('hex')}`;
      const { client } = await raw({ params: { replication: 'database' } });
      const created = await client.simpleQuery(`CREATE_REPLICATION_SLOT ${slot} TEMPORARY LOGICAL test_decoding`, 30_000);
      expect(types(created)).toBe('TDCZ');
      expect(dataRowText(created[1]!.body)[0]).toBe(slot);

      client.send(msg.query(`START_REPLICATION SLOT ${slot} LOGICAL 0/0`));
      expect((await client.next()).type).toBe('W'); // CopyBothResponse

      await fx.client.query(`insert into ${t} values (1, 'through the proxy')`);
      // XLogData: 'w', int64 start LSN, int64 end of WAL, int64 send time, then the plugin's output.
      const decoded: { start: bigint; text: string }[] = [];
      const deadline = Date.now() + 20_000;
      while (!decoded.some((d) => d.text.startsWith('COMMIT'))) {
        const f = await client.next(Math.max(1, deadline - Date.now()));
        expect(f.type).toBe('d');
        if (f.body[0] === 0x77) decoded.push({ start: f.body.readBigUInt64BE(1), text: f.body.toString('utf8', 25) });
      }
      expect(decoded.map((d) => d.text)).toEqual([
        expect.stringMatching(/^BEGIN/),
        `table public.${t}: INSERT: id[integer]:1 v[text]:'through the proxy'`,
        expect.stringMatching(/^COMMIT/),
      ]);

      // Standby status update: 'r', written, flushed, applied LSNs, client time (µs since 2000-01-01), reply flag.
      const commit = decoded.at(-1)!.start;
      const update = Buffer.alloc(34);
      update[0] = 0x72;
      update.writeBigUInt64BE(commit, 1);
      update.writeBigUInt64BE(commit, 9);
      update.writeBigUInt64BE(commit, 17);
      update.writeBigInt64BE(BigInt(Date.now() - Date.UTC(2000, 0, 1)) * 1000n, 25);
      client.send(msg.copyData(update));
      const lsn = (x: bigint) => `${(x >> 32n).toString(16)}/${(x & 0xffffffffn).toString(16)}`.toUpperCase();
      const confirmed = await eventually(async () => {
        const r = await fx.client.query('select confirmed_flush_lsn >= $2::pg_lsn as ok from pg_replication_slots where slot_name = $1', [slot, lsn(commit)]);
        return r.rows[0]?.ok === true;
      });
      expect(confirmed).toBe(true);

      // CopyDone from the client ends streaming. The server may still send CopyData before its own
      // CopyDone, then CommandComplete "COPY 0" (leaving copy mode), "START_REPLICATION", ReadyForQuery.
      client.send(msg.copyDone());
      const rest = (await client.readyForQuery(20_000)).filter((f) => f.type !== 'd');
      expect(types(rest)).toBe('cCCZ');
      expect([commandTag(rest[1]!.body), commandTag(rest[2]!.body)]).toEqual(['COPY 0', 'START_REPLICATION']);
      const ident = await client.simpleQuery('IDENTIFY_SYSTEM');
      expect(types(ident)).toBe('TDCZ');
      await client.terminate();
      // A temporary slot goes away with its session.
      expect(await eventually(async () => (await fx.client.query('select 1 from pg_replication_slots where slot_name = $1', [slot])).rowCount === 0)).toBe(true);
    });
  });

  describe('asynchronous and special messages', () => {
    it('delivers NOTIFY to an idle listener, with its payload', async () => {
      const listener = await pgClient();
      const sender = await pgClient();
      const channel = `chan_${mode}`;
      await listener.query(`listen ${channel}`);
      const got = new Promise<pg.Notification>((resolve) => listener.once('notification', resolve));
      await sender.query('select pg_notify($1, $2)', [channel, 'payload ✓ with spaces']);
      const n = await got;
      expect([n.channel, n.payload]).toEqual([channel, 'payload ✓ with spaces']);
      // The listener is still in sync: its next query answers normally.
      expect((await listener.query('select 3 as x')).rows).toEqual([{ x: 3 }]);
    });

    it('passes NoticeResponse to the client before the result', async () => {
      const c = await pgClient();
      const notices: { severity?: string; message?: string; code?: string }[] = [];
      c.on('notice', (n) => notices.push(n));
      await c.query("DO $$BEGIN RAISE NOTICE 'hi'; RAISE WARNING 'careful' USING ERRCODE = '01R01'; END$$");
      expect(notices.map((n) => [n.severity, n.message, n.code])).toEqual([['NOTICE', 'hi', '00000'], ['WARNING', 'careful', '01R01']]);
      const { client } = await raw();
      const frames = await client.simpleQuery("DO $$BEGIN RAISE NOTICE 'raw'; END$$");
      expect(types(frames)).toBe('NCZ');
      expect(fields(frames[0]!.body).get('M')).toBe('raw');
    });

    it('passes ParameterStatus and tracks the application_name', async () => {
      const c = await pgClient();
      const statuses: [string, string][] = [];
      (c as unknown as { connection: NodeJS.EventEmitter }).connection.on('parameterStatus', (m: { parameterName: string; parameterValue: string }) =>
        statuses.push([m.parameterName, m.parameterValue]));
      const name = `proto-app-${mode}-${randomBytes(3).toString('hex')}`;
      await c.query(`set application_name = '${name}'`);
      expect(statuses).toContainEqual(['application_name', name]);
      await c.query("set datestyle = 'German, DMY'");
      expect(statuses).toContainEqual(['DateStyle', 'German, DMY']);
      expect(proxy.view.clients().map((x) => x.session.applicationName)).toContain(name);
      if (mode === 'all') {
        const r = await c.query('show helios.clients');
        expect(r.rows.map((x) => x.application_name)).toContain(name);
      }
    });

    it('answers a FunctionCall with FunctionCallResponse', async () => {
      const { client } = await raw();
      const [[oid]] = await client.rows("select 'int4pl'::regproc::oid");
      const arg = (n: number) => int32(n);
      client.send(msg.functionCall(Number(oid), [arg(40), arg(2)], [1], 1));
      const frames = await client.readyForQuery();
      expect(types(frames)).toBe('VZ');
      // FunctionCallResponse: int32 length, then the value (binary int4 here).
      expect(frames[0]!.body.readInt32BE(0)).toBe(4);
      expect(frames[0]!.body.readInt32BE(4)).toBe(42);
      // Text arguments and a text result work too; a failing call returns ErrorResponse then ReadyForQuery.
      client.send(msg.functionCall(Number(oid), ['2147483647', '1'], [0], 0));
      const overflow = await client.readyForQuery();
      expect(types(overflow)).toBe('EZ');
      expect(fields(overflow[0]!.body).get('C')).toBe('22003');
      client.send(msg.functionCall(Number(oid), ['-5', '12'], [0], 0));
      const text = await client.readyForQuery();
      expect(types(text)).toBe('VZ');
      expect(text[0]!.body.toString('utf8', 4)).toBe('7');
      // An argument larger than the proxy buffers (1 MiB) streams through.
      const [[octets]] = await client.rows("select 'octet_length(bytea)'::regprocedure::oid");
      const big = randomBytes(3 << 20);
      client.send(msg.functionCall(Number(octets), [big], [1], 1));
      const length = await client.readyForQuery();
      expect(types(length)).toBe('VZ');
      expect(length[0]!.body.readInt32BE(4)).toBe(big.length);
      expect(await client.rows('select 5')).toEqual([['5']]);
      if (mode === 'all') {
        // Hooks see each call as a statement named by the function's OID, with its outcome.
        expect(recorded(`function oid ${oid}>`).map((r) => [r.query.kind, r.sqlstate, r.bytes])).toEqual([['FUNCTION_CALL', undefined, 13], ['FUNCTION_CALL', '22003', 0], ['FUNCTION_CALL', undefined, 10]]);
        expect(recorded(`function oid ${octets}>`).map((r) => [r.query.kind, r.sqlstate, r.rows])).toEqual([['FUNCTION_CALL', undefined, 1]]);
      }
    });

    it('ends the server backend on Terminate', async () => {
      const { client } = await raw();
      const [[pid]] = await client.rows('select pg_backend_pid()');
      const alive = async () => (await fx.client.query('select 1 from pg_stat_activity where pid = $1', [Number(pid)])).rowCount === 1;
      expect(await alive()).toBe(true);
      await client.terminate();
      expect(await eventually(async () => !(await alive()))).toBe(true);
      expect(await eventually(async () => !proxy.view.servers().some((s) => s.backendPid === Number(pid)))).toBe(true);
    });
  });

  describe('protocol 3.2', () => {
    it('hands out a 32-byte cancel key of its own and runs queries', async () => {
      const { client, startup } = await raw({ minor: 2 });
      expect(startup.negotiated).toBeNull();
      expect(startup.key.length).toBe(32);
      const [[pid]] = await client.rows('select pg_backend_pid()');
      expect(startup.pid).not.toBe(Number(pid));
      const server = proxy.view.servers().find((s) => s.backendPid === Number(pid));
      expect(server?.protocolVersion).toBe('3.2');
      client.send(msg.parse('', 'select $1::text || $2::text'), msg.bind('', '', ['3.', '2']), msg.execute(), msg.sync());
      const frames = await client.readyForQuery();
      expect(types(frames)).toBe('12DCZ');
      expect(dataRowText(frames[2]!.body)).toEqual(['3.2']);
    });

    it('passes NegotiateProtocolVersion through for an unknown _pq_ option', async () => {
      const { client, startup } = await raw({ minor: 2, params: { '_pq_.helios_unknown': 'on' } });
      expect(startup.negotiated).toEqual({ minor: 2, unrecognized: ['_pq_.helios_unknown'] });
      // NegotiateProtocolVersion comes before authentication completes; the session goes on in 3.2.
      expect(startup.key.length).toBe(32);
      expect(await client.rows('select 32')).toEqual([['32']]);
    });

    it('negotiates a newer minor version down to 3.2', async () => {
      const { client, startup } = await raw({ minor: 9 });
      expect(startup.negotiated).toEqual({ minor: 2, unrecognized: [] });
      expect(startup.key.length).toBe(32);
      const [[pid]] = await client.rows('select pg_backend_pid()');
      expect(proxy.view.servers().find((s) => s.backendPid === Number(pid))?.protocolVersion).toBe('3.2');
    });
  });
});

// With plugins that decide, the proxy injects messages and keeps its own map of prepared
// statements; what hooks see must be what the server runs, and injected messages must not
// disturb the stream the client reads.
describe('through the proxy with deciding plugins', () => {
  let proxy: TestProxy;
  /** A function the policy refuses to run through a fast-path FunctionCall. */
  let forbiddenOid = 0;
  const seen: QueryInfo[] = [];
  const policy: Plugin = {
    name: 'test-policy',
    onQuery(q) {
      seen.push(q);
      if (q.text.includes('helios_forbidden') || (forbiddenOid !== 0 && q.text.includes(`function oid ${forbiddenOid}>`))) return Decisions.deny('42501', 'forbidden by test policy');
      if (q.text.includes('/*notice*/')) return Decisions.notice('noticed by test policy');
    },
  };
  const clients: RawClient[] = [];

  beforeAll(async () => {
    proxy = await startTestProxy({ plugins: 'all', extraPlugins: [policy] });
  });

  afterAll(async () => {
    for (const c of clients) c.destroy();
    await proxy?.close();
  });

  async function raw(): Promise<RawClient> {
    const { client } = await RawClient.connect({
      host: proxy.connection.host, port: proxy.connection.port, user: testPg.user, password: testPg.password, database: fx.db.name,
    });
    clients.push(client);
    return client;
  }

  /** Bind the statement to the unnamed portal, run it, Sync: the messages through ReadyForQuery. */
  async function run(client: RawClient, statement: string): Promise<Frame[]> {
    client.send(msg.bind('', statement), msg.execute(), msg.sync());
    return client.readyForQuery();
  }

  const sqlstate = (frames: Frame[]) => {
    const e = frames.find((f) => f.type === 'E');
    return e ? fields(e.body).get('C') : undefined;
  };

  it('denies a forbidden statement bound from a named statement', async () => {
    const client = await raw();
    client.send(msg.parse('forbidden', "select 'helios_forbidden' as v"), msg.sync());
    expect(types(await client.readyForQuery())).toBe('1Z');
    const frames = await run(client, 'forbidden');
    expect(types(frames)).toBe('EZ');
    expect(fields(frames[0]!.body).get('M')).toBe('forbidden by test policy');
  });

  it('refuses a fast-path FunctionCall like a statement, inside and outside a transaction', async () => {
    const client = await raw();
    const [[oid]] = await client.rows("select 'int4mi'::regproc::oid");
    forbiddenOid = Number(oid);
    const call = () => msg.functionCall(forbiddenOid, [int32(5), int32(3)], [1], 1);
    client.send(call());
    const refused = await client.readyForQuery();
    expect(types(refused)).toBe('EZ');
    expect([sqlstate(refused), fields(refused[0]!.body).get('M')]).toEqual(['42501', 'forbidden by test policy']);
    expect(refused[1]!.body.toString()).toBe('I');
    // In a transaction the refusal aborts it, as a failing call would.
    expect(types(await client.simpleQuery('begin'))).toBe('CZ');
    client.send(call());
    const inTx = await client.readyForQuery();
    expect([types(inTx), sqlstate(inTx), inTx[1]!.body.toString()]).toEqual(['EZ', '42501', 'E']);
    expect(types(await client.simpleQuery('rollback'))).toBe('CZ');
    // A call too large to buffer is judged from its start, and its remaining bytes never reach the server.
    client.send(msg.functionCall(forbiddenOid, [randomBytes(3 << 20), int32(3)], [1], 1));
    const big = await client.readyForQuery();
    expect([types(big), sqlstate(big)]).toEqual(['EZ', '42501']);
    // Other functions still run through the fast path.
    const [[plus]] = await client.rows("select 'int4pl'::regproc::oid");
    client.send(msg.functionCall(Number(plus), [int32(5), int32(3)], [1], 1));
    const ok = await client.readyForQuery();
    expect(types(ok)).toBe('VZ');
    expect(ok[0]!.body.readInt32BE(4)).toBe(8);
  });

  it('does not split a server message being streamed to insert a plugin notice', async () => {
    const client = await raw();
    const size = 32 << 20;
    const marker = `/*notice*/ /*${randomBytes(4).toString('hex')}*/`;
    client.send(msg.query(`select repeat('x', ${size}) as big`));
    // Stop reading mid-DataRow: the proxy is then in the middle of forwarding that message.
    await client.pauseAfter(256 * 1024);
    client.send(msg.query(`select 1 as n ${marker}`));
    // The proxy has decided on the second Query (and sent the notice) before we read on.
    expect(await eventually(async () => seen.some((q) => q.text.includes(marker)), 200, 10)).toBe(true);
    client.resume();
    const frames = [...(await client.readyForQuery(20_000)), ...(await client.readyForQuery())];
    // A NoticeResponse may come anywhere between messages, never inside one.
    expect(types(frames.filter((f) => f.type !== 'N'))).toBe('TDCZTDCZ');
    expect(frames.filter((f) => f.type === 'N').map((f) => fields(f.body).get('M'))).toEqual(['noticed by test policy']);
    const big = frames.find((f) => f.type === 'D')!;
    expect(dataRowValues(big.body)[0]!.equals(Buffer.alloc(size, 'x'))).toBe(true);
  });

  it('keeps the first text of a statement the server refused to prepare again (42P05)', async () => {
    const client = await raw();
    client.send(msg.parse('s_dup', "select 'helios_forbidden' as v"), msg.sync());
    expect(types(await client.readyForQuery())).toBe('1Z');
    client.send(msg.parse('s_dup', "select 'harmless' as v"), msg.sync());
    const dup = await client.readyForQuery();
    expect(sqlstate(dup)).toBe('42P05');
    // The server still holds the first text under that name, so that is what the policy must judge.
    const frames = await run(client, 's_dup');
    expect(frames.filter((f) => f.type === 'D').map((f) => dataRowText(f.body)[0])).toEqual([]);
    expect(sqlstate(frames)).toBe('42501');
  });

  it('keeps a statement whose Close the server skipped after an error', async () => {
    const client = await raw();
    client.send(msg.parse('s_close', "select 'helios_forbidden' as v"), msg.sync());
    expect(types(await client.readyForQuery())).toBe('1Z');
    // After the failed Parse the server skips the Close: s_close still exists.
    client.send(msg.parse('', 'selec 1'), msg.close('S', 's_close'), msg.sync());
    expect(types(await client.readyForQuery())).toBe('EZ');
    const frames = await run(client, 's_close');
    expect(frames.filter((f) => f.type === 'D').map((f) => dataRowText(f.body)[0])).toEqual([]);
    expect(sqlstate(frames)).toBe('42501');
  });

  it('keeps the unnamed statement when the server skipped a Parse replacing it', async () => {
    const client = await raw();
    client.send(msg.parse('', "select 'helios_forbidden' as v"), msg.sync());
    expect(types(await client.readyForQuery())).toBe('1Z');
    // The failed Parse makes the server skip the second one: the unnamed statement is unchanged.
    client.send(msg.parse('bad', 'selec 1'), msg.parse('', "select 'harmless' as v"), msg.sync());
    expect(types(await client.readyForQuery())).toBe('EZ');
    const frames = await run(client, '');
    expect(frames.filter((f) => f.type === 'D').map((f) => dataRowText(f.body)[0])).toEqual([]);
    expect(sqlstate(frames)).toBe('42501');
  });

  it('leaves the client’s unnamed statement alone when it denies a named one', async () => {
    const client = await raw();
    client.send(msg.parse('', "select 'unnamed' as v"), msg.parse('s_deny', "select 'helios_forbidden' as v"), msg.sync());
    expect(types(await client.readyForQuery())).toBe('11Z');
    expect(sqlstate(await run(client, 's_deny'))).toBe('42501');
    const frames = await run(client, '');
    expect(types(frames)).toBe('2DCZ');
    expect(dataRowText(frames[1]!.body)).toEqual(['unnamed']);
  });

  it('leaves the client’s unnamed statement alone when it answers a named one (SHOW helios.*)', async () => {
    const client = await raw();
    client.send(msg.parse('', "select 'unnamed' as v"), msg.sync());
    expect(types(await client.readyForQuery())).toBe('1Z');
    // How the server takes this Parse is beside the point here: the admin console answers the Bind.
    client.send(msg.parse('s_show', 'show helios.stats'), msg.sync());
    await client.readyForQuery();
    const stats = await run(client, 's_show');
    expect(types(stats)).toBe('2DCZ');
    const frames = await run(client, '');
    expect(types(frames)).toBe('2DCZ');
    expect(dataRowText(frames[1]!.body)).toEqual(['unnamed']);
  });

  it('answers SHOW helios.* through the extended protocol with Describe (postgres.js)', async () => {
    const sql = postgres({ ...proxy.connection, database: fx.db.name, max: 1, onnotice: () => {} });
    try {
      const rows = await sql`show helios.stats`;
      expect(rows).toHaveLength(1);
      expect(Number(rows[0]!.clients_active)).toBeGreaterThan(0);
      expect((await sql`select 1 as one`)[0]!.one).toBe(1);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  it('runs onQuery for a Bind of a statement prepared with SQL PREPARE', async () => {
    const client = await raw();
    expect(types(await client.simpleQuery("prepare sql_prepared as select 'from prepare' as v"))).toBe('CZ');
    const before = seen.length;
    const frames = await run(client, 'sql_prepared');
    expect(types(frames)).toBe('2DCZ');
    expect(dataRowText(frames[1]!.body)).toEqual(['from prepare']);
    // The statement executes, so the hooks must have been asked about it.
    expect(seen.slice(before).map((q) => q.statementName)).toEqual(['sql_prepared']);
  });
});
