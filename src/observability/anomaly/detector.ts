// A streaming anomaly detector for one metric: O(1) work and memory per update, no I/O.
//
// Each value is compared with two baselines:
//   - a level: an EWMA of the value, with a spread that is an EWMA of absolute deviations (a
//     mean absolute deviation, which one outlier moves far less than a variance would);
//   - a seasonal profile: per slot of a period (by default 288 five-minute slots of a day), an
//     EWMA of the values seen in that slot on earlier periods, with its own spread.
// The seasonal profile is trusted only once its slot has been seen on `minSeasons` periods, and
// only while it has been predicting better than the level (smaller long-run absolute error), so
// a series without a daily rhythm keeps being judged against its level.
//
// The distance from the trusted baseline, in spreads, is the deviation. How alarming a given
// deviation is depends on the series (a spiky series produces 8-spread points every day, a
// smooth one never does), so it is calibrated against the series' own history: the surprise is
// how many standard deviations the deviation lies above the long-run mean of past deviations.
// Separately, a value beyond the whole range seen so far, by more than `rangeTolerance` of that
// range and by at least `rangeMinDeviation` spreads, is an anomaly on its own: people read
// "higher than ever" as an anomaly even when the series is spiky (NAB's Numenta detector has the
// same rule, for the same reason). The deviation floor keeps i.i.d. noise, which keeps setting
// small records, from paging.
//
// Hysteresis turns surprises into alerts: an alert opens when the surprise reaches `openAt` or
// the range is broken, and closes only after `closeAfter` consecutive quiet points (surprise
// below `closeBelow` and deviation below `closeBelowDeviation`). `score` is the point's news value: inside an alert that is already open it is 0,
// so an episode is reported once, when it starts. `rawScore` is the same measure without that.

export type Direction = 'up' | 'down' | 'both';

export interface DetectorOptions {
  /** Which deviations count: 'up' for latency and error rate, where only rises matter. */
  direction: Direction;
  /** Points used only for learning (level, spread, range, profile) before anything is scored. */
  warmup: number;
  /** EWMA rate of the level: about 1/rate points of memory. */
  levelRate: number;
  /** EWMA rate of the level's spread. Slower than the level, so a burst does not explain itself away. */
  spreadRate: number;
  /** Spread floor as a fraction of |baseline|, so a flat series does not turn rounding noise into anomalies. */
  relativeSpreadFloor: number;
  /** Absolute spread floor, in the metric's unit (raise it for a metric that sits at 0, like an error rate). */
  minSpread: number;
  /** Length of the seasonal period in ms; 0 disables seasonality. Seasonality needs timestamps. */
  seasonPeriodMs: number;
  /** Slots per period. */
  seasonSlots: number;
  /** EWMA rate of a slot's value and spread, per period (points within one slot and period share it). */
  seasonRate: number;
  /** Periods a slot must have been seen on before the seasonal baseline may be used. */
  minSeasons: number;
  /** EWMA rate of both baselines' absolute errors, compared to pick the one that predicts better. */
  modelErrorRate: number;
  /** EWMA rate of the mean and variance of past deviations, which calibrate the surprise. */
  calibrationRate: number;
  /** Surprise (standard deviations above the usual deviation) that opens an alert. */
  openAt: number;
  /** An open alert closes after `closeAfter` consecutive quiet points: surprise below `closeBelow` and deviation below `closeBelowDeviation` spreads. */
  closeBelow: number;
  closeBelowDeviation: number;
  /**
   * An alert opens only when the point is also at least this many spreads from the baseline.
   * Calibration judges a point against the series' own past deviations, so on a series that sat
   * still a small wobble is very surprising; live metrics set a floor here (NAB scores use 0).
   */
  minDeviation: number;
  /**
   * A point teaches the calibration at most this many of its standard deviations above the usual
   * deviation. Unclipped, one incident (tens of seconds far out) teaches the detector that huge
   * deviations are normal, and a second incident within ~1/calibrationRate points goes unseen;
   * live metrics clip (the engine uses 3). NAB's corpus scores best unclipped (Infinity).
   */
  calibrationClip: number;
  closeAfter: number;
  /** A value beyond [min, max] seen so far by more than this fraction of max - min is an anomaly; negative disables. */
  rangeTolerance: number;
  /** ...provided it is also at least this many spreads from the level. */
  rangeMinDeviation: number;
  /** ...and at least this many points have been seen (the first stretch keeps setting records). */
  rangeMinPoints: number;
}

