// Child processes the benches start, and making sure none outlives the bench
// (normal end, thrown error, Ctrl-C or SIGTERM).
import { spawn, type SpawnOptions } from 'node:child_process';

export interface Child {
  readonly name: string;
  readonly pid: number;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Last few KB of stdout + stderr, for error messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

const TAIL_BYTES = 16 * 1024;
const live = new Set<Child>();
const pids = new Map<Child, () => void>(); // SIGKILL, for the synchronous exit path
const syncFinalizers: Array<() => void> = [];
const asyncCleanups: Array<() => Promise<void>> = [];

export function spawnChild(name: string, cmd: string, args: readonly string[], opts: SpawnOptions = {}): Child {
  if (cleaning) throw new Error(`not starting ${name}: the bench is shutting down`);
  const proc = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  // Always drain the pipes: a chatty child must never block on a full pipe mid-bench.
  const keep = (b: Buffer) => { tail = (tail + b.toString('utf8')).slice(-TAIL_BYTES); };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve, reject) => {
    proc.once('error', (err) => { forget(); reject(err); });
    proc.once('exit', (code) => { forget(); resolve(code); });
  });
  exited.catch(() => {}); // callers that care await it; the rest must not crash on ENOENT
  const isDone = () => proc.exitCode !== null || proc.signalCode !== null;
  const child: Child = {
    name,
    pid: proc.pid ?? -1,
    exited,
    output: () => tail,
    async stop(graceMs = 3000) {
      if (isDone() || proc.pid === undefined) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited.catch(() => null);
      clearTimeout(timer);
    },
  };
  const forget = () => { live.delete(child); pids.delete(child); };
  live.add(child);
  pids.set(child, () => proc.kill('SIGKILL'));
  return child;
}

/** Runs at exit in this order: async cleanups (normal path / signals), then sync ones (always). */
export function onCleanup(fn: () => Promise<void>): void { asyncCleanups.push(fn); }
export function onExitSync(fn: () => void): void { syncFinalizers.push(fn); }

let cleaning: Promise<void> | undefined;
/** True once cleanup began (a signal arrived): callers stop measuring instead of noting failures. */
export const shuttingDown = (): boolean => cleaning !== undefined;
/** Stops every tracked child and runs the registered cleanups once. */
export function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.all([...live].map((c) => c.stop()));
    for (const fn of asyncCleanups.reverse()) await fn().catch((e: unknown) => console.error('cleanup:', e));
  })();
  return cleaning;
}

process.once('exit', () => {
  for (const kill of pids.values()) kill();
  for (const fn of syncFinalizers) { try { fn(); } catch { /* best effort at exit */ } }
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    console.error(`\n${sig}: cleaning up`);
    void cleanupAll().finally(() => process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1)));
  });
}
