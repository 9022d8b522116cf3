// npm run bench:anomaly: the anomaly detector on the Numenta Anomaly Benchmark (NAB).
//
// 1. Proves the scorer: runs NAB's Windowed Gaussian detector (ported) over the corpus, scores it
//    with bench/lib/nab.ts and compares with NAB's published results; more than 0.5 points off on
//    any profile fails the bench (exit 1).
// 2. Scores our StreamingDetector with its default options, next to published detectors.
// 3. Prints one JSON line with every figure.
//
// Reads NAB from ../shared/data/nab (next to the repository); exits 1 with a message without it.
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StreamingDetector, DEFAULT_DETECTOR_OPTIONS, type DetectorOutput } from '../src/observability/anomaly/detector.ts';
import { WindowedGaussianDetector } from '../src/observability/anomaly/windowed-gaussian.ts';
import { loadCorpus, loadPublished, nabDir, nabMissingMessage, PROFILE_NAMES, scoreCorpus, type NabCorpus, type NabFile, type ProfileName, type ProfileResult } from './lib/nab.ts';
import { table } from './lib/report.ts';

const TOLERANCE = 0.5;
/** Published detectors to print ours against (keys of results/final_results.json). */
const REFERENCES: ReadonlyArray<[key: string, label: string]> = [
  ['windowedGaussian', 'Windowed Gaussian'],
  ['twitterADVec', 'Twitter ADVec'],
  ['knncad', 'KNN-CAD'],
  ['earthgeckoSkyline', 'Skyline (earthgecko)'],
  ['numenta', 'Numenta HTM'],
];
const PROFILE_LABEL: Record<ProfileName, string> = { standard: 'Standard', reward_low_FP_rate: 'low FP', reward_low_FN_rate: 'low FN' };

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = nabDir(repoRoot);

type Scores = Record<ProfileName, ProfileResult>;

/** Runs a fresh detector per file, reporting files done. */
function runAll<T>(corpus: NabCorpus, label: string, perFile: (f: NabFile) => T): T[] {
  const out: T[] = [];
  const t0 = Date.now();
  for (const f of corpus.files) {
    out.push(perFile(f));
    const done = out.length;
    const line = `  ${label}: ${done}/${corpus.files.length} files`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}`);
    else if (done % 10 === 0 || done === corpus.files.length) process.stderr.write(`${line}\n`);
  }
  if (process.stderr.isTTY) process.stderr.write(`\r  ${label}: ${corpus.files.length}/${corpus.files.length} files, ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  return out;
}

function windowedGaussian(f: NabFile): Float64Array {
  const d = new WindowedGaussianDetector();
  return Float64Array.from(f.values, (v) => d.update(v));
}

/** Our detector's `score` (after hysteresis) and `rawScore` (before), from one run. */
function streaming(f: NabFile): { score: Float64Array; rawScore: Float64Array } {
  const d = new StreamingDetector();
  const score = new Float64Array(f.values.length);
  const rawScore = new Float64Array(f.values.length);
  f.values.forEach((v, i) => {
    const out: DetectorOutput = d.update(v, f.timestamps[i]);
    score[i] = out.score;
    rawScore[i] = out.rawScore;
  });
  return { score, rawScore };
}

const fmt = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(2));