/** Tuned once on the NAB corpus (bench/anomaly.ts) and checked to stay quiet on steady noise. */
export const DEFAULT_DETECTOR_OPTIONS: Readonly<DetectorOptions> = {
  direction: 'both',
  warmup: 100,
  levelRate: 0.05,
  spreadRate: 0.003,
  relativeSpreadFloor: 1e-4,
  minSpread: 1e-9,
  seasonPeriodMs: 86_400_000,
  seasonSlots: 288,
  seasonRate: 0.3,
  minSeasons: 5,
  modelErrorRate: 0.0005,
  calibrationRate: 0.003,
  openAt: 10,
  closeBelow: 3,
  closeBelowDeviation: 7,
  minDeviation: 0,
  calibrationClip: Infinity,
  closeAfter: 20,
  rangeTolerance: 0.05,
  rangeMinDeviation: 7,
  rangeMinPoints: 300,
};

export interface DetectorOutput {
  /** Anomaly score in [0, 1]: 0.5 at `openAt`, 1 for a broken range; 0 inside an alert already open. */
  score: number;
  /** The same measure without hysteresis. */
  rawScore: number;
  /** The trusted baseline's prediction for this point. */
  expected: number;
  /** The value fed. */
  actual: number;
  /** (actual - expected) / spread: a robust z-like distance, signed. */
  deviation: number;
  /** Inside an alert (after hysteresis). */
  open: boolean;
  /** This update opened an alert. */
  opened: boolean;
  /** This update closed one. */
  closed: boolean;
  /** Which baseline judged this point. */
  baseline: 'level' | 'seasonal';
}

/** Calibration needs a few deviations before its variance means anything. */
const CALIBRATION_MIN_POINTS = 10;
/** Floor of the calibration's standard deviation, in spreads (a perfectly regular series). */
const CALIBRATION_MIN_STD = 1e-3;
/** A slot's spread is at least this fraction of the level's, so a slot that was identical on every period does not make tiny deviations infinite. */
const SEASONAL_SPREAD_FLOOR = 0.1;
/** EWMA rate of the gap between points, used to share a slot's per-period rate among the points landing in it. */
const GAP_RATE = 0.01;

/** Per-slot EWMAs of value and absolute deviation over a period, keyed by time within the period. */
class SeasonalProfile {
  private readonly mean: Float64Array;
  private readonly spread: Float64Array;
  private readonly visits: Uint32Array;
  private readonly lastPeriod: Float64Array;
  private readonly slotMs: number;
  private firstT = NaN;
  private lastT = NaN;
  private gapMs = NaN;

  constructor(
    private readonly periodMs: number,
    slots: number,
    private readonly rate: number,
  ) {
    this.mean = new Float64Array(slots);
    this.spread = new Float64Array(slots);
    this.visits = new Uint32Array(slots);
    this.lastPeriod = new Float64Array(slots).fill(NaN);
    this.slotMs = periodMs / slots;
  }

  slotOf(t: number): number {
    const inPeriod = ((t % this.periodMs) + this.periodMs) % this.periodMs;
    return Math.min(this.mean.length - 1, Math.floor(inPeriod / this.slotMs));
  }

  /** Seen on enough distinct periods, and the series itself is that old. */
  ready(slot: number, t: number, minSeasons: number): boolean {
    return this.visits[slot]! >= minSeasons && t - this.firstT >= minSeasons * this.periodMs;
  }

