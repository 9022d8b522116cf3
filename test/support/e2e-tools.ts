// Helpers for test/e2e-tools.test.ts: the `helios` CLI and the PostgreSQL client programs (psql,
// pgbench) as real child processes, each bounded by a deadline and all killable from afterAll.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/helios.js', import.meta.url));

const children = new Set<ChildProcess>();
const dirs: string[] = [];

const running = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

/** Stops every child still running: SIGTERM (a helios proxy drains), then SIGKILL after `graceMs`. */
export async function stopAllChildren(graceMs = 10_000): Promise<void> {
  await Promise.all(
    [...children].filter(running).map(
      (c) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
          c.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          c.kill('SIGTERM');
        }),
    ),
  );
  children.clear();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export function scratchDir(prefix = 'helios-e2e-tools-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** The parent's environment without HELIOS_* and PG* settings that would steer the child. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HELIOS_') && !k.startsWith('PG')));
  return { ...env, ...extra };
}

/** Fails (does not skip) with an actionable message when a client program is not installed. */
export function requireTool(name: 'psql' | 'pgbench'): string {
  const r = spawnSync(name, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : `exit ${r.status}: ${r.stderr}`;
    throw new Error(`${name} is required by test/e2e-tools.test.ts but could not be run (${why}); install the PostgreSQL client programs, e.g. apt-get install postgresql-client`);
  }
  return r.stdout.trim();
}

export interface HeliosCli {
  child: ChildProcess;
  /** From the banner: the bound proxy address and the HTTP base URL. */
  host: string;
  port: number;
  httpUrl: string;
  /** The `connect:` URL the banner printed. */
  connectUrl: string;
  banner: string[];
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `node bin/helios.js ARGS` in a scratch directory and resolves once the banner is printed. */
export async function startHelios(args: string[], timeoutMs = 60_000): Promise<HeliosCli> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: scratchDir(), env: cleanEnv({}), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    if (err.length < 1_000_000) err += s;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const banner = await new Promise<string[]>((resolve, reject) => {
    const lines: string[] = [];
    const timer = setTimeout(() => reject(new Error(`helios printed no banner within ${timeoutMs} ms:\n${err}`)), timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      out += `${line}\n`;
      lines.push(line);
      if (line.startsWith('  http:')) {
        clearTimeout(timer);
        resolve(lines);
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`helios exited (${code ?? signal}) before it was ready:\n${err}`));
    });
  });
  const word = (name: string, re: RegExp) => {
    const w = banner.find((l) => l.trim().startsWith(`${name}:`))?.split(/\s+/).find((x) => re.test(x));
    if (!w) throw new Error(`no ${name} URL in the helios banner:\n${banner.join('\n')}`);
    return w;
  };
  const connectUrl = word('connect', /^postgresql:\/\//);
  const httpUrl = word('http', /^http:\/\//).replace(/\/$/, '');
  const u = new URL(connectUrl);
  return {
    child,
    host: u.hostname,
    port: Number(u.port),
    httpUrl,
    connectUrl,
    banner,
    stdout: () => out,
    stderr: () => err,
    exited,
  };
}

export interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ToolOptions {
  env: Record<string, string>;
  /** Written to the child's stdin, which is then closed; without it stdin is empty. */
  input?: string;
  timeoutMs?: number;
}

/** Formats a result for assertion messages. */
export function describeRun(cmd: string, r: ToolResult): string {
  return `${cmd} exited ${r.code ?? r.signal}\n--- stdout ---\n${r.stdout.slice(0, 4000)}\n--- stderr ---\n${r.stderr.slice(0, 4000)}`;
}

export interface RunningTool {
  child: ChildProcess;
  result: Promise<ToolResult>;
}

/** Starts a client program with a cleaned environment; it is SIGKILLed if it outlives `timeoutMs`. */
export function startTool(cmd: string, args: string[], opts: ToolOptions): RunningTool {
  const child = spawn(cmd, args, { cwd: scratchDir(), env: cleanEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  child.stdin!.on('error', () => {}); // EPIPE when the tool exits without reading all of it
  const timeoutMs = opts.timeoutMs ?? 90_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const result = new Promise<ToolResult>((resolve, reject) => {
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`could not run ${cmd}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (timedOut) reject(new Error(`${cmd} ${args.join(' ')} did not finish within ${timeoutMs} ms and was killed\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`));
      else resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, result };
}

export function runTool(cmd: string, args: string[], opts: ToolOptions): Promise<ToolResult> {
  const t = startTool(cmd, args, opts);
  if (opts.input !== undefined) t.child.stdin!.end(opts.input);
  else t.child.stdin!.end();
  return t.result;
}

/** Polls `probe` every 100 ms until it returns a value; throws after `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Parses psql --csv output (header line first) into objects; fields here never contain commas. */
export function parseCsvTable(text: string): Record<string, string>[] {
  const [head, ...rows] = text.trimEnd().split('\n');
  const cols = head!.split(',');
  return rows.map((r) => {
    const cells = r.split(',');
    return Object.fromEntries(cols.map((c, i) => [c, cells[i] ?? '']));
  });
}
