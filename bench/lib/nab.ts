// The Numenta Anomaly Benchmark (NAB): loading its corpus and scoring a detector exactly as NAB
// v1.1 does (nab/sweeper.py for the per-row scores and the threshold sweep, nab/optimizer.py for
// picking the corpus-wide threshold, nab/runner.py normalize() for the 0..100 scale).
//
// How NAB scores, in short: every labelled anomaly has a window of rows around it. The first
// detection inside a window earns a scaled sigmoid of how early it came (1 at the window's left
// edge, falling towards 0 at its right edge); later detections in the same window earn nothing.
// A window with no detection costs fnWeight. A detection outside any window costs fpWeight times
// a sigmoid of its distance past the preceding window (nearly free just after a window, the full
// fpWeight far from one or before the first). The first 15% of each file (at most 750 rows) is
// a probationary period that is not scored at all. One threshold is chosen for the whole corpus,
// the one that maximises the summed raw score, and that raw score is normalised so the null
// detector (a constant score) is 0 and detecting every window at its left edge is 100.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';

export const PROFILE_NAMES = ['standard', 'reward_low_FP_rate', 'reward_low_FN_rate'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export interface CostMatrix {
  tpWeight: number;
  fnWeight: number;
  fpWeight: number;
  tnWeight: number;
}

/** One labelled series. Windows are inclusive row ranges, in file order. */
export interface NabFile {
  /** Path under data/, with forward slashes, e.g. "realKnownCause/nyc_taxi.csv" (NAB's key). */
  name: string;
  timestamps: number[];
  values: number[];
  windows: Array<{ start: number; end: number }>;
}

export interface NabCorpus {
  dir: string;
  files: NabFile[];
  profiles: Record<ProfileName, CostMatrix>;
  /** Total windows in the label file: NAB's "perfect" score is this times tpWeight. */
  windowCount: number;
}

/** Where the shared copy of NAB lives: ../shared/data/nab next to the repository root. */
export function nabDir(repoRoot: string): string {
  return resolve(repoRoot, '..', 'shared', 'data', 'nab');
}

export function nabMissingMessage(dir: string): string {
  return `NAB reference data not found at ${dir}: expected data/**/*.csv, labels/combined_windows.json and config/profiles.json there (see ../shared/data/README.md).`;
}

/** NAB's timestamps are naive "YYYY-MM-DD HH:MM:SS[.ffffff]"; read as UTC so equal strings give equal numbers. */
export function parseNabTime(s: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?$/.exec(s.trim());
  if (!m) throw new Error(`not a NAB timestamp: ${JSON.stringify(s)}`);
  const ms = m[7] ? Math.round(Number(`0.${m[7]}`) * 1000) : 0;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, ms);
}

function listCsv(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listCsv(p));
    else if (entry.name.endsWith('.csv')) out.push(p);
  }
  return out;
}

function readSeries(path: string): { timestamps: number[]; values: number[] } {
  const lines = readFileSync(path, 'utf8').split(/\r?\n/);
  if (lines[0]?.trim() !== 'timestamp,value') throw new Error(`${path}: expected header "timestamp,value"`);
  const timestamps: number[] = [];
  const values: number[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line) continue;
    const comma = line.indexOf(',');
    timestamps.push(parseNabTime(line.slice(0, comma)));
    values.push(Number(line.slice(comma + 1)));
  }
  return { timestamps, values };
}

/**
 * Loads the corpus. `only` picks files by NAB name (the tests use it for a subset). Like NAB's
 * labeler, a window limit that is not exactly one of the file's timestamps is an error.
 */