  expected(slot: number): number {
    return this.mean[slot]!;
  }

  spreadOf(slot: number): number {
    return this.spread[slot]!;
  }

  update(slot: number, t: number, x: number): void {
    if (Number.isNaN(this.firstT)) this.firstT = t;
    const gap = t - this.lastT;
    if (gap > 0) this.gapMs = Number.isNaN(this.gapMs) ? gap : this.gapMs + GAP_RATE * (gap - this.gapMs);
    this.lastT = t;
    if (this.visits[slot] === 0) {
      this.mean[slot] = x;
      this.spread[slot] = 0;
    } else {
      // Per-second points with 5-minute slots put ~300 points in a slot each period: together
      // they should move it as much as one point per period would.
      const perVisit = Number.isNaN(this.gapMs) ? 1 : Math.max(1, this.slotMs / this.gapMs);
      const r = perVisit === 1 ? this.rate : 1 - Math.pow(1 - this.rate, 1 / perVisit);
      const d = x - this.mean[slot]!;
      this.spread[slot] = this.spread[slot]! + r * (Math.abs(d) - this.spread[slot]!);
      this.mean[slot] = this.mean[slot]! + r * d;
    }
    const period = Math.floor(t / this.periodMs);
    if (this.lastPeriod[slot] !== period) {
      this.visits[slot] = this.visits[slot]! + 1;
      this.lastPeriod[slot] = period;
    }
  }
}

export class StreamingDetector {
  readonly options: Readonly<DetectorOptions>;
  private seen = 0;
  private level = 0;
  private spread = 0;
  private min = Infinity;
  private max = -Infinity;
  private readonly seasonal: SeasonalProfile | null;
  private levelError = 0;
  private seasonalError = 0;
  /** Count, mean and variance of past directed deviations. */
  private calibrated = 0;
  private calMean = 0;
  private calVar = 0;
  private isOpen = false;
  private quietRun = 0;

  constructor(options: Partial<DetectorOptions> = {}) {
    this.options = { ...DEFAULT_DETECTOR_OPTIONS, ...options };
    const o = this.options;
    this.seasonal = o.seasonPeriodMs > 0 && o.seasonSlots >= 1 ? new SeasonalProfile(o.seasonPeriodMs, Math.floor(o.seasonSlots), o.seasonRate) : null;
  }

