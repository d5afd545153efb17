/**
 * NER head: a per-token linear classifier over the encoder's token vectors.
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { EncoderOutput } from "./encoder.ts";
import { dense, dropout } from "./ops.ts";
import type { ParameterStore } from "./parameters.ts";

/** Parameter-name prefix of the NER head. */
export const NER_HEAD_PREFIX = "ner_head/";

/** Per-token tag logits. */
export class NerHead {
  readonly #kernel: tf.Variable;
  readonly #bias: tf.Variable;
  readonly #dropout: number;

  constructor(
    params: ParameterStore,
    args: { hiddenSize: number; numTags: number; dropout: number; initializerRange: number },
  ) {
    this.#kernel = params.create(`${NER_HEAD_PREFIX}kernel`, [args.hiddenSize, args.numTags], {
      kind: "normal",
      stddev: args.initializerRange,
    });
    this.#bias = params.create(`${NER_HEAD_PREFIX}bias`, [args.numTags], { kind: "zeros" });
    this.#dropout = args.dropout;
  }

  /**
   * @param output encoder output
   * @param seed dropout seed; undefined at inference
   * @returns logits `[batch, seqLen, numTags]`
   */
  apply(output: EncoderOutput, seed?: number): tf.Tensor3D {
    const x = dropout(output.sequenceOutput, this.#dropout, seed);
    return dense(x, this.#kernel as tf.Tensor2D, this.#bias as tf.Tensor1D) as tf.Tensor3D;
  }
}
