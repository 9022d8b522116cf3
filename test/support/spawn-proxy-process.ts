// Spawns test/support/proxy-process.ts as a child process and reads its memory from /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const SCRIPT = fileURLToPath(new URL('./proxy-process.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ProxyProcess {
  readonly pid: number;
  readonly port: number;
  readonly child: ChildProcess;
  /** What the child wrote on stderr so far (warnings, errors). */
  stderr(): string;
  /** Peak and current resident set size in bytes (VmHWM, VmRSS). */
  memory(): Promise<{ peak: number; rss: number }>;
  /** SIGTERM, then wait for the exit; SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<number | null>;
}

export interface ProxyProcessOptions {
  upstreamHost: string;
  upstreamPort: number;
  plugins: string;
  maxMessageBytes?: number;
  maxDecodedBindBytes?: number;
  /** Extra node/V8 flags for the child, before the script. */
  nodeArgs?: string[];
}

export async function spawnProxyProcess(o: ProxyProcessOptions): Promise<ProxyProcess> {
  const args = [...(o.nodeArgs ?? []), '--import', 'tsx', SCRIPT, '--upstream-host', o.upstreamHost, '--upstream-port', String(o.upstreamPort), '--plugins', o.plugins];
  if (o.maxMessageBytes !== undefined) args.push('--max-message-bytes', String(o.maxMessageBytes));
  if (o.maxDecodedBindBytes !== undefined) args.push('--max-decoded-bind-bytes', String(o.maxDecodedBindBytes));
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, HELIOS_DRAIN_MS: '1000' } });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    if (err.length < 100_000) err += s;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = await new Promise<{ port: number; pid: number }>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`proxy process did not start in 30 s: ${err}`)), 30_000);
    lines.on('line', (line) => {
      try {
        const msg = JSON.parse(line) as { ready?: boolean; port: number; pid: number };
        if (msg.ready) {
          clearTimeout(timer);
          resolve(msg);
        }
      } catch {
        // not ours
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`proxy process exited with ${code} before listening: ${err}`));
    });
  });
  return {
    pid: child.pid!,
    port: ready.port,
    child,
    stderr: () => err,
    async memory() {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const kb = (field: string) => {
        const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
        if (!m) throw new Error(`${field} missing from /proc/${child.pid}/status`);
        return Number(m[1]) * 1024;
      };
      return { peak: kb('VmHWM'), rss: kb('VmRSS') };
    },
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
