import { describe, expect, it } from 'vitest';
import { stripComments, stripCommentsMapped } from './comments.ts';

describe('stripComments', () => {
  it('returns comment-free text unchanged', () => {
    const sql = 'SELECT a FROM t WHERE b = 1';
    expect(stripComments(sql)).toBe(sql);
  });

  it('trims surrounding whitespace', () => {
    expect(stripComments('\n  SELECT 1 \t\n')).toBe('SELECT 1');
  });

  it('removes line comments up to the line end', () => {
    expect(stripComments('SELECT 1 -- one\nFROM t -- two')).toBe('SELECT 1 FROM t');
    expect(stripComments('SELECT 1-- one\nFROM t')).toBe('SELECT 1\nFROM t');
    expect(stripComments('-- only a comment')).toBe('');
    expect(stripComments('SELECT 1-- cr\rFROM t')).toBe('SELECT 1\rFROM t');
  });

  it('removes block comments, keeping tokens apart', () => {
    expect(stripComments('/* lead */ SELECT 1 /* trail */')).toBe('SELECT 1');
    expect(stripComments('SELECT 1/**/+/**/2')).toBe('SELECT 1 + 2');
    // Without the space, "a-/**/-b" would become the line comment "--b".
    expect(stripComments('SELECT a-/**/-b FROM t')).toBe('SELECT a- -b FROM t');
  });

  it('removes nested block comments as a whole', () => {
    expect(stripComments('SELECT /* outer /* inner */ still outer */ 1')).toBe('SELECT 1');
  });

  it('keeps an unterminated block comment so parsing fails as on the server', () => {
    expect(stripComments('SELECT 1 /* never closed')).toBe('SELECT 1 /* never closed');
  });

  it('leaves comment markers inside string literals alone', () => {
    const sql = "SELECT '-- not a comment', '/* nor this */' FROM t";
    expect(stripComments(sql)).toBe(sql);
    expect(stripComments("SELECT 'it''s -- here' -- gone")).toBe("SELECT 'it''s -- here'");
  });

  it('honours backslash escapes only in E strings', () => {
    expect(stripComments("SELECT E'a\\' -- still string' -- gone")).toBe("SELECT E'a\\' -- still string'");
    expect(stripComments("SELECT e'\\\\' -- gone")).toBe("SELECT e'\\\\'");
    // In a standard string a backslash is a plain character: the string ends at the second quote.
    expect(stripComments("SELECT 'a\\' -- gone")).toBe("SELECT 'a\\'");
    // "some_type'...'" is a typed literal, not an E string: the e ends an identifier.
    expect(stripComments("SELECT some_type'\\' -- gone")).toBe("SELECT some_type'\\'");
  });

  it('leaves comment markers inside quoted identifiers alone', () => {
    const sql = 'SELECT "a--b", "c/*d", "e""--f" FROM t';
    expect(stripComments(sql)).toBe(sql);
  });

  it('leaves dollar-quoted bodies alone', () => {
    const body = "DO $$ BEGIN -- kept\n PERFORM '/*'; END $$";
    expect(stripComments(`${body} -- gone`)).toBe(body);
    const tagged = 'SELECT $fn$ has $$ and -- and /* $fn$';
    expect(stripComments(`${tagged} /* gone */`)).toBe(tagged);
  });

  it('does not take parameters or identifiers with $ for dollar quotes', () => {
    expect(stripComments('SELECT $1 -- gone\n, a$b -- gone')).toBe('SELECT $1 , a$b');
  });
});

describe('stripCommentsMapped', () => {
  it('maps indices of the comment-free text back to the original', () => {
    const sql = '  /* a */ SELECT /* b */ x -- c\n FROM t';
    const { text, originalIndex } = stripCommentsMapped(sql);
    expect(text).toBe('SELECT x FROM t');
    for (const token of ['SELECT', 'x', 'FROM', 't']) {
      expect(sql.slice(originalIndex(text.indexOf(token))).startsWith(token)).toBe(true);
    }
  });

  it('maps with only the leading whitespace offset when there are no comments', () => {
    const { text, originalIndex } = stripCommentsMapped('\n\tSELECT 1');
    expect(text).toBe('SELECT 1');
    expect(originalIndex(7)).toBe(9);
  });
});
