import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseUpstreamUrl } from './upstream-url.ts';

const pemDir = mkdtempSync(join(tmpdir(), 'helios-url-'));
for (const f of ['ca.pem', 'client.pem', 'client.key']) writeFileSync(join(pemDir, f), `PEM of ${f}`);
afterAll(() => rmSync(pemDir, { recursive: true, force: true }));

describe('parseUpstreamUrl', () => {
  it('reads host, port, credentials and database; defaults to port 5432 and sslmode=prefer', () => {
    const u = parseUpstreamUrl('postgresql://app:s%40cret@db.internal/app_db');
    expect(u.target).toEqual({ host: 'db.internal', port: 5432, sslmode: 'prefer', servername: 'db.internal' });
    expect(u).toMatchObject({ user: 'app', password: 's@cret', database: 'app_db' });
    expect(u.display).toBe('postgresql://app:***@db.internal/app_db');
  });

  it('accepts postgres://, IPv6 hosts and missing parts', () => {
    const u = parseUpstreamUrl('postgres://[::1]:6543');
    expect(u.target).toEqual({ host: '::1', port: 6543, sslmode: 'prefer' });
    expect(u.user).toBeUndefined();
    expect(u.password).toBeUndefined();
    expect(u.database).toBeUndefined();
  });

  it('reads sslmode and the certificate files as PEM text', () => {
    const u = parseUpstreamUrl(
      `postgresql://app@10.0.0.5:5432/app?sslmode=verify-full&sslrootcert=${join(pemDir, 'ca.pem')}` +
        `&sslcert=${join(pemDir, 'client.pem')}&sslkey=${join(pemDir, 'client.key')}`,
    );
    expect(u.target).toEqual({
      host: '10.0.0.5',
      port: 5432,
      sslmode: 'verify-full',
      ca: 'PEM of ca.pem',
      cert: 'PEM of client.pem',
      key: 'PEM of client.key',
    });
  });

  it.each(['disable', 'allow', 'prefer', 'require'])('accepts sslmode=%s', (mode) => {
    expect(parseUpstreamUrl(`postgresql://h/db?sslmode=${mode}`).target.sslmode).toBe(mode);
  });

  it('treats sslrootcert=system as the platform trust store with verify-full', () => {
    const t = parseUpstreamUrl('postgresql://h/db?sslrootcert=system').target;
    expect(t.sslmode).toBe('verify-full');
    expect(t.ca).toBeUndefined();
  });

  it('rejects what it cannot honour, with the password masked', () => {
    const bad = (url: string) => expect(() => parseUpstreamUrl(url));
    bad('db.internal:5432').toThrow(/must start with postgresql:\/\//);
    bad('http://db/x').toThrow(/must start with postgresql:\/\//);
    bad('postgresql:///db').toThrow(/has no host/);
    bad('postgresql://u:topsecret@h:0/db').toThrow('upstream URL "postgresql://u:***@h:0/db" has an invalid port');
    bad('postgresql://h/db?sslmode=sometimes').toThrow(/unknown sslmode "sometimes"; expected one of disable, allow/);
    bad('postgresql://h/db?sslmode=verify-ca').toThrow('sslmode=verify-ca needs sslrootcert=FILE');
    bad('postgresql://h/db?sslcert=/x.pem').toThrow('sslcert and sslkey must be given together');
    bad('postgresql://h/db?sslrootcert=/nonexistent.pem').toThrow(/cannot read sslrootcert file "\/nonexistent.pem"/);
    bad('postgresql://h/db?application_name=x').toThrow(/unsupported parameter\(s\) application_name; supported: sslmode/);
    expect(() => parseUpstreamUrl('postgresql://u:topsecret@h:99999/db')).toThrow(expect.objectContaining({ message: expect.not.stringContaining('topsecret') }));
  });
});
