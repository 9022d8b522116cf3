// Nelder-Mead simplex minimisation: no gradients, a handful of dimensions, a bounded number of
// function evaluations. Smoothing parameters are fitted with it (as R's forecast::ets does with
// optim's default method); callers map bounded parameters onto the real line themselves.

export interface NelderMeadOptions {
  /** Initial simplex: x0 plus `step` along each axis. */
  step: number;
  /** Hard budget of objective evaluations: the fit runs once a minute per tenant in the event loop. */
  maxEvals: number;
  /** Stop when the simplex's best and worst values differ by less than this (relative to |best|). */
  tolerance: number;
}

export const DEFAULT_NELDER_MEAD: Readonly<NelderMeadOptions> = { step: 0.5, maxEvals: 300, tolerance: 1e-7 };

export interface Minimum {
  x: number[];
  value: number;
  evals: number;
}

/** Minimises f from x0. A non-finite f(x) counts as +Infinity, so the simplex backs away from it. */
export function nelderMead(f: (x: readonly number[]) => number, x0: readonly number[], options: Partial<NelderMeadOptions> = {}): Minimum {
  const o = { ...DEFAULT_NELDER_MEAD, ...options };
  const d = x0.length;
  let evals = 0;
  const eval_ = (x: number[]): number => {
    evals++;
    const v = f(x);
    return Number.isFinite(v) ? v : Infinity;
  };
  const pts: number[][] = [Array.from(x0)];
  for (let i = 0; i < d; i++) {
    const p = Array.from(x0);
    p[i]! += o.step;
    pts.push(p);
  }
  const vals = pts.map(eval_);
  const order = pts.map((_, i) => i);
  const along = (from: number[], to: number[], t: number) => from.map((v, i) => v + t * (to[i]! - v));

  while (evals < o.maxEvals) {
    order.sort((a, b) => vals[a]! - vals[b]!);
    const best = order[0]!;
    const worst = order[d]!;
    const second = order[d - 1] ?? best;
    if (Math.abs(vals[worst]! - vals[best]!) <= o.tolerance * (Math.abs(vals[best]!) + 1e-300)) break;
    const centroid = new Array<number>(d).fill(0);
    for (const i of order.slice(0, d)) for (let k = 0; k < d; k++) centroid[k]! += pts[i]![k]! / d;

    const reflected = along(pts[worst]!, centroid, 2);
    const fr = eval_(reflected);
    if (fr < vals[best]!) {
      const expanded = along(pts[worst]!, centroid, 3);
      const fe = eval_(expanded);
      [pts[worst], vals[worst]] = fe < fr ? [expanded, fe] : [reflected, fr];
    } else if (fr < vals[second]!) {
      [pts[worst], vals[worst]] = [reflected, fr];
    } else {
      // Contract towards the centroid, from whichever side is better.
      const outside = fr < vals[worst]!;
      const contracted = along(pts[worst]!, centroid, outside ? 1.5 : 0.5);
      const fc = eval_(contracted);
      if (fc < Math.min(fr, vals[worst]!)) {
        [pts[worst], vals[worst]] = [contracted, fc];
      } else {
        // Shrink everything towards the best point.
        for (const i of order.slice(1)) {
          pts[i] = along(pts[best]!, pts[i]!, 0.5);
          vals[i] = eval_(pts[i]!);
        }
      }
    }
  }
  let best = 0;
  for (let i = 1; i <= d; i++) if (vals[i]! < vals[best]!) best = i;
  return { x: pts[best]!, value: vals[best]!, evals };
}
