/**
 * Sentiment head: pools the encoder's token vectors into a sentence vector
 * (the same pooling as sentence embeddings) and classifies it.
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { Pooling } from "./config.ts";
import type { EncoderOutput } from "./encoder.ts";
import { dense, dropout } from "./ops.ts";
import type { ParameterStore } from "./parameters.ts";
import { pool } from "./pooling.ts";

/** Parameter-name prefix of the sentiment head. */
export const SENTIMENT_HEAD_PREFIX = "sentiment_head/";

/** Per-sentence label logits. */
export class SentimentHead {
  readonly #kernel: tf.Variable;
  readonly #bias: tf.Variable;
  readonly #dropout: number;
  readonly #pooling: Pooling;

  constructor(
    params: ParameterStore,
    args: {
      hiddenSize: number;
      numLabels: number;
      dropout: number;
      initializerRange: number;
      pooling: Pooling;
    },
  ) {
    this.#kernel = params.create(
      `${SENTIMENT_HEAD_PREFIX}kernel`,
      [args.hiddenSize, args.numLabels],
      { kind: "normal", stddev: args.initializerRange },
    );
    this.#bias = params.create(`${SENTIMENT_HEAD_PREFIX}bias`, [args.numLabels], {
      kind: "zeros",
    });
    this.#dropout = args.dropout;
    this.#pooling = args.pooling;
  }

  /**
   * @param output encoder output
   * @param seed dropout seed; undefined at inference
   * @returns logits `[batch, numLabels]`
   */
  apply(output: EncoderOutput, seed?: number): tf.Tensor2D {
    const pooled = dropout(pool(output, this.#pooling), this.#dropout, seed);
    return dense(pooled, this.#kernel as tf.Tensor2D, this.#bias as tf.Tensor1D) as tf.Tensor2D;
  }
}
