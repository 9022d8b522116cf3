import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WindowedGaussianDetector } from '../../src/observability/anomaly/windowed-gaussian.ts';
import {
  loadCorpus,
  loadPublished,
  nabDir,
  nabMissingMessage,
  normalize,
  nullScores,
  optimizeThreshold,
  PROFILE_NAMES,
  probationaryLength,
  scaledSigmoid,
  scoreAtThreshold,
  scoreCorpus,
  sweepCorpus,
  type CostMatrix,
  type NabFile,
} from './nab.ts';

const STANDARD: CostMatrix = { tpWeight: 1, fnWeight: 1, fpWeight: 0.11, tnWeight: 1 };
const LOW_FN: CostMatrix = { tpWeight: 1, fnWeight: 2, fpWeight: 0.11, tnWeight: 1 };
const LOW_FP: CostMatrix = { tpWeight: 1, fnWeight: 1, fpWeight: 0.22, tnWeight: 1 };

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
/** The best a detection can earn: the scaled sigmoid at a window's left edge, 2*sigmoid(5) - 1. */
const MAX_TP = 2 * sigmoid(5) - 1; // 0.98661...

/**
 * 100 one-minute rows (the first 15, 15%, are probationary) with one window, rows 40..59 (20
 * rows). Rows listed in `detections` score 1, the rest 0.
 */
function handMade(detections: number[], windows: Array<[number, number]> = [[40, 59]]): { file: NabFile; scores: Float64Array } {
  const n = 100;
  const t0 = Date.UTC(2020, 0, 1);
  const file: NabFile = {
    name: 'hand/made.csv',
    timestamps: Array.from({ length: n }, (_, i) => t0 + i * 60_000),
    values: new Array<number>(n).fill(0),
    windows: windows.map(([start, end]) => ({ start, end })),
  };
  const scores = new Float64Array(n);
  for (const i of detections) scores[i] = 1;
  return { file, scores };
}

const rawAt = (detections: number[], cost = STANDARD) => {
  const { file, scores } = handMade(detections);
  return scoreAtThreshold(file, scores, cost, 0.5);
};