  update(value: number, timestampMs?: number): DetectorOutput {
    const o = this.options;
    // A missing or broken sample says nothing about the metric: report it, learn nothing.
    if (!Number.isFinite(value)) return this.output(0, 0, this.level, value, 0, false, false, 'level');
    const slot = this.seasonal && timestampMs !== undefined && Number.isFinite(timestampMs) ? this.seasonal.slotOf(timestampMs) : -1;

    if (this.seen === 0) {
      this.level = value;
      this.seen = 1;
      this.track(value, slot, timestampMs);
      return this.output(0, 0, value, value, 0, false, false, 'level');
    }

    const levelResidual = value - this.level;
    if (this.seen < o.warmup) {
      // Running mean and mean absolute deviation: every warm-up point weighs the same.
      this.level += levelResidual / (this.seen + 1);
      this.spread += (Math.abs(levelResidual) - this.spread) / this.seen;
      this.seen++;
      this.track(value, slot, timestampMs);
      return this.output(0, 0, this.level, value, 0, false, false, 'level');
    }

    const levelSpread = Math.max(this.spread, o.minSpread + Math.abs(this.level) * o.relativeSpreadFloor);
    let expected = this.level;
    let spread = levelSpread;
    let baseline: DetectorOutput['baseline'] = 'level';
    if (slot >= 0 && this.seasonal!.ready(slot, timestampMs!, o.minSeasons)) {
      const seasonalExpected = this.seasonal!.expected(slot);
      // Judge by the errors so far, then let this point's errors count for the next one.
      if (this.seasonalError < this.levelError) {
        expected = seasonalExpected;
        spread = Math.max(
          this.seasonal!.spreadOf(slot),
          o.minSpread + Math.abs(expected) * o.relativeSpreadFloor,
          levelSpread * SEASONAL_SPREAD_FLOOR,
        );
        baseline = 'seasonal';
      }
      this.levelError += o.modelErrorRate * (Math.abs(levelResidual) - this.levelError);
      this.seasonalError += o.modelErrorRate * (Math.abs(value - seasonalExpected) - this.seasonalError);
    }
    const deviation = (value - expected) / spread;
    const directed = this.directed(deviation);

    let surprise = 0;
    if (this.calibrated > CALIBRATION_MIN_POINTS) {
      surprise = (directed - this.calMean) / Math.max(Math.sqrt(this.calVar), CALIBRATION_MIN_STD);
    }
    const rangeBroken = this.seen >= o.rangeMinPoints && this.beyondRange(value) && this.directed(levelResidual / levelSpread) >= o.rangeMinDeviation;
    const rawScore = rangeBroken ? 1 : surprise <= 0 ? 0 : surprise / (surprise + o.openAt);

    let score = rawScore;
    let opened = false;
    let closed = false;
    if (this.isOpen) {
      score = 0;
      // Quiet means unsurprising *and* near the baseline: in a dense burst the calibration soon
      // stops finding spikes surprising, but the burst is not over while they keep coming.
      if (!rangeBroken && surprise < o.closeBelow && directed < o.closeBelowDeviation) {
        if (++this.quietRun >= o.closeAfter) {
          this.isOpen = false;
          closed = true;
        }
      } else this.quietRun = 0;
    } else if ((rangeBroken || surprise >= o.openAt) && directed >= o.minDeviation) {
      this.isOpen = true;
      this.quietRun = 0;
      opened = true;
    }

    // Learn from every point, anomalous or not: a lasting change becomes the new normal.
    const g = Math.max(o.calibrationRate, 1 / (this.calibrated + 1));
    const clip = this.calibrated > CALIBRATION_MIN_POINTS ? this.calMean + o.calibrationClip * Math.max(Math.sqrt(this.calVar), CALIBRATION_MIN_STD) : Infinity;
    const d = Math.min(directed, clip) - this.calMean;
    this.calMean += g * d;
    this.calVar = (1 - g) * (this.calVar + g * d * d);
    this.calibrated++;
    this.level += o.levelRate * levelResidual;
    this.spread += o.spreadRate * (Math.abs(levelResidual) - this.spread);
    this.seen++;
    this.track(value, slot, timestampMs);
    return this.output(score, rawScore, expected, value, deviation, opened, closed, baseline);
  }

  /** The deviation that counts in the configured direction (negative: the wrong way). */
  private directed(z: number): number {
    const dir = this.options.direction;
    return dir === 'up' ? z : dir === 'down' ? -z : Math.abs(z);
  }

  /** Beyond the range seen so far, in the configured direction, by more than the tolerance. */
  private beyondRange(value: number): boolean {
    const tol = this.options.rangeTolerance;
    const width = this.max - this.min;
    if (tol < 0 || !(width > 0)) return false;
    const dir = this.options.direction;
    return (dir !== 'down' && value > this.max + width * tol) || (dir !== 'up' && value < this.min - width * tol);
  }

  private track(value: number, slot: number, t: number | undefined): void {
    if (value > this.max) this.max = value;
    if (value < this.min) this.min = value;
    if (slot >= 0) this.seasonal!.update(slot, t!, value);
  }

  private output(score: number, rawScore: number, expected: number, actual: number, deviation: number, opened: boolean, closed: boolean, baseline: DetectorOutput['baseline']): DetectorOutput {
    return { score, rawScore, expected, actual, deviation, open: this.isOpen, opened, closed, baseline };
  }
}
