/**
 * The multi-task model: one shared {@linkcode Encoder}, an NER head and a
 * sentiment head. Heads read only the {@linkcode EncoderOutput}.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ModelConfig } from "./config.ts";
import { type EmbeddingRows, Encoder, type EncoderInputs, type EncoderOutput } from "./encoder.ts";
import { NerHead } from "./ner_head.ts";
import { ParameterStore } from "./parameters.ts";
import { l2Normalize, pool } from "./pooling.ts";
import { deriveSeed } from "./random.ts";
import { SentimentHead } from "./sentiment_head.ts";

/** Sizes that come from the data rather than the config. */
export interface ModelDims {
  readonly vocabSize: number;
  /** Width of the word embedding table when it differs from `hiddenSize` (pretrained vectors). */
  readonly tokenDim?: number;
  /** Affix hash buckets of the tokenizer (0: no affix features). @default 0 */
  readonly affixBuckets?: number;
  /** Character ids of the tokenizer, special ones included (0: no character CNN). @default 0 */
  readonly charVocabSize?: number;
  readonly numNerTags: number;
  readonly numSentimentLabels: number;
}

/**
 * Model sizes for a tokenizer and label sets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { modelDims } from "./model.ts";
 * assert.deepEqual(modelDims({ vocabSize: 9, affixBuckets: 4 }, { nerTags: ["O"], sentimentLabels: ["a", "b"] }),
 *   { vocabSize: 9, affixBuckets: 4, numNerTags: 1, numSentimentLabels: 2 });
 * ```
 */
export function modelDims(
  tokenizer: {
    readonly vocabSize: number;
    readonly affixBuckets: number;
    readonly charVocabSize?: number;
    readonly vectorDim?: number;
  },
  labels: { readonly nerTags: readonly string[]; readonly sentimentLabels: readonly string[] },
): ModelDims {
  return {
    vocabSize: tokenizer.vocabSize,
    ...(tokenizer.vectorDim ? { tokenDim: tokenizer.vectorDim } : {}),
    affixBuckets: tokenizer.affixBuckets,
    ...(tokenizer.charVocabSize ? { charVocabSize: tokenizer.charVocabSize } : {}),
    numNerTags: labels.nerTags.length,
    numSentimentLabels: labels.sentimentLabels.length,
  };
}

/**
 * Everything one forward pass produces. The caller owns the new tensors;
 * `mask` is the input mask, passed through (do not dispose it with the outputs).
 */
export interface ModelOutput extends EncoderOutput {
  /** `[batch, seqLen, numNerTags]` */
  readonly nerLogits: tf.Tensor3D;
  /** `[batch, numSentimentLabels]` */
  readonly sentimentLogits: tf.Tensor2D;
}

/** Options of a forward pass. */
export interface ForwardOptions {
  /** Dropout seed. When undefined, dropout is off (inference). */
  readonly dropoutSeed?: number;
  /** Embedding rows to read instead of whole tables (row-sparse training; see `Encoder.apply`). */
  readonly embeddingRows?: EmbeddingRows;
}

/**
 * Shared encoder + NER head + sentiment head.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend, MultiTaskModel, resolveConfig } from "./mod.ts";
 * await initBackend("wasm");
 * const config = resolveConfig({}, "tiny");
 * const model = new MultiTaskModel(config.model, { vocabSize: 10, numNerTags: 3, numSentimentLabels: 2 }, 1);
 * const ids = tf.tensor2d([[2, 5, 6]], [1, 3], "int32");
 * const out = model.forward({ tokenIds: ids, caseIds: tf.zerosLike(ids), mask: tf.ones([1, 3]) });
 * assert.deepEqual(out.nerLogits.shape, [1, 3, 3]);
 * assert.deepEqual(out.sentimentLogits.shape, [1, 2]);
 * model.dispose();
 * ```
 */
export class MultiTaskModel {
  readonly config: ModelConfig;
  readonly dims: ModelDims;
  readonly parameters: ParameterStore;
  readonly encoder: Encoder;
  readonly nerHead: NerHead;
  readonly sentimentHead: SentimentHead;

  /**
   * @param config model shape
   * @param dims vocabulary and label-set sizes
   * @param seed seeds weight initialisation
   */
  constructor(config: ModelConfig, dims: ModelDims, seed: number) {
    this.config = config;
    this.dims = dims;
    this.parameters = new ParameterStore(seed);
    this.encoder = new Encoder(this.parameters, config, dims);
    const headArgs = {
      hiddenSize: config.hiddenSize,
      dropout: config.dropout,
      initializerRange: config.initializerRange,
    };
    this.nerHead = new NerHead(this.parameters, { ...headArgs, numTags: dims.numNerTags });
    this.sentimentHead = new SentimentHead(this.parameters, {
      ...headArgs,
      numLabels: dims.numSentimentLabels,
      pooling: config.pooling,
    });
  }

  /** Encoder, then both heads. Call inside `tf.tidy` or dispose the outputs. */
  forward(inputs: EncoderInputs, options: ForwardOptions = {}): ModelOutput {
    return tf.tidy(() => {
      const seed = options.dropoutSeed;
      const encoded = this.encoder.apply(inputs, seed, options.embeddingRows);
      return {
        ...encoded,
        nerLogits: this.nerHead.apply(encoded, seed === undefined ? seed : deriveSeed(seed, "ner")),
        sentimentLogits: this.sentimentHead.apply(
          encoded,
          seed === undefined ? seed : deriveSeed(seed, "sentiment"),
        ),
      };
    });
  }

  /**
   * Sentence embeddings (inference, no dropout).
   * @returns `[batch, hiddenSize]`; the caller owns it
   */
  embed(inputs: EncoderInputs, options: { normalize?: boolean } = {}): tf.Tensor2D {
    return tf.tidy(() => {
      const pooled = pool(this.encoder.apply(inputs), this.config.pooling);
      return options.normalize === true ? l2Normalize(pooled) : pooled;
    });
  }

  /** Number of trainable scalars. */
  countParameters(filter?: (name: string) => boolean): number {
    return this.parameters.count(filter);
  }

  /** Frees every tensor the model holds. */
  dispose(): void {
    this.parameters.dispose();
    this.encoder.dispose();
  }
}
