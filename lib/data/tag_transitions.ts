/**
 * Tag-bigram statistics of training tag sequences, stored with a model so that
 * `transitions` decoding (inference/decoding.ts) can add them to the model's
 * per-word tag scores. Pure functions.
 * @module
 */

/**
 * Additive log-scores between consecutive tags, e.g. from
 * {@linkcode tagTransitions}, and an optional tag prior: with `prior` and
 * `priorWeight` λ, each word's emission score is `log p(tag | word) − λ · log
 * P(tag)`, i.e. the posterior divided by `P(tag)^λ`.
 */
export interface TagTransitions {
  /** Row-major `[previous, next]`. */
  readonly scores: readonly number[];
  /** Score of each tag at sentence start. */
  readonly start: readonly number[];
  /** `log P(tag)` on the training tags. */
  readonly prior?: readonly number[];
  /** λ, the power of the prior divided out (0: none, 1: full hybrid-HMM scaling). */
  readonly priorWeight?: number;
}

/**
 * Default λ of the tag-prior division. Half way between the plain posterior
 * (0) and the full hybrid-HMM scaling (1); on CoNLL-2003 dev, 0.5 scored best
 * of {0, 0.25, 0.5, 0.75, 1} (README, Real data).
 */
export const DEFAULT_TAG_PRIOR_WEIGHT = 0.5;

/**
 * Tag-bigram log-probabilities `weight · log P(next | previous)` counted on
 * training tag sequences, with add-one smoothing, and the tag prior `log
 * P(tag)` (add-one smoothed) with λ = `priorWeight`.
 */
export function tagTransitions(
  sequences: readonly (readonly string[])[],
  tags: readonly string[],
  weight = 1,
  priorWeight = DEFAULT_TAG_PRIOR_WEIGHT,
): TagTransitions {
  const n = tags.length;
  const index = new Map(tags.map((t, i) => [t, i]));
  const counts = new Array<number>(n * n).fill(1);
  const startCounts = new Array<number>(n).fill(1);
  const tagCounts = new Array<number>(n).fill(1);
  for (const seq of sequences) {
    let prev = -1;
    for (const t of seq) {
      const c = index.get(t);
      if (c === undefined) throw new RangeError(`Unknown tag "${t}"`);
      tagCounts[c]!++;
      if (prev < 0) startCounts[c]!++;
      else counts[prev * n + c]!++;
      prev = c;
    }
  }
  const scores: number[] = [];
  for (let p = 0; p < n; p++) {
    const row = counts.slice(p * n, p * n + n);
    const total = row.reduce((a, b) => a + b, 0);
    for (const c of row) scores.push(weight * Math.log(c / total));
  }
  const startTotal = startCounts.reduce((a, b) => a + b, 0);
  const tagTotal = tagCounts.reduce((a, b) => a + b, 0);
  return {
    scores,
    start: startCounts.map((c) => weight * Math.log(c / startTotal)),
    prior: tagCounts.map((c) => Math.log(c / tagTotal)),
    priorWeight,
  };
}
