/**
 * Character-level word features (a character CNN, as in Ma & Hovy 2016): each
 * word's characters are embedded, a width-3 convolution with ReLU runs over
 * them, the result is max-pooled over the word and projected to the hidden
 * size. It gives words outside the vocabulary — names, mostly — a
 * representation built from their spelling.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { dense, maxOverAxis1, slidingWindows } from "./ops.ts";
import type { ParameterStore } from "./parameters.ts";

/** Convolution width, in characters. */
export const CHAR_KERNEL_WIDTH = 3;

/** Sizes of a {@linkcode CharCnn}. */
export interface CharCnnConfig {
  /** Character ids, special ones included. */
  readonly charVocabSize: number;
  readonly embeddingSize: number;
  readonly filters: number;
  /** Output size (the encoder's hidden size). */
  readonly hiddenSize: number;
  /** Standard deviation of the output projection's initialiser. */
  readonly initializerRange: number;
}

/**
 * Character CNN over `[batch, seqLen, charWidth]` character ids (0 = padding).
 * Padding characters embed to zero and are masked before pooling, so a word's
 * vector does not depend on how many slots it leaves empty; a token with no characters at all
 * (padding, `[CLS]`) gets the projection of a zero vector, i.e. zero.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend/backend.ts";
 * import { CharCnn } from "./char_cnn.ts";
 * import { ParameterStore } from "./parameters.ts";
 * await initBackend("cpu");
 * const cnn = new CharCnn(new ParameterStore(1), "char", {
 *   charVocabSize: 10, embeddingSize: 4, filters: 6, hiddenSize: 8, initializerRange: 0.02 });
 * const out = cnn.apply(tf.tensor3d([[[2, 5, 6, 3, 0], [0, 0, 0, 0, 0]]], undefined, "int32"));
 * assert.deepEqual(out.shape, [1, 2, 8]);
 * assert.deepEqual(out.slice([0, 1, 0], [1, 1, 8]).dataSync(), new Float32Array(8));
 * ```
 */
export class CharCnn {
  readonly #embedding: tf.Variable;
  readonly #kernel: tf.Variable;
  readonly #bias: tf.Variable;
  readonly #projection: tf.Variable;

  /** Creates the parameters `${name}/embedding`, `/conv/kernel`, `/conv/bias`, `/projection`. */
  constructor(params: ParameterStore, name: string, config: CharCnnConfig) {
    const e = config.embeddingSize;
    const fanIn = CHAR_KERNEL_WIDTH * e;
    // Unit-variance character embeddings (as torch.nn.Embedding) and He-initialised
    // filters keep the ReLU features O(1); the projection starts as small as the
    // other embeddings it is added to.
    this.#embedding = params.create(`${name}/embedding`, [config.charVocabSize, e], {
      kind: "normal",
      stddev: 1,
    });
    this.#kernel = params.create(`${name}/conv/kernel`, [fanIn, config.filters], {
      kind: "normal",
      stddev: Math.sqrt(2 / fanIn),
    });
    this.#bias = params.create(`${name}/conv/bias`, [config.filters], { kind: "zeros" });
    this.#projection = params.create(`${name}/projection`, [config.filters, config.hiddenSize], {
      kind: "normal",
      stddev: config.initializerRange / Math.sqrt(config.filters),
    });
  }

  /**
   * @param charIds `[batch, seqLen, charWidth]` int32
   * @returns `[batch, seqLen, hiddenSize]`; call inside `tf.tidy`
   */
  apply(charIds: tf.Tensor3D): tf.Tensor3D {
    const [batch, seqLen, width] = charIds.shape;
    const words = batch * seqLen;
    const e = this.#embedding.shape[1]!;
    const filters = this.#kernel.shape[1]!;
    const present = charIds.reshape([words, width, 1]).notEqual(0).cast("float32");
    // Padding slots embed to zero, like the "same" padding at both ends, so empty
    // trailing slots change nothing.
    const chars = tf.gather(this.#embedding, charIds.reshape([-1])).reshape([words, width, e])
      .mul(present);
    const windows = slidingWindows(chars as tf.Tensor3D, CHAR_KERNEL_WIDTH);
    const features = dense(
      windows,
      this.#kernel as tf.Variable as tf.Tensor2D,
      this.#bias as tf.Variable as tf.Tensor1D,
    ).relu();
    const pooled = maxOverAxis1(
      features.reshape([words, width, filters]).mul(present) as tf.Tensor3D,
    );
    return dense(pooled, this.#projection as tf.Variable as tf.Tensor2D)
      .reshape([batch, seqLen, -1]) as tf.Tensor3D;
  }
}