export function loadCorpus(dir: string, only?: (name: string) => boolean): NabCorpus {
  const windowsPath = join(dir, 'labels', 'combined_windows.json');
  const profilesPath = join(dir, 'config', 'profiles.json');
  if (!existsSync(join(dir, 'data')) || !existsSync(windowsPath) || !existsSync(profilesPath)) {
    throw new Error(nabMissingMessage(dir));
  }
  const labels = JSON.parse(readFileSync(windowsPath, 'utf8')) as Record<string, Array<[string, string]>>;
  const rawProfiles = JSON.parse(readFileSync(profilesPath, 'utf8')) as Record<string, { CostMatrix: CostMatrix }>;
  const profiles = {} as Record<ProfileName, CostMatrix>;
  for (const p of PROFILE_NAMES) {
    const cm = rawProfiles[p]?.CostMatrix;
    if (!cm) throw new Error(`${profilesPath}: no profile ${p}`);
    profiles[p] = cm;
  }
  const dataDir = join(dir, 'data');
  const files: NabFile[] = [];
  for (const path of listCsv(dataDir).sort()) {
    const name = relative(dataDir, path).split(sep).join('/');
    if (only && !only(name)) continue;
    const limits = labels[name];
    // NAB scores only files present in the label file (runner.detect skips the rest).
    if (!limits) continue;
    const { timestamps, values } = readSeries(path);
    const rowOf = new Map<number, number>();
    timestamps.forEach((t, i) => {
      if (!rowOf.has(t)) rowOf.set(t, i);
    });
    const windows = limits.map(([a, b]) => {
      const start = rowOf.get(parseNabTime(a));
      const end = rowOf.get(parseNabTime(b));
      if (start === undefined || end === undefined) throw new Error(`${name}: window [${a}, ${b}] does not match the file's timestamps`);
      return { start, end };
    });
    files.push({ name, timestamps, values, windows });
  }
  const windowCount = Object.values(labels).reduce((n, w) => n + w.length, 0);
  return { dir, files, profiles, windowCount };
}

/** Published figures: results/final_results.json (normalised scores per detector and profile). */
export function loadPublished(dir: string): Record<string, Record<ProfileName, number>> {
  return JSON.parse(readFileSync(join(dir, 'results', 'final_results.json'), 'utf8')) as Record<string, Record<ProfileName, number>>;
}

// ---------------------------------------------------------------------------------------------
// Scoring (nab/sweeper.py)

export const PROBATIONARY_PERCENT = 0.15;

