import { describe, expect, it } from 'vitest';
import { createLogger, redactUrl } from './log.ts';

describe('redactUrl', () => {
  it('masks the password of any URL in the text and leaves the rest', () => {
    expect(redactUrl('postgresql://app:secret@db:5432/app')).toBe('postgresql://app:***@db:5432/app');
    expect(redactUrl('to postgres://a:b@h and postgres://c@h')).toBe('to postgres://a:***@h and postgres://c@h');
    expect(redactUrl('postgresql://app@db/app')).toBe('postgresql://app@db/app');
  });
});

describe('createLogger', () => {
  it('filters by level, writes JSON lines and redacts secrets', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', format: 'json', write: (l) => lines.push(l) });
    log.debug('hidden');
    log.info('connecting to postgresql://u:pw@h/db', { password: 'pw', url: 'postgres://u:pw@h', n: 1 });
    log.level = 'debug';
    log.debug('shown');
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0]!);
    expect(first).toMatchObject({ level: 'info', msg: 'connecting to postgresql://u:***@h/db', password: '***', url: 'postgres://u:***@h', n: 1 });
    expect(lines.join('\n')).not.toContain(':pw@');
  });

  it('writes readable text lines', () => {
    const lines: string[] = [];
    createLogger({ format: 'text', write: (l) => lines.push(l) }).warn('slow start', { seconds: 3, dir: '/a b' });
    expect(lines[0]).toMatch(/^\S+Z WARN  slow start seconds=3 dir="\/a b"$/);
  });
});
