/**
 * The significance rule of the experiments: two settings run on the same
 * seeds are compared seed by seed (a paired t-test on the differences,
 * two-sided); a difference is called significant when p < 0.05. With fewer
 * than 3 seeds nothing is called significant.
 * @module
 */

/** The outcome of {@linkcode pairedComparison}. */
export interface PairedComparison {
  /** Seeds compared. */
  readonly n: number;
  /** Mean of `b − a` over seeds. */
  readonly meanDifference: number;
  /** Sample standard deviation of the differences. */
  readonly sdDifference: number;
  /** Student's t of the mean difference (n − 1 degrees of freedom). */
  readonly t: number;
  /** Two-sided p-value. */
  readonly p: number;
  /** p < 0.05 with at least 3 seeds. */
  readonly significant: boolean;
}

/**
 * Paired t-test of `b` against `a` (the same seeds, in the same order).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pairedComparison } from "./stats.ts";
 * // Differences 1, 2, 3: mean 2, sd 1, t = 2 / (1 / √3) = 3.464, df 2: p = 0.0742.
 * const c = pairedComparison([10, 20, 30], [11, 22, 33]);
 * assert.equal(c.meanDifference, 2);
 * assert.ok(Math.abs(c.t - 3.4641016) < 1e-6);
 * assert.ok(Math.abs(c.p - 0.0741799) < 1e-6);
 * assert.equal(c.significant, false);
 * ```
 */
export function pairedComparison(a: readonly number[], b: readonly number[]): PairedComparison {
  if (a.length !== b.length) {
    throw new RangeError(`Cannot compare ${a.length} seeds with ${b.length}: pair them by seed`);
  }
  const d = a.map((x, i) => b[i]! - x);
  const n = d.length;
  const mean = n === 0 ? NaN : d.reduce((s, x) => s + x, 0) / n;
  const sd = n < 2 ? NaN : Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1));
  const t = sd === 0 ? (mean === 0 ? 0 : Math.sign(mean) * Infinity) : mean / (sd / Math.sqrt(n));
  const p = n < 2 ? NaN : studentTwoSided(t, n - 1);
  return {
    n,
    meanDifference: mean,
    sdDifference: sd,
    t,
    p,
    significant: n >= 3 && p < 0.05,
  };
}

/**
 * Two-sided p-value of Student's t with `df` degrees of freedom:
 * I_{df/(df+t²)}(df/2, 1/2), the regularised incomplete beta function.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { studentTwoSided } from "./stats.ts";
 * assert.ok(Math.abs(studentTwoSided(2.776445, 4) - 0.05) < 1e-6); // the 97.5 % quantile, df 4
 * assert.equal(studentTwoSided(0, 3), 1);
 * ```
 */
export function studentTwoSided(t: number, df: number): number {
  if (!Number.isFinite(t)) return 0;
  return regularizedBeta(df / (df + t * t), df / 2, 0.5);
}

/** I_x(a, b) by its continued fraction (Numerical Recipes' betacf), with the symmetry swap. */
function regularizedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(
    logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x),
  );
  return x < (a + 1) / (a + b + 2)
    ? front * betaFraction(x, a, b) / a
    : 1 - front * betaFraction(1 - x, b, a) / b;
}

function betaFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1, d = 1 - (a + b) * x / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const step = d * c;
    h *= step;
    if (Math.abs(step - 1) < 1e-15) break;
  }
  return h;
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9). */
function logGamma(x: number): number {
  const g = [
    0.99999999999980993,
    676.5203681218851,
    -1259.1392167224028,
    771.32342877765313,
    -176.61502916214059,
    12.507343278686905,
    -0.13857109526572012,
    9.9843695780195716e-6,
    1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let s = g[0]!;
  for (let i = 1; i < 9; i++) s += g[i]! / (x + i);
  const t = x + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(s);
}
