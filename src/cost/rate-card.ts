// Rate cards: what one unit of each resource a statement uses costs, in US dollars.
//
// GB here is a GiB (2^30 bytes), the unit AWS and Google bill in. A "page read" is one 8 KiB
// buffer the statement touched (shared_blks_hit + shared_blks_read): Aurora bills I/O per
// request, which maps to pages read from storage; counting hits too makes the price independent
// of cache warmth, the conservative choice for a budget.
import { readFileSync } from 'node:fs';

export interface RateCard {
  name: string;
  /** $ per CPU-second of statement execution (wall time of the backend running it). */
  computePerCpuSecond: number;
  /** $ per million 8 KiB page reads. */
  ioPerMillionPages: number;
  /** $ per GiB of table and index data scanned. */
  scannedPerGb: number;
  /** $ per GiB of result data sent to the client. */
  egressPerGb: number;
  /** $ per GiB-month of stored data (tiering advice; queries are not charged for storage). */
  storagePerGbMonth: number;
}

const HOURS = 3600;

/**
 * Bundled presets (public list prices, us-east-1 / US multi-region, on-demand, as of 2025):
 * - aurora-standard: Aurora PostgreSQL Standard. db.r6g.large (2 vCPU) $0.26/h → $0.13 per
 *   vCPU-hour; I/O $0.20 per million requests; storage $0.10/GB-month; data transfer out to the
 *   internet $0.09/GB (first 10 TB tier). https://aws.amazon.com/rds/aurora/pricing/
 * - neon: Neon Launch plan. $0.14 per compute-unit-hour (1 CU = 1 vCPU, 4 GB RAM); storage
 *   $0.35/GB-month; public network transfer $0.10/GB beyond the allowance; no I/O charge.
 *   https://neon.com/pricing
 * - bigquery: BigQuery on-demand. $6.25 per TiB scanned ($6.25 / 1024 per GiB); active logical
 *   storage $0.02/GB-month; compute and result egress are not billed separately.
 *   https://cloud.google.com/bigquery/pricing
 */
export const RATE_CARD_PRESETS: Readonly<Record<string, Readonly<RateCard>>> = {
  'aurora-standard': {
    name: 'aurora-standard',
    computePerCpuSecond: 0.13 / HOURS,
    ioPerMillionPages: 0.2,
    scannedPerGb: 0,
    egressPerGb: 0.09,
    storagePerGbMonth: 0.1,
  },
  neon: {
    name: 'neon',
    computePerCpuSecond: 0.14 / HOURS,
    ioPerMillionPages: 0,
    scannedPerGb: 0,
    egressPerGb: 0.1,
    storagePerGbMonth: 0.35,
  },
  bigquery: {
    name: 'bigquery',
    computePerCpuSecond: 0,
    ioPerMillionPages: 0,
    scannedPerGb: 6.25 / 1024,
    egressPerGb: 0,
    storagePerGbMonth: 0.02,
  },
};

export const DEFAULT_RATE_CARD = 'aurora-standard';

const RATE_FIELDS = ['computePerCpuSecond', 'ioPerMillionPages', 'scannedPerGb', 'egressPerGb', 'storagePerGbMonth'] as const;

/**
 * A preset name, or a JSON file with any of the rate fields (plus optional "base": a preset to
 * start from, and "computePerVcpuHour" as an alternative to computePerCpuSecond).
 */
export function loadRateCard(spec: string): RateCard {
  const preset = RATE_CARD_PRESETS[spec];
  if (preset) return { ...preset };
  if (!/[./\\]/.test(spec)) {
    throw new Error(`unknown rate card "${spec}": use one of ${Object.keys(RATE_CARD_PRESETS).join(', ')}, or a JSON file`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(spec, 'utf8'));
  } catch (err) {
    throw new Error(`rate card ${spec}: ${(err as Error).message}`);
  }
  return rateCardFrom(raw, spec);
}

export function rateCardFrom(raw: unknown, name: string): RateCard {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`rate card ${name}: expected a JSON object`);
  const o = raw as Record<string, unknown>;
  const known = new Set<string>([...RATE_FIELDS, 'base', 'name', 'computePerVcpuHour']);
  const unknown = Object.keys(o).filter((k) => !known.has(k));
  if (unknown.length) throw new Error(`rate card ${name}: unknown field(s) ${unknown.join(', ')}; known: ${[...known].join(', ')}`);
  const baseName = o.base === undefined ? undefined : String(o.base);
  const base = baseName === undefined ? undefined : RATE_CARD_PRESETS[baseName];
  if (baseName !== undefined && !base) throw new Error(`rate card ${name}: unknown base "${baseName}"`);
  const card: RateCard = base ? { ...base } : { name, computePerCpuSecond: 0, ioPerMillionPages: 0, scannedPerGb: 0, egressPerGb: 0, storagePerGbMonth: 0 };
  card.name = typeof o.name === 'string' ? o.name : name;
  const num = (k: string): number => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`rate card ${name}: ${k} must be a non-negative number`);
    return v;
  };
  if (o.computePerVcpuHour !== undefined) card.computePerCpuSecond = num('computePerVcpuHour') / HOURS;
  for (const k of RATE_FIELDS) if (o[k] !== undefined) card[k] = num(k);
  return card;
}
