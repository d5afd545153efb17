/**
 * Sentence embeddings from token vectors: mask-aware mean pooling, `[CLS]`
 * pooling (first token) or masked max pooling, optionally L2-normalised
 * (as keras-hub's text embedder and sentence-transformers do).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Pooling } from "../core/config.ts";
import type { TokenVectors } from "./encoder.ts";

/** Keeps the L2 norm away from zero. */
const NORM_EPSILON = 1e-12;
/** Added to padded positions before max pooling. */
const MAX_POOL_FILL = -1e9;

/**
 * Pools token vectors into one vector per sentence; padding never contributes.
 *
 * @param output encoder output: `[batch, seqLen, hiddenSize]` and mask `[batch, seqLen]`
 * @param pooling `mean`, `cls` or `max`
 * @returns `[batch, hiddenSize]`
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend/backend.ts";
 * await initBackend("wasm");
 * import { pool } from "./pooling.ts";
 * const sequenceOutput = tf.tensor3d([[[1, 2], [3, 4], [99, 99]]]);
 * const mask = tf.tensor2d([[1, 1, 0]]);
 * assert.deepEqual(pool({ sequenceOutput, mask }, "mean").arraySync(), [[2, 3]]);
 * assert.deepEqual(pool({ sequenceOutput, mask }, "max").arraySync(), [[3, 4]]);
 * assert.deepEqual(pool({ sequenceOutput, mask }, "cls").arraySync(), [[1, 2]]);
 * ```
 */
export function pool(output: TokenVectors, pooling: Pooling): tf.Tensor2D {
  return tf.tidy(() => {
    const { sequenceOutput: x, mask } = output;
    const [batch, seqLen, hiddenSize] = x.shape;
    const m = mask.reshape([batch, seqLen, 1]);
    switch (pooling) {
      case "mean":
        return x.mul(m).sum(1).div(m.sum(1).maximum(1)) as tf.Tensor2D;
      case "max":
        return x.add(tf.sub(1, m).mul(MAX_POOL_FILL)).max(1) as tf.Tensor2D;
      case "cls":
        return x.slice([0, 0, 0], [batch, 1, hiddenSize]).reshape([batch, hiddenSize]);
    }
  });
}

/**
 * Scales each row to unit L2 norm.
 * @param x `[batch, hiddenSize]`
 * @returns `[batch, hiddenSize]`
 */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => x.div(x.square().sum(1, true).add(NORM_EPSILON).sqrt()));
}
