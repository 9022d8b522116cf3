// Checking what a caller hands the forecaster. Arguments that make the question meaningless
// (a negative amount spent, a horizon that is not a number) are rejected with an error naming
// the argument; odd hourly values, which telemetry produces all the time, are repaired and
// counted so the forecast still comes out.

export class ForecastInputError extends Error {
  override name = 'ForecastInputError';
}

/** About a year of hours: more is a caller's unit mistake (ms or seconds passed as hours). */
export const MAX_HORIZON_HOURS = 24 * 366;

export interface CleanHistory {
  values: Float64Array;
  /** Missing or non-finite hours filled in (from the same hour a day before, else the hour before, else 0). */
  filled: number;
  /** Negative hours (refunds, credits, counter resets) raised to 0: spend forecasts are of charges. */
  clamped: number;
}

export function cleanHourly(hourly: unknown): CleanHistory {
  if (!Array.isArray(hourly) && !(hourly instanceof Float64Array) && !(hourly instanceof Float32Array)) {
    throw new ForecastInputError(`hourly must be an array of numbers (one per hour, oldest first), got ${describe(hourly)}`);
  }
  const n = hourly.length;
  const values = new Float64Array(n);
  let filled = 0;
  let clamped = 0;
  for (let i = 0; i < n; i++) {
    const raw: unknown = hourly[i];
    let v = typeof raw === 'number' ? raw : NaN;
    if (!Number.isFinite(v)) {
      // A lost sample is most like the same hour yesterday; without one, like the hour before.
      v = i >= 24 ? values[i - 24]! : i > 0 ? values[i - 1]! : 0;
      filled++;
    } else if (v < 0) {
      v = 0;
      clamped++;
    }
    values[i] = v;
  }
  return { values, filled, clamped };
}

/** A finite number >= 0, or a ForecastInputError naming the argument. */
export function requireNonNegative(name: string, value: unknown, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ForecastInputError(`${name} must be a finite number >= 0, got ${describe(value)}`);
  }
  if (value > max) throw new ForecastInputError(`${name} must be at most ${max}, got ${value}`);
  return value;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}...` : v);
  return typeof v;
}
