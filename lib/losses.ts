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
 * import { initBackend } from "./backend.ts";
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
