/**
 * Building blocks used by every layer: dense projection, layer normalisation,
 * GELU and seeded dropout. Each takes and returns tensors and is meant to run
 * inside the caller's `tf.tidy`.
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Variance epsilon of layer normalisation (PyTorch's default). */
export const LAYER_NORM_EPSILON = 1e-5;

/**
 * `x @ kernel + bias` over the last axis. `x` is flattened to 2-D first, which
 * keeps the WASM backend's matmul on its fast path.
 *
 * @param x `[..., inSize]`
 * @param kernel `[inSize, outSize]`
 * @param bias `[outSize]`
 * @returns `[..., outSize]`
 */
export function dense(x: tf.Tensor, kernel: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor {
  const inSize = kernel.shape[0];
  const outSize = kernel.shape[1];
  const leading = x.shape.slice(0, -1);
  const flat = x.reshape([-1, inSize]) as tf.Tensor2D;
  const y = bias === undefined
    ? tf.matMul(flat, kernel)
    : tf.fused.matMul({ a: flat, b: kernel, bias });
  return y.reshape([...leading, outSize]);
}

/**
 * Layer normalisation over the last axis (Ba et al., 2016).
 * @returns same shape as `x`
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return x.sub(mean).mul(tf.rsqrt(variance.add(LAYER_NORM_EPSILON))).mul(gamma).add(beta);
}

/** GELU with the exact erf form (Hendrycks & Gimpel, 2016). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return x.mul(tf.erf(x.mul(Math.SQRT1_2)).add(1)).mul(0.5);
}

/** Inverted dropout; identity when `rate` is 0 or `seed` is undefined (inference). */
export function dropout(x: tf.Tensor, rate: number, seed: number | undefined): tf.Tensor {
  if (rate === 0 || seed === undefined) return x;
  return tf.dropout(x, rate, undefined, seed);
}
