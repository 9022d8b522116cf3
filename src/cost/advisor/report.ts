// The advice as rows (SHOW helios.advice) and as text (`helios cost advice`).
import type { Advice } from './advice.ts';

export const ADVICE_COLUMNS = ['kind', 'status', 'database', 'relation', 'reduction_pct', 'usd_per_month', 'statement', 'detail', 'fingerprint', 'query'] as const;

type Cell = string | number | null;

/** One row per index (recommended first), flag, hint and table tier. */
export function adviceRows(a: Advice): Cell[][] {
  const rows: Cell[][] = [];
  for (const i of a.indexes) {
    rows.push([
      'index', i.status, i.database, `${i.schema}.${i.table}`, i.bestReductionPct, i.status === 'recommended' ? i.netSavingsUsdPerMonth.toFixed(6) : null,
      i.statement, i.reason, i.statements.map((s) => s.fingerprint).join(',') || null, i.statements[0]?.query ?? null,
    ]);
  }
  for (const f of a.flags) rows.push([f.kind, 'flag', f.database, f.table, null, null, null, f.message, f.fingerprint, f.query]);
  for (const h of a.hints) rows.push([h.kind, 'hint', h.database, h.table, null, null, null, h.message, h.fingerprint, h.query]);
  for (const t of a.tiering) rows.push(['tier', t.tier, t.database, `${t.schema}.${t.table}`, null, t.savingsUsdPerMonth.toFixed(6), null, t.message, null, null]);
  return rows;
}

function table(columns: string[], rows: Cell[][]): string {
  const cells = rows.map((r) => r.map((v) => (v === null ? '' : String(v))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n') + '\n';
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

export function formatAdvice(a: Advice): string {
  const out: string[] = [];
  out.push(`advice from ${Math.round(a.windowSeconds)} s of cost figures (rate card ${a.rateCard}), made in ${a.durationMs} ms\n`);
  for (const d of a.databases) {
    out.push(`database ${d.database}: ${d.statements} statement(s) sampled, ${d.candidates} index candidate(s), validation ${d.validation}\n`);
    for (const n of d.notes) out.push(`  note: ${n}\n`);
  }
  const rec = a.indexes.filter((i) => i.status === 'recommended');
  out.push(`\nindexes recommended (${rec.length}):\n`);
  if (rec.length) {
    out.push(table(
      ['table', 'reduction_pct', 'net_usd', 'usd_per_month', 'statement'],
      rec.map((i) => [`${i.schema}.${i.table}`, i.bestReductionPct, i.netSavingsUsd.toFixed(6), i.netSavingsUsdPerMonth.toFixed(4), i.statement]),
    ));
  }
  const other = a.indexes.filter((i) => i.status !== 'recommended');
  if (other.length) {
    out.push(`\nindex candidates not recommended (${other.length}):\n`);
    out.push(table(['table', 'columns', 'status', 'reason'], other.map((i) => [`${i.schema}.${i.table}`, i.columns.join(','), i.status, clip(i.reason, 140)])));
  }
  if (a.flags.length || a.hints.length) {
    out.push(`\nflags and rewrite hints (${a.flags.length + a.hints.length}):\n`);
    out.push(table(['kind', 'fingerprint', 'detail', 'query'], [...a.flags, ...a.hints].map((f) => [f.kind, f.fingerprint, clip(f.message, 120), clip(f.query, 60)])));
  }
  if (a.tiering.length) {
    out.push(`\ntiering:\n`);
    out.push(table(
      ['table', 'tier', 'size_mib', 'reads_per_h', 'writes_per_h', 'storage_usd_month', 'savings_usd_month'],
      a.tiering.map((t) => [`${t.database}:${t.schema}.${t.table}`, t.tier, (t.totalBytes / 1024 / 1024).toFixed(1), t.readsPerHour.toFixed(1), t.writesPerHour.toFixed(1), t.storageUsdPerMonth.toFixed(6), t.savingsUsdPerMonth.toFixed(6)]),
    ));
  }
  return out.join('');
}