function main(): number {
  if (!existsSync(dir)) {
    console.error(nabMissingMessage(dir));
    return 1;
  }
  const corpus = loadCorpus(dir);
  const published = loadPublished(dir);
  const rows = corpus.files.reduce((n, f) => n + f.values.length, 0);
  console.log(`NAB corpus: ${corpus.files.length} files, ${rows} rows, ${corpus.windowCount} anomaly windows (${dir})`);

  // 1. The scorer, proved on the Windowed Gaussian.
  const wg = scoreCorpus(corpus, runAll(corpus, 'windowed gaussian', windowedGaussian));
  const wgPublished = published['windowedGaussian'];
  if (!wgPublished) throw new Error('results/final_results.json has no windowedGaussian entry');
  const diffs = Object.fromEntries(PROFILE_NAMES.map((p) => [p, wg[p].normalized - wgPublished[p]])) as Record<ProfileName, number>;
  const scorerOk = PROFILE_NAMES.every((p) => Math.abs(diffs[p]) <= TOLERANCE);
  console.log(`\nScorer check: ported Windowed Gaussian, our scorer vs NAB's published score (tolerance ${TOLERANCE})`);
  console.log(table(PROFILE_NAMES.map((p) => PROFILE_LABEL[p]), ['ours', 'published', 'diff', 'threshold', 'verdict'], (r, c) => {
    const p = PROFILE_NAMES.find((x) => PROFILE_LABEL[x] === r)!;
    switch (c) {
      case 'ours': return fmt(wg[p].normalized);
      case 'published': return fmt(wgPublished[p]);
      case 'diff': return (diffs[p] >= 0 ? '+' : '') + diffs[p].toFixed(3);
      case 'threshold': return String(wg[p].threshold);
      default: return Math.abs(diffs[p]) <= TOLERANCE ? 'PASS' : 'FAIL';
    }
  }, 'profile'));

  // 2. Our detector, default options.
  const runs = runAll(corpus, 'streaming detector', streaming);
  const ours = scoreCorpus(corpus, runs.map((r) => r.score));
  const oursRaw = scoreCorpus(corpus, runs.map((r) => r.rawScore));
  const lines: Array<[label: string, scores: Partial<Record<ProfileName, number>>]> = [
    ['StreamingDetector (score)', normalized(ours)],
    ['  rawScore, no hysteresis', normalized(oursRaw)],
    ['Windowed Gaussian (ported)', normalized(wg)],
    ...REFERENCES.map(([key, label]): [string, Partial<Record<ProfileName, number>>] => [`${label} (published)`, published[key] ?? {}]),
  ];
  console.log('\nNAB scores (normalised: null detector 0, perfect 100), StreamingDetector with default options');
  console.log(table(lines.map((l) => l[0]), PROFILE_NAMES.map((p) => PROFILE_LABEL[p]), (r, c) => {
    const p = PROFILE_NAMES.find((x) => PROFILE_LABEL[x] === c)!;
    return fmt(lines.find((l) => l[0] === r)![1][p]);
  }, 'detector'));
  const s = ours.standard;
  console.log(`\nStreamingDetector, Standard: threshold ${s.threshold}, detections in windows ${s.counts.tp} rows, outside ${s.counts.fp} rows`);

  // 3. Everything as one JSON line.
  console.log(JSON.stringify({
    bench: 'anomaly',
    corpus: { files: corpus.files.length, rows, windows: corpus.windowCount },
    scorerCheck: { pass: scorerOk, tolerance: TOLERANCE, windowedGaussian: Object.fromEntries(PROFILE_NAMES.map((p) => [p, { ours: wg[p].normalized, published: wgPublished[p], diff: diffs[p], threshold: wg[p].threshold, raw: wg[p].raw }])) },
    streamingDetector: {
      options: DEFAULT_DETECTOR_OPTIONS,
      score: Object.fromEntries(PROFILE_NAMES.map((p) => [p, { normalized: ours[p].normalized, raw: ours[p].raw, threshold: ours[p].threshold, counts: ours[p].counts }])),
      rawScore: normalized(oursRaw),
    },
    published: Object.fromEntries(REFERENCES.map(([key]) => [key, published[key] ?? null])),
  }));

  if (!scorerOk) {
    console.error(`\nFAIL: the ported Windowed Gaussian scores more than ${TOLERANCE} points away from NAB's published figures; the scorer (or the port) is wrong.`);
    return 1;
  }
  return 0;
}

function normalized(r: Scores): Record<ProfileName, number> {
  return Object.fromEntries(PROFILE_NAMES.map((p) => [p, r[p].normalized])) as Record<ProfileName, number>;
}

process.exitCode = main();
