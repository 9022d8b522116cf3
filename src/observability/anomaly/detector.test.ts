import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../seeded-random.ts';
import { DEFAULT_DETECTOR_OPTIONS, StreamingDetector, type DetectorOptions, type DetectorOutput } from './detector.ts';

function gaussian(seed: number): () => number {
  const u = mulberry32(seed);
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

const T0 = Date.UTC(2025, 0, 6); // a Monday, 00:00 UTC
const SECOND = 1000;
const DAY = 86_400_000;

/** Feeds `values` one per `stepMs` and returns every output. */
function feed(values: readonly number[], options: Partial<DetectorOptions> = {}, stepMs = SECOND): DetectorOutput[] {
  const d = new StreamingDetector(options);
  return values.map((v, i) => d.update(v, T0 + i * stepMs));
}

function noisy(n: number, seed: number, mean = 100, sd = 5): number[] {
  const g = gaussian(seed);
  return Array.from({ length: n }, () => mean + sd * g());
}

const openedAt = (outs: DetectorOutput[]) => outs.flatMap((o, i) => (o.opened ? [i] : []));

describe('StreamingDetector', () => {
  it('detects a step up at once, with a positive deviation and the old level as expected value', () => {
    const values = [...noisy(2000, 1), ...noisy(500, 2, 150)];
    const outs = feed(values);
    const opens = openedAt(outs);
    expect(opens[0]).toBe(2000);
    const first = outs[2000]!;
    expect(first.deviation).toBeGreaterThan(8);
    expect(Math.abs(first.expected - 100)).toBeLessThan(3);
    expect(first.score).toBeGreaterThanOrEqual(0.5);
    expect(first.actual).toBe(values[2000]);
  });

  it('detects a single spike and a single dip, each with its sign', () => {
    const values = noisy(4000, 3);
    values[2000] = 170;
    values[3000] = 30;
    const outs = feed(values);
    expect(openedAt(outs)).toEqual([2000, 3000]);
    expect(outs[2000]!.deviation).toBeGreaterThan(8);
    expect(outs[3000]!.deviation).toBeLessThan(-8);
    for (const i of [2000, 3000]) expect(Math.abs(outs[i]!.expected - 100)).toBeLessThan(3);
  });

  it('raises no alert on steady noisy series', () => {
    for (let seed = 10; seed < 15; seed++) {
      expect(openedAt(feed(noisy(20_000, seed))), `gaussian noise, seed ${seed}`).toEqual([]);
      const g = gaussian(seed + 100);
      const wave = Array.from({ length: 20_000 }, (_, i) => 100 + 20 * Math.sin((2 * Math.PI * i) / 3600) + 5 * g());
      expect(openedAt(feed(wave)), `slow wave plus noise, seed ${seed}`).toEqual([]);
    }
  });

  it('opens once per episode, holds through it, and closes after recovery', () => {
    const values = noisy(6000, 4);
    // Two bursts of spikes (every third second for a minute), an hour apart.
    for (const start of [2000, 5000]) for (let i = start; i < start + 60; i += 3) values[i] = 180;
    const outs = feed(values);
    expect(openedAt(outs)).toEqual([2000, 5000]);
    for (let i = 2001; i < 2058; i++) {
      expect(outs[i]!.open, `open at ${i}`).toBe(true);
      expect(outs[i]!.score, `score at ${i}`).toBe(0); // already reported
      // Still scored as anomalous, less so as the burst becomes what this series does.
      if (values[i]! > 170) expect(outs[i]!.rawScore, `raw score at ${i}`).toBeGreaterThan(0);
    }
    const closedAt = outs.flatMap((o, i) => (o.closed ? [i] : []));
    expect(closedAt).toHaveLength(2);
    // The last spike of a burst is at start + 57. Closing takes closeAfter quiet points; the
    // last spikes of a long burst may already count as quiet (the level has risen towards them).
    for (const [k, start] of [2000, 5000].entries()) {
      expect(closedAt[k]).toBeGreaterThan(start + 57);
      expect(closedAt[k]).toBeLessThanOrEqual(start + 57 + DEFAULT_DETECTOR_OPTIONS.closeAfter + 10);
    }
  });

  it('judges only the configured direction', () => {
    const values = noisy(4000, 5);
    values[2000] = 170;
    values[3000] = 30;
    expect(openedAt(feed(values, { direction: 'up' }))).toEqual([2000]);
    expect(openedAt(feed(values, { direction: 'down' }))).toEqual([3000]);
    expect(openedAt(feed(values, { direction: 'both' }))).toEqual([2000, 3000]);
  });

  it("direction 'up' pages once for a latency plateau, not again while it lasts or when it ends", () => {
    const values = [...noisy(2000, 6), ...noisy(300, 7, 200, 10), ...noisy(2000, 8)];
    const outs = feed(values, { direction: 'up' });
    expect(openedAt(outs)).toEqual([2000]);
    expect(outs[2000]!.deviation).toBeGreaterThan(0);
    expect(outs.at(-1)!.open).toBe(false);
  });

  describe('seasonality', () => {
    // Five-minute points; every day the metric jumps from 100 to 300 for 12:00-12:55.
    const STEP = 5 * 60_000;
    const PER_DAY = DAY / STEP;
    const DAYS = 10;
    const atNoon = (i: number) => {
      const minute = ((i * STEP) % DAY) / 60_000;
      return minute >= 720 && minute < 780;
    };
    const daily = (seed: number) => {
      const g = gaussian(seed);
      return Array.from({ length: DAYS * PER_DAY }, (_, i) => (atNoon(i) ? 300 : 100) + 3 * g());
    };

    it('learns a repeating daily peak, so the peak is expected and not anomalous once enough periods were seen', () => {
      const values = daily(8);
      const outs = feed(values, {}, STEP);
      const learned = (DEFAULT_DETECTOR_OPTIONS.minSeasons + 1) * PER_DAY;
      expect(openedAt(outs).filter((i) => i >= learned)).toEqual([]);
      for (let day = DEFAULT_DETECTOR_OPTIONS.minSeasons + 1; day < DAYS; day++) {
        const peak = day * PER_DAY + 12 * 12 + 6; // 12:30
        expect(outs[peak]!.baseline).toBe('seasonal');
        expect(Math.abs(outs[peak]!.expected - 300), `expected at the peak of day ${day}`).toBeLessThan(15);
        expect(Math.abs(outs[peak]!.deviation), `deviation at the peak of day ${day}`).toBeLessThan(4);
        expect(outs[peak]!.rawScore).toBeLessThan(0.5);
      }
      // Judged against its level alone, the same peak stays a large deviation from ~100.
      const flat = feed(values, { seasonPeriodMs: 0 }, STEP);
      const peak = 8 * PER_DAY + 12 * 12;
      expect(flat[peak]!.expected).toBeLessThan(150);
      expect(flat[peak]!.deviation).toBeGreaterThan(10);
    });

    it('flags a missing peak against the seasonal baseline, which the level alone cannot see', () => {
      const values = daily(9);
      const day9Noon = 9 * PER_DAY + 12 * 12;
      for (let i = day9Noon; i < day9Noon + 12; i++) values[i] = 100 + (values[i]! - 300);
      const outs = feed(values, {}, STEP);
      const opens = openedAt(outs).filter((i) => i >= 6 * PER_DAY);
      expect(opens.length).toBeGreaterThan(0);
      expect(opens[0]).toBeGreaterThanOrEqual(day9Noon);
      expect(opens[0]).toBeLessThan(day9Noon + 3);
      expect(outs[opens[0]!]!.deviation).toBeLessThan(0);
      expect(Math.abs(outs[opens[0]!]!.expected - 300)).toBeLessThan(15);
      const flat = feed(values, { seasonPeriodMs: 0 }, STEP);
      expect(openedAt(flat).filter((i) => i >= day9Noon && i < day9Noon + 12)).toEqual([]);
    });
  });

  it('ignores NaN and Infinity: they change no state', () => {
    const values = noisy(3000, 11);
    values[2500] = 190;
    const clean = new StreamingDetector();
    const dirty = new StreamingDetector();
    const junk = [NaN, Infinity, -Infinity];
    let t = T0;
    for (let i = 0; i < values.length; i++) {
      t += SECOND;
      if (i % 7 === 3) {
        const out = dirty.update(junk[i % 3]!, t);
        expect(out.score).toBe(0);
        expect(out.opened || out.closed).toBe(false);
        expect(Number.isFinite(out.expected)).toBe(true);
      }
      const a = clean.update(values[i]!, t);
      const b = dirty.update(values[i]!, t);
      expect(b).toEqual(a);
    }
    // Junk while an alert is open does not close it either.
    const d = new StreamingDetector();
    noisy(2000, 12).forEach((v, i) => d.update(v, T0 + i * SECOND));
    expect(d.update(200, T0 + 2000 * SECOND).opened).toBe(true);
    for (let i = 0; i < 50; i++) expect(d.update(NaN, T0 + (2001 + i) * SECOND).open).toBe(true);
  });

  it('keeps scores in [0, 1] and says nothing during warm-up', () => {
    const values = noisy(3000, 13);
    values[50] = 1000; // inside warm-up: learned, not judged
    values[2000] = 1000;
    const outs = feed(values);
    for (const o of outs) {
      expect(o.score).toBeGreaterThanOrEqual(0);
      expect(o.score).toBeLessThanOrEqual(1);
      expect(o.rawScore).toBeGreaterThanOrEqual(o.score);
      expect(o.rawScore).toBeLessThanOrEqual(1);
    }
    expect(outs.slice(0, DEFAULT_DETECTOR_OPTIONS.warmup).every((o) => o.score === 0 && !o.open)).toBe(true);
    expect(outs[2000]!.opened).toBe(true);
  });
});
