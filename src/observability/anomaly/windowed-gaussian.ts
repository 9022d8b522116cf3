// NAB's Windowed Gaussian detector (nab/detectors/gaussian/windowedGaussian_detector.py), ported
// line for line. It is not one of our detectors: the NAB bench runs it to prove that our scorer
// reproduces NAB's published score for it (39.65 Standard). Being exact matters more than being
// fast here, because NAB's optimal threshold for it is 1.0: only rows whose score rounds to
// exactly 1.0 in float64 count, so the mean, the standard deviation and erfc must come out with
// the same bits as numpy and libm would give.
//
// Score of a row: 1 - Q(|x - mean| / std), the two-sided Gaussian tail probability, over the
// window's mean and (population) std. The window fills to 6400 values, recomputing after every
// value; after that it slides forward 100 values at a time.

export const WINDOW_SIZE = 6400;
export const STEP_SIZE = 100;

export class WindowedGaussianDetector {
  private window: number[] = [];
  private stepBuffer: number[] = [];
  private mean = 0;
  private std = 1;

  constructor(
    private readonly windowSize = WINDOW_SIZE,
    private readonly stepSize = STEP_SIZE,
  ) {}

  /** Anomaly score of `value` against the window so far, then `value` joins the window. */
  update(value: number): number {
    let score = 0.0;
    if (this.window.length > 0) score = 1 - normalProbability(value, this.mean, this.std);

    if (this.window.length < this.windowSize) {
      this.window.push(value);
      this.recompute();
    } else {
      this.stepBuffer.push(value);
      if (this.stepBuffer.length === this.stepSize) {
        this.window = this.window.slice(this.stepSize).concat(this.stepBuffer);
        this.stepBuffer = [];
        this.recompute();
      }
    }
    return score;
  }

  private recompute(): void {
    this.mean = numpyMean(this.window);
    this.std = numpyStd(this.window, this.mean);
    if (this.std === 0.0) this.std = 0.000001;
  }
}

/** P(X > x) for X ~ N(mean, std), folded so that both tails count (NAB's normalProbability). */
export function normalProbability(x: number, mean: number, std: number): number {
  if (x < mean) {
    // Symmetric: reflect into the upper tail, computing 2*mean - x exactly as NAB does.
    return normalProbability(2 * mean - x, mean, std);
  }
  const z = (x - mean) / std;
  return 0.5 * erfc(z / Math.SQRT2);
}

/** numpy.mean on a float64 array: pairwise sum / n. */
export function numpyMean(a: readonly number[]): number {
  return pairwiseSum(a, 0, a.length) / a.length;
}

/** numpy.std (ddof 0): sqrt(mean(|a - mean|^2)), with numpy's summation order. */
export function numpyStd(a: readonly number[], mean: number): number {
  const sq = new Array<number>(a.length);
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - mean;
    sq[i] = d * d;
  }
  return Math.sqrt(pairwiseSum(sq, 0, sq.length) / sq.length);
}

// numpy's pairwise summation (numpy/_core/src/umath/loops_utils.h.src, PW_BLOCKSIZE 128):
// below 8 values a plain loop, up to 128 values eight interleaved accumulators, above that the
// range is split in two at a multiple of 8. The order of additions decides the low bits.
const PW_BLOCKSIZE = 128;

function pairwiseSum(a: readonly number[], from: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[from + i]!;
    return res;
  }
  if (n <= PW_BLOCKSIZE) {
    let r0 = a[from]!, r1 = a[from + 1]!, r2 = a[from + 2]!, r3 = a[from + 3]!;
    let r4 = a[from + 4]!, r5 = a[from + 5]!, r6 = a[from + 6]!, r7 = a[from + 7]!;
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      const j = from + i;
      r0 += a[j]!;
      r1 += a[j + 1]!;
      r2 += a[j + 2]!;
      r3 += a[j + 3]!;
      r4 += a[j + 4]!;
      r5 += a[j + 5]!;
      r6 += a[j + 6]!;
      r7 += a[j + 7]!;
    }
    let res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
    for (; i < n; i++) res += a[from + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, from, n2) + pairwiseSum(a, from + n2, n - n2);
}

