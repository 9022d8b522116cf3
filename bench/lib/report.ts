// Turning measured tps into the printed table, ratios and goal verdicts.
export type Grid = Record<string, Record<string, number | null>>; // mode -> target -> tps

export interface Goal { what: string; num: string; den: string; min: number }
export interface Verdict { goal: string; status: 'PASS' | 'MISS' | 'n/a'; worst?: { mode: string; ratio: number } }

export function median(xs: readonly number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** (max - min) / median: how far to trust a median of a few noisy runs. */
export function spread(xs: readonly number[]): number | null {
  const m = median(xs);
  return m && xs.length > 1 ? (Math.max(...xs) - Math.min(...xs)) / m : null;
}

export function ratio(grid: Grid, mode: string, num: string, den: string): number | null {
  const [a, b] = [grid[mode]?.[num], grid[mode]?.[den]];
  return a != null && b ? a / b : null;
}

export function table(rows: string[], cols: string[], cell: (r: string, c: string) => string, corner = 'mode'): string {
  const lines = [[corner, ...cols], ...rows.map((r) => [r, ...cols.map((c) => cell(r, c))])];
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return lines.map((l) => l.map((v, i) => (i ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** A goal holds when the ratio meets `min` in every mode that has both figures. */
export function verdict(grid: Grid, modes: readonly string[], g: Goal): Verdict {
  let worst: Verdict['worst'];
  for (const mode of modes) {
    const r = ratio(grid, mode, g.num, g.den);
    if (r !== null && (!worst || r < worst.ratio)) worst = { mode, ratio: r };
  }
  if (!worst) return { goal: g.what, status: 'n/a' };
  return { goal: g.what, status: worst.ratio >= g.min ? 'PASS' : 'MISS', worst };
}

export const fmtTps = (v: number | null | undefined) => (v == null ? '-' : Math.round(v).toString());
export const fmtPct = (v: number | null) => (v == null ? '-' : `${(v * 100).toFixed(0)}%`);
export const fmtRatio = (v: number | null) => (v == null ? '-' : v.toFixed(3));
