import { describe, expect, it } from 'vitest';
import { NO_TAGS, parseSqlCommenter } from './sqlcommenter.ts';

const TRACEPARENT = '00-5bd66ef5095369c7b0d1f8f4bd33716a-c532cb4098ac3dd2-01';

describe('parseSqlCommenter', () => {
  it('reads the tags of a trailing comment', () => {
    const sql = `SELECT * FROM t /*controller='index',traceparent='${TRACEPARENT}'*/`;
    expect(parseSqlCommenter(sql)).toEqual({ controller: 'index', traceparent: TRACEPARENT });
  });

  it('allows whitespace and semicolons after the comment and around pairs', () => {
    expect(parseSqlCommenter("SELECT 1 /* tenant='acme' , app='web' */ ;\n")).toEqual({ tenant: 'acme', app: 'web' });
  });

  it('URL-decodes keys and values and unescapes quotes', () => {
    const sql = "SELECT 1 /*route='%2Fparam*d',db%20driver='pg',name='O\\'Brien'*/";
    expect(parseSqlCommenter(sql)).toEqual({ route: '/param*d', 'db driver': 'pg', name: "O'Brien" });
  });

  it('keeps a value that is not valid URL encoding as written', () => {
    expect(parseSqlCommenter("SELECT 1 /*pct='100%'*/")).toEqual({ pct: '100%' });
  });

  it('uses the last comment of the statement', () => {
    expect(parseSqlCommenter("SELECT /* a='1' */ 1 /* b='2' */")).toEqual({ b: '2' });
  });

  it('reads a leading comment when there is no trailing one', () => {
    expect(parseSqlCommenter("/* tenant='acme' */ SELECT 1")).toEqual({ tenant: 'acme' });
  });

  it('returns the shared frozen empty object when there are no tags', () => {
    for (const sql of ['SELECT 1', 'SELECT 1 /* just a note */', "SELECT '/*a=''1''*/'", "SELECT 1 /* a='1' */ FROM t"]) {
      expect(parseSqlCommenter(sql)).toBe(NO_TAGS);
    }
    expect(Object.isFrozen(NO_TAGS)).toBe(true);
  });

  it('rejects malformed comments whole, without throwing', () => {
    for (const comment of ["a='1',b", "a=1", "a='1", "='1'", "a='1' b='2'", "a='1',,b='2'"]) {
      expect(parseSqlCommenter(`SELECT 1 /*${comment}*/`)).toBe(NO_TAGS);
    }
  });

  it('returns frozen tags', () => {
    expect(Object.isFrozen(parseSqlCommenter("SELECT 1 /*a='1'*/"))).toBe(true);
  });
});
