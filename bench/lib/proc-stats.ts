// A process's resident memory and CPU time, from the kernel's own accounting.
import { readFileSync } from 'node:fs';

export interface Rss { rssMb: number; peakMb: number }

/** VmRSS (now) and VmHWM (high-water mark) of pid, in MB (MiB). Linux only. */
export function readRss(pid: number): Rss {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

/** CPU time (user + system) a process has used so far, in seconds. Linux only. */
export function readCpuSeconds(pid: number): number {
  // Fields after the parenthesised command name; utime and stime are the 12th and 13th of those.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
}

/** USER_HZ: 100 on every Linux build Node supports. */
const CLOCK_TICKS = 100;
