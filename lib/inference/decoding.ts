/**
 * Tag decoding: from per-word tag scores to one tag sequence. `argmax` picks
 * each word's best tag on its own; `constrained` (Viterbi) picks the sequence
 * with the highest total log-probability among well-formed IOB2 sequences, so
 * an `I-X` only follows `B-X` or `I-X` and never starts a sentence. The
 * conlleval scorer treats a stray `I-X` as the start of a new entity, which
 * splits and mistypes entities; the constraint removes those spurious spans.
 * `transitions` also adds tag-bigram log-probabilities from the training data,
 * which penalises the commonest remaining error, a name split into two
 * entities (`B-PER B-PER`), and divides the model's tag posteriors by a power
 * of the training tag frequencies (the "scaled likelihoods" of hybrid neural
 * network/HMM decoders), so the tag prior is not counted twice.
 * @module
 */

import { DEFAULT_TAG_PRIOR_WEIGHT, type TagTransitions } from "../data/tag_transitions.ts";

export { DEFAULT_TAG_PRIOR_WEIGHT, type TagTransitions };

/**
 * How per-word tag scores become tags: `argmax` per word; `constrained`, the
 * best well-formed IOB2 sequence; `transitions`, the same with the tag-bigram
 * scores counted on the training tags added (an HMM-style output layer;
 * `constrained` when a model has none).
 */
export type TagDecoding = "argmax" | "constrained" | "transitions";

/** Every tag-decoding mode, for validation and CLI help. */
export const TAG_DECODINGS: readonly TagDecoding[] = ["argmax", "constrained", "transitions"];

/**
 * Whether `next` may follow `prev` in IOB2 (`prev` null: sentence start).
 * Tags other than `B-`/`I-`/`O` are allowed everywhere.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { iob2Allows } from "./decoding.ts";
 * assert.equal(iob2Allows("B-PER", "I-PER"), true);
 * assert.equal(iob2Allows("O", "I-PER"), false);
 * assert.equal(iob2Allows(null, "I-LOC"), false);
 * ```
 */
export function iob2Allows(prev: string | null, next: string): boolean {
  if (!next.startsWith("I-")) return true;
  if (prev === null) return false;
  const type = next.slice(2);
  return prev === `B-${type}` || prev === `I-${type}`;
}

const allowedCache = new WeakMap<readonly string[], readonly boolean[]>();

/** `[previous, next]` matrix of {@linkcode iob2Allows}, computed once per tag list. */
function allowedTransitions(tags: readonly string[]): readonly boolean[] {
  let allowed = allowedCache.get(tags);
  if (allowed === undefined) {
    allowed = tags.flatMap((p) => tags.map((c) => iob2Allows(p, c)));
    allowedCache.set(tags, allowed);
  }
  return allowed;
}

/**
 * Index of the best tag per word, with no constraint between words.
 * @param scores row-major `[words, tags]`
 */
export function argmaxTags(scores: ArrayLike<number>, numWords: number, numTags: number): number[] {
  const out: number[] = [];
  for (let w = 0; w < numWords; w++) {
    let best = 0;
    for (let c = 1; c < numTags; c++) {
      if (scores[w * numTags + c]! > scores[w * numTags + best]!) best = c;
    }
    out.push(best);
  }
  return out;
}

/**
 * The well-formed IOB2 sequence with the highest sum of log-probabilities
 * (Viterbi over the 0/−∞ transition constraints of {@linkcode iob2Allows}).
 * Ties go to the lower tag index, as in argmax, so when the argmax sequence is
 * well-formed both decoders return it.
 *
 * @param probs row-major `[words, tags]` probabilities (softmax outputs)
 * @param tags tag names, in the order of the score columns
 * @returns one tag index per word
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { viterbiTags } from "./decoding.ts";
 * const tags = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"];
 * // argmax would give O I-PER: a stray I-PER
 * const probs = [
 *   0.6, 0.1, 0.1, 0.1, 0.1, // word 1
 *   0.1, 0.3, 0.4, 0.1, 0.1, // word 2
 * ];
 * assert.deepEqual(viterbiTags(probs, 2, tags), [0, 1]);
 * ```
 */
export function viterbiTags(
  probs: ArrayLike<number>,
  numWords: number,
  tags: readonly string[],
  transitions?: TagTransitions,
): number[] {
  const n = tags.length;
  if (numWords === 0) return [];
  const allowed = allowedTransitions(tags);
  const priorWeight = transitions?.prior === undefined ? 0 : transitions.priorWeight ?? 0;
  const prior = transitions?.prior;
  const logp = (w: number, c: number) =>
    Math.log(Math.max(probs[w * n + c]!, 1e-30)) -
    (priorWeight === 0 ? 0 : priorWeight * prior![c]!);
  const trans = (p: number, c: number) =>
    transitions === undefined ? 0 : transitions.scores[p * n + c]!;
  let score = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    score[c] = iob2Allows(null, tags[c]!) ? logp(0, c) + (transitions?.start[c] ?? 0) : -Infinity;
  }
  const back = new Int32Array(numWords * n);
  for (let w = 1; w < numWords; w++) {
    const next = new Float64Array(n);
    for (let c = 0; c < n; c++) {
      let best = -1, bestScore = -Infinity;
      for (let p = 0; p < n; p++) {
        if (!allowed[p * n + c] || score[p] === -Infinity) continue;
        if (score[p]! + trans(p, c) > bestScore) {
          bestScore = score[p]! + trans(p, c);
          best = p;
        }
      }
      back[w * n + c] = best;
      next[c] = best < 0 ? -Infinity : bestScore + logp(w, c);
    }
    score = next;
  }
  let last = 0;
  for (let c = 1; c < n; c++) if (score[c]! > score[last]!) last = c;
  const out = new Array<number>(numWords);
  out[numWords - 1] = last;
  for (let w = numWords - 1; w > 0; w--) out[w - 1] = back[w * n + out[w]!]!;
  return out;
}
