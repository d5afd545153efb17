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
  const y = bias === undefined ? tf.matMul(flat, kernel) : denseWithBias(flat, kernel, bias);
  return y.reshape([...leading, outSize]);
}

/**
 * `x @ kernel + bias` with a hand-written gradient: the bias gradient is
 * `ones[1, rows] @ dy` (a matmul on XNNPACK's fast path) instead of a sum over
 * axis 0, which the WASM backend runs through a transpose (≈ 5× slower), and
 * no defensive copies of inputs and outputs (tf.fused.matMul makes four).
 */
const denseWithBias = tf.customGrad(
  (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, kernel, bias, save] = args as [
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor1D,
      tf.GradSaveFunc,
    ];
    save([x, kernel]);
    return {
      // Plain ops: tf.fused.matMul is itself a customGrad and would shadow this gradient.
      value: tf.matMul(x, kernel).add(bias),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const grad = dy as tf.Tensor2D;
        const [input, weights] = saved as [tf.Tensor2D, tf.Tensor2D];
        const ones = tf.ones([1, grad.shape[0]]) as tf.Tensor2D;
        return [
          tf.matMul(grad, weights, false, true),
          tf.matMul(input, grad, true, false),
          tf.matMul(ones, grad).reshape([grad.shape[1]]),
        ];
      },
    };
  },
) as unknown as (x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor1D) => tf.Tensor2D;

/**
 * Layer normalisation over the last axis (Ba et al., 2016).
 * @param epsilon variance epsilon @default LAYER_NORM_EPSILON
 * @returns same shape as `x`
 */
export function layerNorm(
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon = LAYER_NORM_EPSILON,
): tf.Tensor {
  const size = gamma.shape[0];
  return layerNorm2dWith(epsilon)(x.reshape([-1, size]) as tf.Tensor2D, gamma, beta)
    .reshape(x.shape);
}

type LayerNorm2d = (x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D) => tf.Tensor2D;
const layerNorms = new Map<number, LayerNorm2d>();

/** The layer normalisation of {@linkcode layerNorm2d} with a given epsilon (one per epsilon). */
function layerNorm2dWith(epsilon: number): LayerNorm2d {
  let f = layerNorms.get(epsilon);
  if (f === undefined) {
    f = layerNorm2d(epsilon);
    layerNorms.set(epsilon, f);
  }
  return f;
}

/**
 * Layer normalisation of `[rows, size]` with a hand-written gradient. Row means
 * are matmuls with a `1/size` column and column sums matmuls with a row of ones
 * (XNNPACK's fast path, where the WASM `Mean`/`Sum` kernels go through slow
 * reductions), and the backward pass is the closed form
 * `dx = rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂))` with `dx̂ = dy · γ`:
 * about 20 kernels per call instead of ≈ 35 from automatic differentiation.
 */
const layerNorm2d = (epsilon: number): LayerNorm2d =>
  tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, gamma, beta, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const [rows, size] = x.shape;
    const meanColumn = tf.fill([size, 1], 1 / size) as tf.Tensor2D;
    const centred = x.sub(tf.matMul(x, meanColumn));
    const variance = tf.matMul(centred.square() as tf.Tensor2D, meanColumn);
    const rstd = variance.add(epsilon).rsqrt();
    const normalised = centred.mul(rstd);
    save([normalised, rstd, gamma, meanColumn]);
    return {
      value: normalised.mul(gamma).add(beta),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const grad = dy as tf.Tensor2D;
        const [xhat, r, g, column] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D];
        const ones = tf.ones([1, rows]) as tf.Tensor2D;
        const dxhat = grad.mul(g) as tf.Tensor2D;
        const meanDxhat = tf.matMul(dxhat, column);
        const meanDxhatXhat = tf.matMul(dxhat.mul(xhat) as tf.Tensor2D, column);
        return [
          dxhat.sub(meanDxhat).sub(xhat.mul(meanDxhatXhat)).mul(r),
          tf.matMul(ones, grad.mul(xhat) as tf.Tensor2D).reshape([size]),
          tf.matMul(ones, grad).reshape([size]),
        ];
      },
    };
  }) as unknown as LayerNorm2d;

/** Slope of the sigmoid approximation of GELU. */
const GELU_SIGMOID_SCALE = 1.702;

/**
 * GELU in its sigmoid approximation `x · σ(1.702 x)` (Hendrycks & Gimpel, 2016, §2;
 * max. deviation from the erf form ≈ 0.02). On WASM, `erf` and `tanh` are scalar
 * kernels ≈ 10× slower than the vectorised `sigmoid`.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  return x.mul(tf.sigmoid(x.mul(GELU_SIGMOID_SCALE)));
}

/** Inverted dropout; identity when `rate` is 0 or `seed` is undefined (inference). */
export function dropout(x: tf.Tensor, rate: number, seed: number | undefined): tf.Tensor {
  if (rate === 0 || seed === undefined) return x;
  return tf.dropout(x, rate, undefined, seed);
}

/**
 * Maximum over axis 1 of `[n, width, features]`, with a hand-written gradient:
 * tf.max's gradient compares `x` with the broadcast maximum through `Equal`,
 * which the WASM backend runs ≈ 150× slower than a vectorised op when it
 * broadcasts. Here the "is the maximum" mask is `relu(1 + (x - max) · 1e30)`:
 * 1 where `x` equals the maximum, 0 wherever it is smaller (by any float32
 * amount), from fast broadcasting ops only. Ties all receive the gradient, as
 * with tf.max.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend/backend.ts";
 * import { maxOverAxis1 } from "./ops.ts";
 * await initBackend("cpu");
 * const x = tf.tensor3d([[[1, 5], [3, 5], [2, 0]]]);
 * assert.deepEqual([...maxOverAxis1(x).dataSync()], [3, 5]);
 * const g = tf.grad((v: tf.Tensor) => maxOverAxis1(v as tf.Tensor3D).mul([1, 10]).sum())(x);
 * assert.deepEqual([...g.dataSync()], [0, 10, 1, 10, 0, 0]);
 * ```
 */
export const maxOverAxis1 = tf.customGrad(
  (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor3D, tf.GradSaveFunc];
    const value = x.max(1) as tf.Tensor2D;
    save([x, value]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [input, max] = saved as [tf.Tensor3D, tf.Tensor2D];
        const isMax = tf.relu(input.sub(max.expandDims(1)).mul(1e30).add(1));
        return [isMax.mul(dy.expandDims(1))];
      },
    };
  },
) as unknown as (x: tf.Tensor3D) => tf.Tensor2D;

/**
 * The `width` (odd) neighbours of each position of `[batch, length, features]`
 * side by side: `[batch, length, width · features]`, zeros beyond either end —
 * the input of a "same"-padded 1-D convolution done as one matmul.
 */
export function slidingWindows(x: tf.Tensor3D, width: number): tf.Tensor3D {
  const [batch, length, features] = x.shape;
  const half = (width - 1) / 2;
  const padded = tf.pad(x, [[0, 0], [half, half], [0, 0]]);
  return tf.concat(
    Array.from({ length: width }, (_, k) => padded.slice([0, k, 0], [batch, length, features])),
    2,
  ) as tf.Tensor3D;
}
