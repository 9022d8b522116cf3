// Synthetic hourly spend for the forecast backtest: a few tenant shapes, reproducible from a seed.
//
// Every series is rate(t) x day factor x hourly noise, where
//   - rate(t) is the shape's deterministic profile (hour of day, day of week, trend, shifts);
//   - the day factor is an AR(1) in logs, so busy and quiet days come in runs and a month's
//     total is genuinely uncertain (with i.i.d. noise alone month totals would be too easy);
//   - the hourly noise is log-normal with mean 1.
// Times are UTC; a business's local day is modelled as an offset from UTC.
import { mulberry32 } from '../../src/seeded-random.ts';

export interface SpendSeries {
  family: 'synthetic' | 'nab';
  name: string;
  /** What the series stands for, for the bench's header. */
  about: string;
  /** UTC ms of the first hour. */
  start: number;
  /** Dollars per hour, contiguous. */
  values: Float64Array;
}


export function gaussian(uniform: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

const HOUR = 3_600_000;

interface Shape {
  name: string;
  about: string;
  /** $/hour before noise, given the hour's index, hour of day (UTC), day of week (0 = Sunday) and a uniform draw source. */
  rate(i: number, hourOfDay: number, dayOfWeek: number, u: () => number): number;
  /** Log-sd of the hourly noise. */
  noise: number;
  /** Log-sd of the day factor's innovations, and its persistence. */
  daySd: number;
  dayPersistence: number;
}

/** A smooth bump between from and to (hours of day), 0 outside: the working day's ramp up and down. */
function bump(hour: number, from: number, to: number): number {
  if (hour < from || hour >= to) return 0;
  return Math.sin((Math.PI * (hour - from + 0.5)) / (to - from));
}

const weekday = (dow: number) => dow >= 1 && dow <= 5;

const SHAPES: Shape[] = [
  {
    name: 'business-hours',
    about: 'US-East office hours (13-23 UTC) on weekdays, a small always-on floor, quiet weekends',
    rate: (_i, h, dow) => 0.4 + (weekday(dow) ? 5 * bump(h, 13, 23) : 0.3 * bump(h, 14, 22)),
    noise: 0.15,
    daySd: 0.06,
    dayPersistence: 0.7,
  },
  {
    name: 'growing',
    about: 'a start-up growing 30% a month, daily cycle, milder weekends',
    rate: (i, h, dow) => Math.exp((Math.log(1.3) * i) / (30 * 24)) * (1 + 1.5 * bump(h, 8, 22)) * (weekday(dow) ? 1 : 0.7),
    noise: 0.2,
    daySd: 0.05,
    dayPersistence: 0.7,
  },
  {
    name: 'spiky',
    about: 'a base load plus ad-hoc analytics: about three log-normal spikes a day at random hours, a third of the bill',
    rate: (_i, h, _dow, u) => 1 + 0.5 * bump(h, 9, 21) + (u() < 3 / 24 ? 4 * Math.exp(0.8 * gaussian(u)()) : 0),
    noise: 0.3,
    daySd: 0.08,
    dayPersistence: 0.5,
  },
  {
    name: 'weekend-heavy',
    about: 'a consumer app: evening peak (UTC 17-03), Saturdays and Sundays about twice the weekdays',
    rate: (_i, h, dow) => (dow === 0 || dow === 6 ? 2 : dow === 5 ? 1.4 : 1) * (0.5 + 2 * bump((h + 7) % 24, 0, 10) + 0.6 * bump(h, 8, 17)),
    noise: 0.18,
    daySd: 0.07,
    dayPersistence: 0.8,
  },
  {
    name: 'nightly-batch',
    about: 'nearly idle (hours of exactly 0) but for a nightly ETL job, 02-05 UTC, growing with the data 10% a month',
    rate: (i, h) => (h >= 2 && h < 5 ? 12 * (1 + (0.1 * i) / (30 * 24)) : 0.05),
    noise: 0.25,
    daySd: 0.1,
    dayPersistence: 0.6,
  },
  {
    name: 'step-change',
    about: 'office hours like business-hours; from day 50 a new workload adds 60% around the clock',
    rate: (i, h, dow) => (0.4 + (weekday(dow) ? 4 * bump(h, 13, 23) : 0.2)) + (i >= 50 * 24 ? 1.2 : 0),
    noise: 0.15,
    daySd: 0.05,
    dayPersistence: 0.7,
  },
];

/** Every synthetic tenant, hourly from `start` for `days` days, from one seed. */
export function syntheticSeries(seed: number, start: number, days: number): SpendSeries[] {
  return SHAPES.map((shape, k) => {
    const u = mulberry32(seed * 1000 + k);
    const g = gaussian(u);
    const n = days * 24;
    const values = new Float64Array(n);
    let dayLog = 0;
    for (let i = 0; i < n; i++) {
      const t = new Date(start + i * HOUR);
      if (i % 24 === 0) dayLog = shape.dayPersistence * dayLog + shape.daySd * g();
      const rate = shape.rate(i, t.getUTCHours(), t.getUTCDay(), u);
      // Hours with an idle rate (zero-spend hours) are exactly 0 sometimes, as real bills are.
      const idle = rate < 0.1 && u() < 0.5;
      values[i] = idle ? 0 : rate * Math.exp(dayLog + shape.noise * g() - (shape.noise * shape.noise) / 2);
    }
    return { family: 'synthetic', name: shape.name, about: shape.about, start, values };
  });
}
