// Hot / warm / cold per table from observed access, and what moving the cold ones out of the
// database's storage would save.
//
// Access comes from two places: the statements the proxy priced (every shape's calls, charged
// to the tables its parse tree reads or writes, over the cost engine's window), and the
// server's pg_stat_user_tables, which also sees traffic that bypasses the proxy: the change in
// seq_scan + idx_scan and in rows inserted, updated and deleted since the advisor's previous
// run (less the scans the advisor's own validation builds made), or, on a first run, whether
// last_seq_scan / last_idx_scan fall inside the cost engine's window.
//   hot:  at least HOT_ACCESSES_PER_HOUR reads and writes per hour (one a minute);
//   warm: some access in the window, less than that;
//   cold: none at all in the window.
// A short window makes "cold" tentative; the advice says how long it is.
//
// Savings for a cold table: its total size (heap, TOAST, indexes; no credit for the compression
// an export such as Parquet would bring) at the rate card's storagePerGbMonth, against the
// cold-storage list price. Default: Amazon S3 Standard-IA, $0.0125 per GB-month with $0.01 per
// GB retrieved (us-east-1, https://aws.amazon.com/s3/pricing/, 2025); the Glacier Instant
// Retrieval price ($0.004 per GB-month, $0.03 per GB retrieved) is given alongside.
import type { RateCard } from '../rate-card.ts';
import { GIB } from '../usage.ts';

export const HOT_ACCESSES_PER_HOUR = 60;

export interface ColdStoragePrice {
  name: string;
  usdPerGbMonth: number;
  retrievalUsdPerGb: number;
}

export const S3_STANDARD_IA: ColdStoragePrice = { name: 'S3 Standard-IA', usdPerGbMonth: 0.0125, retrievalUsdPerGb: 0.01 };
export const S3_GLACIER_INSTANT: ColdStoragePrice = { name: 'S3 Glacier Instant Retrieval', usdPerGbMonth: 0.004, retrievalUsdPerGb: 0.03 };

export type Tier = 'hot' | 'warm' | 'cold';

export interface TableAccess {
  /** Calls of proxied statements reading / writing the table, over proxyWindowSeconds. */
  proxyReads: number;
  proxyWrites: number;
  proxyWindowSeconds: number;
  /** pg_stat_user_tables changes since the previous advisor run, over serverWindowSeconds; null on a first run. */
  serverScans: number | null;
  serverRowsWritten: number | null;
  serverWindowSeconds: number | null;
  /** First run: last_seq_scan or last_idx_scan falls inside the proxy window. */
  scannedInWindow: boolean;
}

export interface TierVerdict {
  tier: Tier;
  readsPerHour: number;
  writesPerHour: number;
}

const perHour = (n: number | null, seconds: number | null) => (n === null || !seconds || seconds <= 0 ? 0 : (n * 3600) / seconds);

export function classifyTier(a: TableAccess): TierVerdict {
  const readsPerHour = Math.max(perHour(a.proxyReads, a.proxyWindowSeconds), perHour(Math.max(0, a.serverScans ?? 0), a.serverWindowSeconds));
  const writesPerHour = Math.max(perHour(a.proxyWrites, a.proxyWindowSeconds), perHour(Math.max(0, a.serverRowsWritten ?? 0), a.serverWindowSeconds));
  const touched = a.proxyReads > 0 || a.proxyWrites > 0 || (a.serverScans ?? 0) > 0 || (a.serverRowsWritten ?? 0) > 0 || a.scannedInWindow;
  const tier: Tier = !touched ? 'cold' : readsPerHour + writesPerHour >= HOT_ACCESSES_PER_HOUR ? 'hot' : 'warm';
  return { tier, readsPerHour, writesPerHour };
}

export interface StorageCosts {
  storageUsdPerMonth: number;
  coldUsdPerMonth: number;
  savingsUsdPerMonth: number;
}

/** What the table's bytes cost per month where they are, in cold storage, and the difference (never negative). */
export function storageCosts(bytes: number, card: RateCard, cold: ColdStoragePrice): StorageCosts {
  const gib = bytes / GIB;
  const storageUsdPerMonth = gib * card.storagePerGbMonth;
  const coldUsdPerMonth = gib * cold.usdPerGbMonth;
  return { storageUsdPerMonth, coldUsdPerMonth, savingsUsdPerMonth: Math.max(0, storageUsdPerMonth - coldUsdPerMonth) };
}
