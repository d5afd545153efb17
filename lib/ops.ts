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
 * @returns same shape as `x`
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return x.sub(mean).mul(tf.rsqrt(variance.add(LAYER_NORM_EPSILON))).mul(gamma).add(beta);
}

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
