// Fits planner cost units to seconds. Planner costs are in units of one sequential page read
// and vary from time by an order of magnitude across statement shapes (a function call is one
// cost unit however long it runs), so each fingerprint gets its own factor, learned from its
// executions and shrunk toward the all-statements factor while it has few of them.
//
// The fit is in log space (seconds / cost spans decades), as an exponentially weighted mean
// so a plan or data change is followed within a few dozen executions.

/** Prior seconds per planner cost unit before anything is observed: ~10 µs, what a point lookup measures on current hardware. */
export const PRIOR_SECONDS_PER_COST = 1e-5;
/**
 * Executions' worth of weight the all-statements factor has in a fingerprint's estimate. One:
 * shapes differ by decades, so a shape's own executions must dominate after a few.
 */
const PRIOR_WEIGHT = 1;
const RATE = 0.1;
/** Costs below this (a cached constant, "SELECT 1") carry no signal about the factor. */
const MIN_COST = 0.01;

class LogMean {
  n = 0;
  mean = 0;

  add(x: number): void {
    this.n++;
    this.mean += (x - this.mean) * Math.max(RATE, 1 / this.n);
  }
}

export class CostCalibration {
  private readonly global = new LogMean();
  private readonly byKey = new Map<string, LogMean>();

  constructor(private readonly maxKeys = 20_000) {}

  /** Learns from one execution: planner cost of its plan, and the seconds it took. */
  observe(key: string, plannerCost: number, seconds: number): void {
    if (!(plannerCost >= MIN_COST) || !(seconds > 0)) return;
    const r = Math.log(seconds / plannerCost);
    this.global.add(r);
    let m = this.byKey.get(key);
    if (!m) {
      if (this.byKey.size >= this.maxKeys) this.byKey.delete(this.byKey.keys().next().value!);
      m = new LogMean();
      this.byKey.set(key, m);
    }
    m.add(r);
  }

  /** Seconds per planner cost unit for this key. */
  factor(key: string): number {
    const g = this.global.n > 0 ? this.global.mean : Math.log(PRIOR_SECONDS_PER_COST);
    const m = this.byKey.get(key);
    if (!m) return Math.exp(g);
    return Math.exp((m.n * m.mean + PRIOR_WEIGHT * g) / (m.n + PRIOR_WEIGHT));
  }

  /** Executions this key's factor was learned from. */
  samples(key: string): number {
    return this.byKey.get(key)?.n ?? 0;
  }

  seconds(key: string, plannerCost: number): number {
    return Math.max(plannerCost, MIN_COST) * this.factor(key);
  }

  forget(key: string): void {
    this.byKey.delete(key);
  }
}
