/**
 * Masked cross-entropy losses. One-hot targets are built as int32 and cast:
 * `tf.oneHot(..., "float32")` is wrong on the WASM backend (it writes int32 bit
 * patterns), which would silently zero the loss.
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/**
 * Mean cross-entropy over the positions whose label is ≥ 0; 0 when none is.
 * With label smoothing ε the target of a position is `1 − ε` on its label
 * plus `ε / numClasses` on every class (Szegedy et al., 2016).
 *
 * @param logits `[..., numClasses]`
 * @param labels `[...]` int32, negative where ignored
 * @param denominator divide the summed loss by this instead of the number of
 *   labelled positions (data-parallel workers pass the whole batch's count)
 * @param smoothing label smoothing ε in [0, 1)
 * @returns scalar
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend/backend.ts";
 * await initBackend("wasm");
 * import { maskedCrossEntropy } from "./losses.ts";
 * const loss = maskedCrossEntropy(tf.tensor2d([[0, 0], [5, -5]]), tf.tensor1d([1, -1], "int32"));
 * assert.ok(Math.abs(loss.dataSync()[0]! - Math.LN2) < 1e-6);
 * ```
 */
export function maskedCrossEntropy(
  logits: tf.Tensor,
  labels: tf.Tensor,
  denominator?: number,
  smoothing = 0,
): tf.Scalar {
  return tf.tidy(() => {
    const numClasses = logits.shape[logits.shape.length - 1]!;
    const { targets: oneHot, weights } = oneHotLabels(labels.reshape([-1]), numClasses);
    const targets = smoothing > 0 ? oneHot.mul(1 - smoothing).add(smoothing / numClasses) : oneHot;
    const logProbs = tf.logSoftmax(logits.reshape([-1, numClasses]));
    const perItem = targets.mul(logProbs).sum(1).neg();
    return perLabel(perItem.mul(weights).sum(), weights.sum(), denominator);
  });
}

/**
 * One-hot rows of `labels` (class 0 where a label is negative: weigh them out)
 * and the 0/1 weights of the labelled positions, both float32. Built as int32 and cast
 * (see the module documentation).
 */
function oneHotLabels(
  labels: tf.Tensor,
  numClasses: number,
): { targets: tf.Tensor; weights: tf.Tensor } {
  const valid = labels.greaterEqual(0);
  const safeLabels = tf.where(valid, labels, tf.zerosLike(labels));
  const targets = tf.oneHot(safeLabels.reshape([-1]) as tf.Tensor1D, numClasses, 1, 0, "int32")
    .cast("float32").reshape([...labels.shape, numClasses]);
  return { targets, weights: valid.cast("float32") };
}

/** `total` divided by `denominator` when given, else by `count` (each at least 1). */
function perLabel(total: tf.Tensor, count: tf.Tensor, denominator?: number): tf.Scalar {
  return (denominator === undefined
    ? total.div(count.maximum(1))
    : total.div(Math.max(1, denominator))) as tf.Scalar;
}

/**
 * Correct and labelled counts of one classification output: the argmax of
 * `logits` against `labels` where they are ≥ 0.
 * @param logits `[..., numLabels]`
 * @param labels `[...]` int32, negative where ignored
 * @returns two scalars: correct, labelled
 */
export function accuracyCounts(logits: tf.Tensor, labels: tf.Tensor): [tf.Scalar, tf.Scalar] {
  return tf.tidy(() => {
    const valid = labels.greaterEqual(0);
    const hit = logits.argMax(-1).cast("int32").equal(labels).logicalAnd(valid);
    return [hit.cast("float32").sum(), valid.cast("float32").sum()] as [tf.Scalar, tf.Scalar];
  });
}

/**
 * Cosine-similarity loss of Sentence-BERT: the mean squared difference of the
 * predicted similarities and the gold scores (already scaled to [0, 1] or
 * [-1, 1]), over the pairs whose score is finite (NaN marks "no score").
 *
 * @param predicted `[pairs]`
 * @param gold `[pairs]` float32
 * @param denominator divide by this instead of the number of scored pairs
 * @returns scalar
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend/backend.ts";
 * await initBackend("cpu");
 * import { similarityLoss } from "./losses.ts";
 * const loss = similarityLoss(tf.tensor1d([0.5, 1, 0.2]), tf.tensor1d([1, 1, NaN]));
 * assert.ok(Math.abs(loss.dataSync()[0]! - 0.125) < 1e-7);
 * ```
 */
export function similarityLoss(
  predicted: tf.Tensor1D,
  gold: tf.Tensor1D,
  denominator?: number,
): tf.Scalar {
  return tf.tidy(() => {
    const valid = gold.equal(gold); // false at NaN
    const diff = tf.where(valid, predicted.sub(gold), tf.zerosLike(predicted));
    return perLabel(diff.square().sum(), valid.cast("float32").sum(), denominator);
  });
}