// erfc from Sun's fdlibm s_erf.c (the libm Python's math.erfc calls on most platforms), for
// x >= 0 and negative x alike. JavaScript has no erfc, and a low-precision one would move rows
// across the 1.0 boundary that decides NAB's score for this detector.
//
// Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
// Developed at SunSoft, a Sun Microsystems, Inc. business.
// Permission to use, copy, modify, and distribute this software is freely granted, provided
// that this notice is preserved.
const erx = 8.45062911510467529297e-1;
const pp0 = 1.28379167095512558561e-1, pp1 = -3.25042107247001499370e-1, pp2 = -2.84817495755985104766e-2;
const pp3 = -5.77027029648944159157e-3, pp4 = -2.37630166566501626084e-5;
const qq1 = 3.97917223959155352819e-1, qq2 = 6.50222499887672944485e-2, qq3 = 5.08130628187576562776e-3;
const qq4 = 1.32494738004321644526e-4, qq5 = -3.96022827877536812320e-6;
const pa0 = -2.36211856075265944077e-3, pa1 = 4.14856118683748331666e-1, pa2 = -3.72207876035701323847e-1;
const pa3 = 3.18346619901161753674e-1, pa4 = -1.10894694282396677476e-1, pa5 = 3.54783043256182359371e-2;
const pa6 = -2.16637559486879084300e-3;
const qa1 = 1.06420880400844228286e-1, qa2 = 5.40397917702171048937e-1, qa3 = 7.18286544141962662868e-2;
const qa4 = 1.26171219808761642112e-1, qa5 = 1.36370839120290507362e-2, qa6 = 1.19844998467991074170e-2;
const ra0 = -9.86494403484714822705e-3, ra1 = -6.93858572707181764372e-1, ra2 = -1.05586262253232909814e1;
const ra3 = -6.23753324503260060396e1, ra4 = -1.62396669462573470355e2, ra5 = -1.84605092906711035994e2;
const ra6 = -8.12874355063065934246e1, ra7 = -9.81432934416914548592;
const sa1 = 1.96512716674392571292e1, sa2 = 1.37657754143519042600e2, sa3 = 4.34565877475229228821e2;
const sa4 = 6.45387271733267880336e2, sa5 = 4.29008140027567833386e2, sa6 = 1.08635005541779435134e2;
const sa7 = 6.57024977031928170135, sa8 = -6.04244152148580987438e-2;
const rb0 = -9.86494292470009928597e-3, rb1 = -7.99283237680523006574e-1, rb2 = -1.77579549177547519889e1;
const rb3 = -1.60636384855821916062e2, rb4 = -6.37566443368389627722e2, rb5 = -1.02509513161107724954e3;
const rb6 = -4.83519191608651397019e2;
const sb1 = 3.03380607434824582924e1, sb2 = 3.25792512996573918826e2, sb3 = 1.53672958608443695994e3;
const sb4 = 3.19985821950859553908e3, sb5 = 2.55305040643316442583e3, sb6 = 4.74528541206955367215e2;
const sb7 = -2.24409524465858183362e1;

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
f64[0] = 1; // 0x3FF00000_00000000: finds which 32-bit word holds the sign and exponent
const HI = u32[1] === 0x3ff00000 ? 1 : 0;
const LO = 1 - HI;

export function erfc(x: number): number {
  f64[0] = x;
  const hx = u32[HI]! | 0;
  const ix = hx & 0x7fffffff;
  if (ix >= 0x7ff00000) return ((hx >>> 31) << 1) + 1 / x; // erfc(nan) = nan, erfc(+-inf) = 0, 2
  if (ix < 0x3feb0000) {
    // |x| < 0.84375
    if (ix < 0x3c700000) return 1 - x; // |x| < 2**-56
    const z = x * x;
    const r = pp0 + z * (pp1 + z * (pp2 + z * (pp3 + z * pp4)));
    const s = 1 + z * (qq1 + z * (qq2 + z * (qq3 + z * (qq4 + z * qq5))));
    const y = r / s;
    if (hx < 0x3fd00000) return 1 - (x + x * y); // x < 1/4
    let rr = x * y;
    rr += x - 0.5;
    return 0.5 - rr;
  }
  if (ix < 0x3ff40000) {
    // 0.84375 <= |x| < 1.25
    const s = Math.abs(x) - 1;
    const P = pa0 + s * (pa1 + s * (pa2 + s * (pa3 + s * (pa4 + s * (pa5 + s * pa6)))));
    const Q = 1 + s * (qa1 + s * (qa2 + s * (qa3 + s * (qa4 + s * (qa5 + s * qa6)))));
    if (hx >= 0) return 1 - erx - P / Q;
    return 1 + (erx + P / Q);
  }
  if (ix < 0x403c0000) {
    // |x| < 28
    const ax = Math.abs(x);
    const s = 1 / (ax * ax);
    let R: number;
    let S: number;
    if (ix < 0x4006db6d) {
      // |x| < 1/0.35
      R = ra0 + s * (ra1 + s * (ra2 + s * (ra3 + s * (ra4 + s * (ra5 + s * (ra6 + s * ra7))))));
      S = 1 + s * (sa1 + s * (sa2 + s * (sa3 + s * (sa4 + s * (sa5 + s * (sa6 + s * (sa7 + s * sa8)))))));
    } else {
      if (hx < 0 && ix >= 0x40180000) return 2 - 1e-300; // x < -6
      R = rb0 + s * (rb1 + s * (rb2 + s * (rb3 + s * (rb4 + s * (rb5 + s * rb6)))));
      S = 1 + s * (sb1 + s * (sb2 + s * (sb3 + s * (sb4 + s * (sb5 + s * (sb6 + s * sb7))))));
    }
    // z: |x| with the low 32 bits of its mantissa cleared, so -z*z is exact.
    f64[0] = ax;
    u32[LO] = 0;
    const z = f64[0]!;
    const r = Math.exp(-z * z - 0.5625) * Math.exp((z - ax) * (z + ax) + R / S);
    return hx > 0 ? r / ax : 2 - r / ax;
  }
  return hx > 0 ? 0 : 2;
}
