/**
 * Multi-head self-attention with a padding mask (Vaswani et al., 2017, §3.2).
 * tfjs has no public MultiHeadAttention layer, so it is written with plain ops.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { dense, dropout } from "./ops.ts";
import type { ParameterStore } from "./parameters.ts";
import { deriveSeed } from "../core/random.ts";

/** Added to attention scores of padded keys: exp(MASK_FILL) is exactly 0 in float32. */
export const MASK_FILL = -1e9;

/** Sizes of an attention layer. */
export interface AttentionArgs {
  /** Width of the input, and of the queries, keys and values (`numHeads × headDim`). */
  readonly hiddenSize: number;
  /** Width of the output projection. @default hiddenSize */
  readonly outputSize?: number;
  readonly numHeads: number;
  readonly dropout: number;
  readonly initializerRange: number;
}

/**
 * Self-attention: Q/K/V projections, scaled dot-product attention per head with
 * padded keys masked out, and an output projection. (Three projections rather
 * than one fused one: splitting the fused output costs more on WASM than it saves.)
 */
export class MultiHeadSelfAttention {
  readonly #args: AttentionArgs;
  readonly #name: string;
  readonly #projections: Record<"query" | "key" | "value", [tf.Variable, tf.Variable]>;
  readonly #outKernel: tf.Variable;
  readonly #outBias: tf.Variable;

  constructor(params: ParameterStore, name: string, args: AttentionArgs) {
    this.#args = args;
    this.#name = name;
    const h = args.hiddenSize;
    const normal = { kind: "normal", stddev: args.initializerRange } as const;
    const projection = (p: string): [tf.Variable, tf.Variable] => [
      params.create(`${name}/${p}/kernel`, [h, h], normal),
      params.create(`${name}/${p}/bias`, [h], { kind: "zeros" }),
    ];
    this.#projections = {
      query: projection("query"),
      key: projection("key"),
      value: projection("value"),
    };
    const out = args.outputSize ?? h;
    this.#outKernel = params.create(`${name}/output/kernel`, [h, out], normal);
    this.#outBias = params.create(`${name}/output/bias`, [out], { kind: "zeros" });
  }

  /**
   * @param x `[batch, seqLen, hiddenSize]`
   * @param maskBias `[batch, 1, 1, seqLen]`: 0 at real keys, {@linkcode MASK_FILL} at padding
   * @param seed dropout seed; undefined at inference
   * @returns `[batch, seqLen, outputSize]`
   */
  apply(x: tf.Tensor3D, maskBias: tf.Tensor4D, seed?: number): tf.Tensor3D {
    const [batch, seqLen, hiddenSize] = x.shape;
    const numHeads = this.#args.numHeads;
    const headDim = hiddenSize / numHeads;
    // 4-D transposes only: the WASM backend's 5-D transpose is ≈ 500× slower.
    const toHeads = (p: "query" | "key" | "value", perm: number[]) => {
      const [kernel, bias] = this.#projections[p];
      return dense(x, kernel as tf.Tensor2D, bias as tf.Tensor1D)
        .reshape([batch, seqLen, numHeads, headDim])
        .transpose(perm) as tf.Tensor4D;
    };
    const queries = toHeads("query", [0, 2, 1, 3]); // (B, nh, T, hd)
    const keysT = toHeads("key", [0, 2, 3, 1]); // (B, nh, hd, T)
    const values = toHeads("value", [0, 2, 1, 3]); // (B, nh, T, hd)
    const scores = tf.matMul(queries, keysT).mul(1 / Math.sqrt(headDim)).add(maskBias); // (B, nh, T, T)
    const probs = dropout(
      tf.softmax(scores),
      this.#args.dropout,
      seed === undefined ? undefined : deriveSeed(seed, this.#name, "probs"),
    );
    const context = tf.matMul(probs as tf.Tensor4D, values) // (B, nh, T, hd)
      .transpose([0, 2, 1, 3])
      .reshape([batch, seqLen, hiddenSize]);
    return dense(
      context,
      this.#outKernel as tf.Tensor2D,
      this.#outBias as tf.Tensor1D,
    ) as tf.Tensor3D;
  }
}

/**
 * Additive attention bias from a padding mask.
 * @param mask `[batch, seqLen]`, 1 at real tokens
 * @returns `[batch, 1, 1, seqLen]`
 */
export function attentionBias(mask: tf.Tensor2D): tf.Tensor4D {
  const [batch, seqLen] = mask.shape;
  return tf.sub(1, mask).mul(MASK_FILL).reshape([batch, 1, 1, seqLen]);
}