/** Rows at the start of a file that are never scored: 15% of it, capped at 0.15 * 5000 = 750. */
export function probationaryLength(rows: number, percent = PROBATIONARY_PERCENT): number {
  return Math.min(Math.floor(percent * rows), percent * 5000);
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** -1 at relative position 1 (well after a window), 0 at a window's right edge, ~0.987 at its left edge (-1). */
export function scaledSigmoid(relativePosition: number): number {
  if (relativePosition > 3.0) return -1.0; // a false positive far behind any window
  return 2 * sigmoid(-5 * relativePosition) - 1.0;
}

/** Row kinds in a sweep: inside window `w >= 0`, outside every window, or not scored. */
const OUTSIDE = -1;
const PROBATION = -2;

/**
 * Per-row scores for one file, as NAB's calcSweepScore: what each row would contribute if it
 * were a detection. `window` is a corpus-wide window id (`firstWindowId` + index in the file).
 */
export interface FileSweep {
  anomalyScores: ArrayLike<number>;
  /** What detecting this row is worth under the profile. */
  sweepScores: Float64Array;
  /** Window id, OUTSIDE (-1) or PROBATION (-2). */
  window: Int32Array;
  /** What a window with no detection costs under the profile. */
  fnWeight: number;
}

export function sweepFile(file: NabFile, anomalyScores: ArrayLike<number>, cost: CostMatrix, firstWindowId = 0): FileSweep {
  const n = file.timestamps.length;
  if (anomalyScores.length !== n) throw new Error(`${file.name}: ${anomalyScores.length} scores for ${n} rows`);
  const maxTP = scaledSigmoid(-1.0);
  const probation = probationaryLength(n);
  const sweepScores = new Float64Array(n);
  const window = new Int32Array(n);
  let next = 0; // next window to enter
  let cur = -1; // window we are in
  let prevRight = -1;
  let prevWidth = 0;
  for (let i = 0; i < n; i++) {
    if (cur < 0 && next < file.windows.length && i === file.windows[next]!.start) cur = next++;
    if (cur >= 0) {
      const w = file.windows[cur]!;
      const width = w.end - w.start + 1;
      // NAB's "+ 1": the first row of a window sits at -1 (full credit), the last at -1/width.
      sweepScores[i] = (scaledSigmoid(-(w.end - i + 1) / width) * cost.tpWeight) / maxTP;
    } else if (prevRight < 0) {
      sweepScores[i] = -1.0 * cost.fpWeight;
    } else {
      sweepScores[i] = scaledSigmoid(Math.abs(prevRight - i) / (prevWidth - 1)) * cost.fpWeight;
    }
    window[i] = i < probation ? PROBATION : cur >= 0 ? firstWindowId + cur : OUTSIDE;
    if (cur >= 0 && i === file.windows[cur]!.end) {
      prevRight = i;
      prevWidth = file.windows[cur]!.end - file.windows[cur]!.start + 1;
      cur = -1;
    }
  }
  return { anomalyScores, sweepScores, window, fnWeight: cost.fnWeight };
}

export interface Counts {
  tp: number;
  tn: number;
  fp: number;
  fn: number;
}

export interface ThresholdScore extends Counts {
  threshold: number;
  score: number;
}

/**
 * NAB's calcScoreByThreshold + optimizeThreshold over a set of file sweeps: rows sorted by
 * anomaly score, highest first; lowering the threshold past each distinct score turns those rows
 * into detections. Returns the best (threshold, raw score); on ties the higher threshold wins,
 * as NAB's stable sort keeps it first. Thresholds start at 1.1 (nothing detected).
 */
export function optimizeThreshold(sweeps: readonly FileSweep[]): ThresholdScore {
  let total = 0;
  for (const s of sweeps) for (let i = 0; i < s.window.length; i++) if (s.window[i] !== PROBATION) total++;
  const scores = new Float64Array(total);
  const values = new Float64Array(total);
  const windows = new Int32Array(total);
  let k = 0;
  let windowIds = 0;
  for (const s of sweeps) {
    for (let i = 0; i < s.window.length; i++) {
      const w = s.window[i]!;
      if (w === PROBATION) continue;
      const score = s.anomalyScores[i]!;
      if (!(score >= 0 && score <= 1)) throw new Error(`anomaly score ${score} outside [0, 1]`);
      scores[k] = score;
      values[k] = s.sweepScores[i]!;
      windows[k] = w;
      if (w + 1 > windowIds) windowIds = w + 1;
      k++;
    }
  }
  const order = new Uint32Array(total);
  for (let i = 0; i < total; i++) order[i] = i;
  // Ties keep their input order, like Python's stable sorted(); it only matters for counts.
  order.sort((a, b) => scores[b]! - scores[a]! || a - b);

  // A window seen among the scorable rows starts as a miss (-fnWeight); detecting it replaces
  // that with the best sweep score among its detected rows, i.e. its first detection.
  const fnWeight = sweeps[0]?.fnWeight ?? 0;
  const part = new Float64Array(windowIds).fill(NaN);
  let tn = 0;
  let fn = 0;
  let current = 0;
  for (let i = 0; i < total; i++) {
    const w = windows[i]!;
    if (w === OUTSIDE) tn++;
    else {
      fn++;
      if (Number.isNaN(part[w]!)) {
        part[w] = -fnWeight;
        current -= fnWeight;
      }
    }
  }
  let tp = 0;
  let fp = 0;
  let threshold = 1.1;
  let best: ThresholdScore = { threshold, score: current, tp, tn, fp, fn };
  const consider = () => {
    if (current > best.score) best = { threshold, score: current, tp, tn, fp, fn };
  };
  for (let j = 0; j < total; j++) {
    const i = order[j]!;
    const s = scores[i]!;
    if (s !== threshold) {
      consider();
      threshold = s;
    }
    const w = windows[i]!;
    if (w === OUTSIDE) {
      fp++;
      tn--;
      current += values[i]!;
    } else {
      tp++;
      fn--;
      const v = values[i]!;
      if (v > part[w]!) {
        current += v - part[w]!;
        part[w] = v;
      }
    }
  }
  consider();
  return best;
}

/** Sweeps every file of the corpus for one profile, with corpus-wide window ids. */
export function sweepCorpus(files: readonly NabFile[], scores: ReadonlyArray<ArrayLike<number>>, cost: CostMatrix): FileSweep[] {
  let firstWindowId = 0;
  return files.map((f, i) => {
    const s = sweepFile(f, scores[i]!, cost, firstWindowId);
    firstWindowId += f.windows.length;
    return s;
  });
}

/**
 * Raw score of one file at a fixed threshold (NAB's Sweeper.scoreDataSet): rows scoring at or
 * above it are detections.
 */
export function scoreAtThreshold(file: NabFile, anomalyScores: ArrayLike<number>, cost: CostMatrix, threshold: number): ThresholdScore {
  const s = sweepFile(file, anomalyScores, cost);
  const part = new Float64Array(file.windows.length).fill(NaN);
  let fpSum = 0;
  const c: Counts = { tp: 0, tn: 0, fp: 0, fn: 0 };
  for (let i = 0; i < s.window.length; i++) {
    const w = s.window[i]!;
    if (w === PROBATION) continue;
    const detected = anomalyScores[i]! >= threshold;
    if (w === OUTSIDE) {
      if (detected) {
        c.fp++;
        fpSum += s.sweepScores[i]!;
      } else c.tn++;
      continue;
    }
    if (Number.isNaN(part[w]!)) part[w] = -cost.fnWeight;
    if (detected) {
      c.tp++;
      part[w] = Math.max(part[w]!, s.sweepScores[i]!);
    } else c.fn++;
  }
  let score = fpSum;
  for (const p of part) if (!Number.isNaN(p)) score += p;
  return { threshold, score, ...c };
}

// ---------------------------------------------------------------------------------------------
// Normalisation (nab/runner.py normalize)

/** NAB's null detector: a constant 0.5 for every row. */
export function nullScores(files: readonly NabFile[]): Float64Array[] {
  return files.map((f) => new Float64Array(f.values.length).fill(0.5));
}

/** 100 * (raw - null) / (perfect - null), perfect = windows * tpWeight. */
export function normalize(raw: number, nullRaw: number, windowCount: number, cost: CostMatrix): number {
  const perfect = windowCount * cost.tpWeight;
  return (100 * (raw - nullRaw)) / (perfect - nullRaw);
}

export interface ProfileResult {
  threshold: number;
  raw: number;
  nullRaw: number;
  normalized: number;
  counts: Counts;
}

/**
 * NAB never scores a detector's floats directly: the detect step writes them to results CSVs and
 * the optimise and score steps read them back. The published results were written by Python 2,
 * whose str(float) keeps 12 significant digits, so e.g. every score above 1 - 5e-13 was read back
 * as exactly 1.0 (which is what makes 1.0 the Windowed Gaussian's best threshold). Scores go
 * through the same rounding here so that published figures can be reproduced.
 */
export const NAB_CSV_DIGITS = 12;

export function asNabCsv(scores: ArrayLike<number>, digits = NAB_CSV_DIGITS): Float64Array {
  const out = new Float64Array(scores.length);
  for (let i = 0; i < scores.length; i++) out[i] = Number(scores[i]!.toPrecision(digits));
  return out;
}

/**
 * Scores a detector's per-row anomaly scores (one array per corpus file, in [0, 1]) under every
 * profile: round as NAB's results CSVs did, optimise the corpus-wide threshold, then normalise
 * against the null detector.
 */
export function scoreCorpus(corpus: NabCorpus, rawScores: ReadonlyArray<ArrayLike<number>>): Record<ProfileName, ProfileResult> {
  const scores = rawScores.map((s) => asNabCsv(s));
  const nulls = nullScores(corpus.files);
  const out = {} as Record<ProfileName, ProfileResult>;
  for (const p of PROFILE_NAMES) {
    const cost = corpus.profiles[p];
    const best = optimizeThreshold(sweepCorpus(corpus.files, scores, cost));
    const nullRaw = optimizeThreshold(sweepCorpus(corpus.files, nulls, cost)).score;
    const { tp, tn, fp, fn } = best;
    out[p] = {
      threshold: best.threshold,
      raw: best.score,
      nullRaw,
      normalized: normalize(best.score, nullRaw, corpus.windowCount, cost),
      counts: { tp, tn, fp, fn },
    };
  }
  return out;
}
