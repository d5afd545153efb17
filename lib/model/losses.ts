/**
 * Masked cross-entropy losses. One-hot targets are built as int32 and cast:
 * `tf.oneHot(..., "float32")` is wrong on the WASM backend (it writes int32 bit
 * patterns), which would silently zero the loss.
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/**
 * Mean cross-entropy over the positions whose label is ≥ 0; 0 when none is.
 *
 * @param logits `[..., numClasses]`
 * @param labels `[...]` int32, negative where ignored
 * @param denominator divide the summed loss by this instead of the number of
 *   labelled positions (data-parallel workers pass the whole batch's count)
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
): tf.Scalar {
  return tf.tidy(() => {
    const numClasses = logits.shape[logits.shape.length - 1]!;
    const valid = labels.greaterEqual(0);
    const safeLabels = tf.where(valid, labels, tf.zerosLike(labels));
    const targets = tf.oneHot(safeLabels.reshape([-1]) as tf.Tensor1D, numClasses, 1, 0, "int32")
      .cast("float32");
    const logProbs = tf.logSoftmax(logits.reshape([-1, numClasses]));
    const perItem = targets.mul(logProbs).sum(1).neg();
    const weights = valid.reshape([-1]).cast("float32");
    const total = perItem.mul(weights).sum();
    return (denominator === undefined
      ? total.div(weights.sum().maximum(1))
      : total.div(Math.max(1, denominator))) as tf.Scalar;
  });
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
    const total = diff.square().sum();
    const count = valid.cast("float32").sum();
    return (denominator === undefined
      ? total.div(count.maximum(1))
      : total.div(Math.max(1, denominator))) as tf.Scalar;
  });
}
