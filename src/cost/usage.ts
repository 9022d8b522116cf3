// What a statement used, and what that costs on a rate card.
import type { RateCard } from './rate-card.ts';

export const PAGE_BYTES = 8192;
export const GIB = 1024 ** 3;

export interface Usage {
  /** Seconds of backend time. */
  cpuSeconds: number;
  /** 8 KiB pages read (buffer hits and reads). */
  pages: number;
  /** Table and index bytes scanned. */
  scannedBytes: number;
  /** Result bytes sent to the client. */
  egressBytes: number;
}

/** Dollars by resource. */
export interface Cost {
  compute: number;
  io: number;
  scanned: number;
  egress: number;
  total: number;
}

export const RESOURCES = ['compute', 'io', 'scanned', 'egress'] as const;
export type Resource = (typeof RESOURCES)[number];

export function priceUsage(u: Usage, card: RateCard): Cost {
  const compute = u.cpuSeconds * card.computePerCpuSecond;
  const io = (u.pages / 1e6) * card.ioPerMillionPages;
  const scanned = (u.scannedBytes / GIB) * card.scannedPerGb;
  const egress = (u.egressBytes / GIB) * card.egressPerGb;
  return { compute, io, scanned, egress, total: compute + io + scanned + egress };
}

export function zeroCost(): Cost {
  return { compute: 0, io: 0, scanned: 0, egress: 0, total: 0 };
}

export function addCost(into: Cost, c: Cost): void {
  into.compute += c.compute;
  into.io += c.io;
  into.scanned += c.scanned;
  into.egress += c.egress;
  into.total += c.total;
}

/** Dollars for people: enough digits that a single cheap statement is not shown as $0.00. */
export function formatUsd(v: number): string {
  if (v === 0) return '$0';
  const a = Math.abs(v);
  const digits = a >= 100 ? 2 : a >= 1 ? 4 : Math.min(12, 2 - Math.floor(Math.log10(a)) + 2);
  return `$${v.toFixed(digits)}`;
}