describe('NAB scorer on hand-made cases', () => {
  it('has the probationary period and scaled sigmoid NAB uses', () => {
    expect(probationaryLength(100)).toBe(15);
    expect(probationaryLength(4032)).toBe(604);
    expect(probationaryLength(22695)).toBe(750); // capped at 0.15 * 5000
    expect(scaledSigmoid(-1)).toBeCloseTo(0.98661, 5);
    expect(scaledSigmoid(0)).toBe(0);
    expect(scaledSigmoid(1)).toBeCloseTo(-0.98661, 5);
    expect(scaledSigmoid(3.5)).toBe(-1);
  });

  it('a detection on the first row of a window earns exactly tpWeight', () => {
    // position -(59 - 40 + 1) / 20 = -1; scaledSigmoid(-1) / MAX_TP = 1
    const r = rawAt([40]);
    expect(r.score).toBeCloseTo(1, 12);
    expect(r.tp).toBe(1);
    expect(r.fn).toBe(19);
    expect(r.fp).toBe(0);
  });

  it('a late detection earns less: row 54 of 40..59', () => {
    // position -(59 - 54 + 1) / 20 = -0.3; (2*sigmoid(1.5) - 1) / MAX_TP = 0.643766...
    const byHand = (2 * sigmoid(1.5) - 1) / MAX_TP;
    expect(byHand).toBeCloseTo(0.6437662150014791, 12);
    expect(rawAt([54]).score).toBeCloseTo(byHand, 12);
  });

  it('only the first detection in a window counts, the others are free', () => {
    // rows 45, 50 and 58 detected: the credit is row 45's, -(59 - 45 + 1) / 20 = -0.75
    const byHand = (2 * sigmoid(3.75) - 1) / MAX_TP;
    expect(rawAt([45, 50, 58]).score).toBeCloseTo(byHand, 12);
  });

  it('a false positive after a window costs fpWeight times the sigmoid of its distance past the window', () => {
    // row 69 is 10 rows past the window's last row; relative distance 10 / (20 - 1)
    const fp = (2 * sigmoid((-5 * 10) / 19) - 1) * 0.11;
    expect(fp).toBeCloseTo(-0.09523063024539194, 12);
    const r = rawAt([40, 69]);
    expect(r.score).toBeCloseTo(1 + fp, 12);
    expect(r.fp).toBe(1);
    // Twice the price under reward_low_FP_rate.
    expect(rawAt([40, 69], LOW_FP).score).toBeCloseTo(1 + 2 * fp, 12);
    // Right after a window a false positive is nearly free: row 60 is 1/19 past it.
    expect(rawAt([40, 60]).score).toBeCloseTo(1 + (2 * sigmoid(-5 / 19) - 1) * 0.11, 12);
  });

  it('a false positive before any window costs the full fpWeight', () => {
    expect(rawAt([20]).score).toBeCloseTo(-1 - 0.11, 12);
  });

  it('a missed window costs fnWeight', () => {
    expect(rawAt([]).score).toBe(-1);
    expect(rawAt([], LOW_FN).score).toBe(-2);
    expect(rawAt([]).fn).toBe(20);
  });

  it('ignores the probationary period', () => {
    // Row 10 is inside the first 15 rows: neither a false positive nor counted at all.
    const r = rawAt([10]);
    expect(r.score).toBe(-1);
    expect(r.tp + r.tn + r.fp + r.fn).toBe(85);
  });

  it('optimises one threshold across files, as NAB does', () => {
    // File A: its window found at score 0.9 on its first row.
    // File B: a false positive before its window at 0.95, its window found at 0.5 on row 50.
    const a = handMade([]);
    a.scores[40] = 0.9;
    const b = handMade([]);
    b.scores[20] = 0.95;
    b.scores[50] = 0.5;
    // Thresholds by hand: 1.1 -> -2; 0.95 -> -2.11; 0.9 -> -0.11;
    // 0.5 -> 1 + (2*sigmoid(2.5) - 1) / MAX_TP - 0.11 = 1.74979...; 0 -> every row detected, far worse.
    const byHand = 1 + (2 * sigmoid(2.5) - 1) / MAX_TP - 0.11;
    expect(byHand).toBeCloseTo(1.7497925669097836, 12);
    const best = optimizeThreshold(sweepCorpus([a.file, b.file], [a.scores, b.scores], STANDARD));
    expect(best.threshold).toBe(0.5);
    expect(best.score).toBeCloseTo(byHand, 12);
    expect(best.tp).toBe(2);
    expect(best.fp).toBe(1);
    // With nothing worth detecting, the best is to detect nothing: threshold 1.1.
    const nothing = optimizeThreshold(sweepCorpus([a.file], [new Float64Array(100)], STANDARD));
    expect(nothing.threshold).toBe(1.1);
    expect(nothing.score).toBe(-1);
  });

  it('normalises with the null detector: null is 0, perfect is 100', () => {
    const files = [handMade([]).file, handMade([], [[30, 39], [60, 79]]).file];
    const nullRaw = optimizeThreshold(sweepCorpus(files, nullScores(files), STANDARD)).score;
    expect(nullRaw).toBe(-3); // a constant score is best never detecting: three misses
    expect(normalize(nullRaw, nullRaw, 3, STANDARD)).toBe(0);
    expect(normalize(3, nullRaw, 3, STANDARD)).toBe(100);
    expect(normalize(0, nullRaw, 3, STANDARD)).toBe(50);
  });
});

describe('NAB scorer on the real corpus', () => {
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const dir = nabDir(repoRoot);

  // The whole corpus (58 files, 365k rows) takes a few seconds: no subset needed.
  it("reproduces NAB's published scores for its Windowed Gaussian detector", () => {
    if (!existsSync(dir)) throw new Error(nabMissingMessage(dir));
    const corpus = loadCorpus(dir);
    expect(corpus.files).toHaveLength(58);
    expect(corpus.windowCount).toBe(116);
    const scores = corpus.files.map((f) => {
      const d = new WindowedGaussianDetector();
      return Float64Array.from(f.values, (v) => d.update(v));
    });
    const ours = scoreCorpus(corpus, scores);
    const published = loadPublished(dir)['windowedGaussian']!;
    expect(published.standard).toBeCloseTo(39.65, 2);
    for (const p of PROFILE_NAMES) {
      expect(Math.abs(ours[p].normalized - published[p]), `${p}: ours ${ours[p].normalized}, published ${published[p]}`).toBeLessThan(0.5);
      expect(ours[p].threshold).toBe(1); // NAB's thresholds.json has 1.0 for every profile
    }
    expect(ours.standard.nullRaw).toBe(-116);
    expect(ours.reward_low_FN_rate.nullRaw).toBe(-232);
  }, 60_000);
});