/**
 * Negative log-likelihood of a linear-chain CRF (Lafferty et al. 2001; the
 * output layer of Lample et al. 2016): per sentence, `log Z − score(gold)`,
 * where a tag sequence scores the sum of its emissions, the start score of its
 * first tag and the transition scores of its consecutive tag pairs, and `Z`
 * sums `exp(score)` over every sequence (the forward algorithm). The positions
 * whose label is ≥ 0 are the sentence (they must be contiguous, one label per
 * word: `[CLS]` and padding are −1). Summed over sentences and divided by the
 * number of labelled positions (or `denominator`), so its scale matches
 * {@linkcode maskedCrossEntropy}'s.
 *
 * @param emissions `[batch, seqLen, numTags]` unnormalised scores
 * @param labels `[batch, seqLen]` int32, negative where ignored
 * @param transitions `[numTags, numTags]`, row: previous tag, column: next tag
 * @param start `[numTags]`
 * @returns scalar
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend/backend.ts";
 * await initBackend("cpu");
 * import { crfNegativeLogLikelihood } from "./losses.ts";
 * // two tags, all scores 0: each of the 4 sequences of 2 words is equally likely
 * const loss = crfNegativeLogLikelihood(
 *   tf.zeros([1, 3, 2]), tf.tensor2d([[-1, 0, 1]], [1, 3], "int32"), tf.zeros([2, 2]), tf.zeros([2]),
 * );
 * assert.ok(Math.abs(loss.dataSync()[0]! - Math.log(4) / 2) < 1e-6);
 * ```
 */
export function crfNegativeLogLikelihood(
  emissions: tf.Tensor,
  labels: tf.Tensor,
  transitions: tf.Tensor,
  start: tf.Tensor,
  denominator?: number,
): tf.Scalar {
  return tf.tidy(() => {
    const [batch, seqLen, numTags] = emissions.shape as [number, number, number];
    const { targets: gold, weights: mask } = oneHotLabels(labels, numTags); // [b, t, tags], [b, t]
    // first: the sentence's first labelled position (labelled positions are contiguous)
    const before = tf.concat([tf.zeros([batch, 1]), mask.slice([0, 0], [batch, seqLen - 1])], 1);
    const first = mask.mul(tf.sub(1, before));
    const inner = mask.sub(first);

    // Score of the gold sequence: emissions, start, transitions between labelled neighbours.
    const emitted = gold.mul(emissions).sum(2).mul(mask).sum(1);
    const started0 = gold.mul(start.reshape([1, 1, numTags])).sum(2).mul(first).sum(1);
    let moved: tf.Tensor = tf.zeros([batch]);
    if (seqLen > 1) {
      const prev = gold.slice([0, 0, 0], [batch, seqLen - 1, numTags]).reshape([-1, numTags]);
      const next = gold.slice([0, 1, 0], [batch, seqLen - 1, numTags]).reshape([-1, numTags]);
      const pairs = tf.matMul(prev, transitions).mul(next).sum(1).reshape([batch, seqLen - 1]);
      moved = pairs.mul(inner.slice([0, 1], [batch, seqLen - 1])).sum(1);
    }
    const goldScore = emitted.add(started0).add(moved);

    // log Z by the forward algorithm, in probability space with per-step
    // normalisation (the scaled forward algorithm of HMMs: one small matMul per
    // word instead of a log-sum-exp over a [batch, tags, tags] tensor); alpha
    // stays put where a position is unlabelled. Emissions are shifted by their
    // per-word maximum, which is added back.
    const top = emissions.max(2, true);
    const shifted = emissions.sub(top).exp();
    const opened = shifted.mul(start.exp().reshape([1, 1, numTags])).mul(first.expandDims(2));
    const moving = shifted.mul(inner.expandDims(2));
    const keep = tf.sub(1, first).sub(inner).expandDims(2);
    const byWord = (x: tf.Tensor) => tf.unstack(x.transpose([1, 0, 2]));
    const openedAt = byWord(opened), movingAt = byWord(moving), keepAt = byWord(keep);
    const expTransitions = transitions.exp();
    let alpha: tf.Tensor = tf.fill([batch, numTags], 1 / numTags);
    const logScales: tf.Tensor[] = [];
    for (let t = 0; t < seqLen; t++) {
      const next = tf.matMul(alpha, expTransitions).mul(movingAt[t]!)
        .add(openedAt[t]!).add(alpha.mul(keepAt[t]!));
      const scale = next.sum(1, true);
      logScales.push(scale.log());
      alpha = next.div(scale);
    }
    // A row with no label has a gold score of 0; its log Z is zeroed here.
    const shifts = top.reshape([batch, seqLen]).mul(mask).sum(1);
    const logZ = tf.addN(logScales).reshape([batch]).add(shifts).mul(mask.max(1));
    return perLabel(logZ.sub(goldScore).sum(), mask.sum(), denominator);
  });
}
