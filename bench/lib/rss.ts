// A process's resident memory, from the kernel's own accounting.
import { readFileSync } from 'node:fs';

export interface Rss { rssMb: number; peakMb: number }

/** VmRSS (now) and VmHWM (high-water mark) of pid, in MB (MiB). Linux only. */
export function readRss(pid: number): Rss {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}
