// One `helios proxy` process with its HTTP endpoint known to the bench (targets.ts starts the
// same command for throughput benches but keeps the HTTP port to itself), plus a small client
// for its anomaly API.
import { join } from 'node:path';
import { toUrl, waitReady, type ConnInfo } from './conn.ts';
import { freePort } from './net.ts';
import { spawnChild, type Child } from './processes.ts';
import { REPO_ROOT } from './targets.ts';
import type { SecondPoint } from '../../src/observability/live-series.ts';

export interface HeliosProxy {
  /** Same credentials as the server, the proxy's host:port. */
  conn: ConnInfo;
  /** e.g. http://127.0.0.1:40123 */
  http: string;
  child: Child;
  stop(): Promise<void>;
}

/** Starts `bin/helios.js proxy` and waits until both a session through it and its API answer. */
export async function startHeliosProxy(server: ConnInfo, plugins: string): Promise<HeliosProxy> {
  const [port, httpPort] = [await freePort(), await freePort()];
  const child = spawnChild('helios proxy', process.execPath, [join(REPO_ROOT, 'bin', 'helios.js'), 'proxy',
    '--upstream', toUrl(server),
    '--listen', `127.0.0.1:${port}`,
    '--http', `127.0.0.1:${httpPort}`,
    '--plugins', plugins], { cwd: REPO_ROOT });
  const conn: ConnInfo = { ...server, host: '127.0.0.1', port };
  const http = `http://127.0.0.1:${httpPort}`;
  try {
    await waitReady(conn, child.exited);
    for (const until = Date.now() + 30_000; ; await new Promise((r) => setTimeout(r, 200))) {
      try {
        await listAnomalies(http);
        break;
      } catch (err) {
        if (Date.now() > until) throw new Error(`API not answering: ${(err as Error).message}`);
      }
    }
  } catch (err) {
    await child.stop(500);
    const out = child.output().split('\n').filter((l) => l.trim() && !/^\s+at /.test(l)).slice(-6).join('\n');
    throw new Error(`helios proxy: ${(err as Error).message}${out ? `\n  ${out.replace(/\n/g, '\n  ')}` : ''}`);
  }
  return { conn, http, child, stop: () => child.stop() };
}

/** The fields of an alert the benches read (GET /api/v1/observability/anomalies). */
export interface ApiAnomaly {
  id: number;
  incident: number;
  metric: string;
  fingerprint?: string;
  cause: string;
  severity: string;
  expected: number;
  actual: number;
  peak: number;
  score: number;
  evidence: Array<{ cause: string; weight: number; summary: string }>;
  openedAt: string;
  closedAt: string | null;
}

/** GET a JSON body from the proxy's API; a non-2xx answer throws with its status and the start of its body. */
export async function getJson<T>(url: string, timeoutMs: number): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
  return (await res.json()) as T;
}

/** Open and closed alerts (the engine keeps the last 200 closed), newest first. */
export async function listAnomalies(http: string, state: 'all' | 'open' = 'all', timeoutMs = 3000): Promise<ApiAnomaly[]> {
  const body = await getJson<{ anomalies: ApiAnomaly[] }>(`${http}/api/v1/observability/anomalies?state=${state}&limit=1000`, timeoutMs);
  return body.anomalies;
}

/** The last `seconds` per-second points of the proxy's live series. */
export async function lastSeconds(http: string, seconds: number): Promise<SecondPoint[]> {
  const body = await getJson<{ series: SecondPoint[] }>(`${http}/api/v1/observability/summary?seconds=${seconds}`, 3000);
  return body.series;
}
