// Parses a libpq-style postgresql:// URL into where the proxy connects and who the control connection logs in as.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { SslMode, UpstreamTarget } from '../proxy/options.ts';
import { UserError } from './errors.ts';
import { redactUrl } from './log.ts';

export const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];
const PARAMS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey'];

export interface UpstreamConnection {
  target: UpstreamTarget;
  /** Credentials and database from the URL; absent parts are left to the client's defaults. */
  user?: string;
  password?: string;
  database?: string;
  /** The URL with its password masked, safe to log. */
  display: string;
}

function readPem(param: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(`upstream URL: cannot read ${param} file "${path}": ${(err as Error).message}`);
  }
}

function decoded(part: string): string | undefined {
  return part === '' ? undefined : decodeURIComponent(part);
}

export function parseUpstreamUrl(raw: string): UpstreamConnection {
  const display = redactUrl(raw);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UserError(`upstream URL "${display}" is not a valid URL; expected postgresql://user:password@host:port/database`);
  }
  if (url.protocol !== 'postgresql:' && url.protocol !== 'postgres:') {
    throw new UserError(`upstream URL "${display}" must start with postgresql:// or postgres://`);
  }
  // IPv6 hosts come back bracketed ("[::1]"); sockets want them bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new UserError(`upstream URL "${display}" has no host; the proxy connects over TCP`);
  const port = url.port === '' ? 5432 : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UserError(`upstream URL "${display}" has an invalid port`);

  const unknown = [...url.searchParams.keys()].filter((k) => !PARAMS.includes(k));
  if (unknown.length) {
    throw new UserError(`upstream URL: unsupported parameter(s) ${unknown.join(', ')}; supported: ${PARAMS.join(', ')}`);
  }
  const q = (name: string) => url.searchParams.get(name) ?? undefined;
  const rootcert = q('sslrootcert');
  // libpq: sslrootcert=system means the platform's trust store, and then defaults sslmode to verify-full.
  const sslmode = (q('sslmode') ?? (rootcert === 'system' ? 'verify-full' : 'prefer')) as SslMode;
  if (!SSL_MODES.includes(sslmode)) {
    throw new UserError(`upstream URL: unknown sslmode "${sslmode}"; expected one of ${SSL_MODES.join(', ')}`);
  }
  if ((sslmode === 'verify-ca' || sslmode === 'verify-full') && !rootcert) {
    throw new UserError(`upstream URL: sslmode=${sslmode} needs sslrootcert=FILE (or sslrootcert=system)`);
  }
  const certPath = q('sslcert');
  const keyPath = q('sslkey');
  if (!certPath !== !keyPath) throw new UserError('upstream URL: sslcert and sslkey must be given together');

  const target: UpstreamTarget = { host, port, sslmode };
  if (rootcert && rootcert !== 'system') target.ca = readPem('sslrootcert', rootcert);
  if (certPath && keyPath) {
    target.cert = readPem('sslcert', certPath);
    target.key = readPem('sslkey', keyPath);
  }
  if (!isIP(host)) target.servername = host;

  return {
    target,
    user: decoded(url.username),
    password: decoded(url.password),
    database: decoded(url.pathname.replace(/^\//, '')),
    display,
  };
}
