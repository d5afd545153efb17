/**
 * The shared transformer encoder: token + position (+ case) embeddings, then
 * pre-LayerNorm blocks `x = x + attn(ln1(x)); x = x + ffn(ln2(x))` (as in GPT-2
 * and nanoGPT), then a final LayerNorm.
 *
 * Contract with the heads: {@linkcode EncoderOutput} — token vectors
 * `[batch, seqLen, hiddenSize]` and the mask `[batch, seqLen]`.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { attentionBias, MultiHeadSelfAttention } from "./attention.ts";
import { CharCnn } from "./char_cnn.ts";
import type { ModelConfig } from "../core/config.ts";
import { dense, dropout, gelu, layerNorm, slidingWindows } from "./ops.ts";
import type { ParameterStore } from "./parameters.ts";
import { deriveSeed } from "../core/random.ts";
import { NUM_CASE_FEATURES } from "../data/tokenizer.ts";
import type { BackboneTensors } from "../data/encoding.ts";

/**
 * What the model gives every head: the task encoder's token vectors and the
 * mask, and with a pretrained backbone its pooled sentence output (as
 * keras-hub's `sequence_output` and `pooled_output`).
 */
export interface EncoderOutput {
  /**
   * `[batch, seqLen, hiddenSize]` contextual token vectors; absent when the
   * task encoder did not run (a backbone model's batch whose heads read only
   * the backbone's sentence output)
   */
  readonly sequenceOutput?: tf.Tensor3D;
  /** `[batch, seqLen]` float32, 1 at real tokens */
  readonly mask: tf.Tensor2D;
  /** `[batch, pooledSize]` the pretrained backbone's pooled output (tanh), when the model has one */
  readonly pooledOutput?: tf.Tensor2D;
}

/** Token vectors and their mask: what pooling and token heads read. */
export interface TokenVectors {
  /** `[batch, seqLen, hiddenSize]` */
  readonly sequenceOutput: tf.Tensor3D;
  /** `[batch, seqLen]` float32, 1 at real tokens */
  readonly mask: tf.Tensor2D;
}

/**
 * The token vectors of an encoder output.
 * @throws {RangeError} when the task encoder did not run for it
 */
export function tokenVectors(output: EncoderOutput, reader: string): TokenVectors {
  if (output.sequenceOutput === undefined) {
    throw new RangeError(`Cannot run ${reader}: the task encoder did not run for this batch`);
  }
  return { sequenceOutput: output.sequenceOutput, mask: output.mask };
}

/** Encoder inputs (see `encoding.ts`). */
export interface EncoderInputs {
  /** With a pretrained backbone: its input (pieces or cached features) */
  readonly backbone?: BackboneTensors;
  /** `[batch, seqLen]` int32 */
  readonly tokenIds: tf.Tensor2D;
  /** `[batch, seqLen]` int32 */
  readonly caseIds: tf.Tensor2D;
  /** `[batch, seqLen, affixCount]` int32 prefix, suffix (and shape) ids (when the model has affix features) */
  readonly affixIds?: tf.Tensor3D;
  /** `[batch, seqLen, charWidth]` int32 character ids (when the model has a character CNN) */
  readonly charIds?: tf.Tensor3D;
  /** `[batch, seqLen]` float32 */
  readonly mask: tf.Tensor2D;
}

/** Input sizes of the encoder's embeddings that come from the tokenizer. */
export interface EmbeddingDims {
  readonly vocabSize: number;
  /**
   * Width of the word embedding table (pretrained vectors' dimension); when it
   * differs from `hiddenSize`, a learned projection follows. @default hiddenSize
   */
  readonly tokenDim?: number;
  /** Affix hash buckets (0: no affix features). @default 0 */
  readonly affixBuckets?: number;
  /** Character ids, special ones included (0: no character CNN). @default 0 */
  readonly charVocabSize?: number;
  /**
   * Width of a pretrained backbone's word states, which are projected to
   * `hiddenSize` and added at the input or the output (`config.backboneWords`);
   * 0: no backbone. @default 0
   */
  readonly backboneWidth?: number;
}

/** Parameter-name prefixes of the encoder, for freezing and parameter groups. */
export const EMBEDDINGS_PREFIX = "embeddings/";
export const ENCODER_PREFIX = "encoder/";
/** The word embedding table (`[vocabSize, tokenDim]`). */
export const TOKEN_EMBEDDING = `${EMBEDDINGS_PREFIX}token`;
/** The projection of word embeddings to `hiddenSize`, when their widths differ. */
export const TOKEN_PROJECTION = `${EMBEDDINGS_PREFIX}token_projection`;
/** The hashed prefix/suffix/shape embedding table. */
export const AFFIX_EMBEDDING = `${EMBEDDINGS_PREFIX}affix`;
/** The projection of a backbone's word states, by where they join (`config.backboneWords`). */
export const BACKBONE_WORDS = {
  input: `${EMBEDDINGS_PREFIX}backbone_words`,
  output: `${ENCODER_PREFIX}backbone_words`,
} as const;

/**
 * The embedding tables a batch reads only some rows of, with the input that
 * indexes each: they can be updated row-sparsely (`train.embeddingUpdates: "lazy"`).
 */
export const ROW_SPARSE_TABLES: Readonly<Record<string, "tokenIds" | "affixIds">> = {
  [TOKEN_EMBEDDING]: "tokenIds",
  [AFFIX_EMBEDDING]: "affixIds",
};

/**
 * Rows of embedding tables to read instead of the tables themselves, by table
 * name: `[rows, width]`, indexed by the (then local) ids of the matching input.
 */
export type EmbeddingRows = Readonly<Record<string, tf.Tensor2D>>;

/** Name prefix of encoder layer `index`. */
export function layerPrefix(index: number): string {
  return `${ENCODER_PREFIX}layer_${index}/`;
}

/** One pre-LN transformer block. */
class EncoderLayer {
  readonly #name: string;
  readonly #dropout: number;
  readonly #attention: MultiHeadSelfAttention;
  readonly #ln1: [tf.Variable, tf.Variable];
  readonly #ln2: [tf.Variable, tf.Variable];
  readonly #ffnIn: [tf.Variable, tf.Variable];
  readonly #ffnOut: [tf.Variable, tf.Variable];

  constructor(params: ParameterStore, name: string, config: ModelConfig) {
    const h = config.hiddenSize;
    const normal = { kind: "normal", stddev: config.initializerRange } as const;
    this.#name = name;
    this.#dropout = config.dropout;
    this.#ln1 = [
      params.create(`${name}/ln_1/gamma`, [h], { kind: "ones" }),
      params.create(`${name}/ln_1/beta`, [h], { kind: "zeros" }),
    ];
    this.#attention = new MultiHeadSelfAttention(params, `${name}/attention`, config);
    this.#ln2 = [
      params.create(`${name}/ln_2/gamma`, [h], { kind: "ones" }),
      params.create(`${name}/ln_2/beta`, [h], { kind: "zeros" }),
    ];
    this.#ffnIn = [
      params.create(`${name}/ffn/in/kernel`, [h, config.ffnSize], normal),
      params.create(`${name}/ffn/in/bias`, [config.ffnSize], { kind: "zeros" }),
    ];
    this.#ffnOut = [
      params.create(`${name}/ffn/out/kernel`, [config.ffnSize, h], normal),
      params.create(`${name}/ffn/out/bias`, [h], { kind: "zeros" }),
    ];
  }

  /** @returns `[batch, seqLen, hiddenSize]` */
  apply(x: tf.Tensor3D, maskBias: tf.Tensor4D, seed?: number): tf.Tensor3D {
    const s = (site: string) => seed === undefined ? undefined : deriveSeed(seed, this.#name, site);
    const attended = this.#attention.apply(norm(x, this.#ln1), maskBias, s("attention"));
    x = x.add(dropout(attended, this.#dropout, s("attention_out")));
    const hidden = gelu(dense(norm(x, this.#ln2), ...kernelBias(this.#ffnIn)));
    const ffn = dense(dropout(hidden, this.#dropout, s("ffn_hidden")), ...kernelBias(this.#ffnOut));
    return x.add(dropout(ffn, this.#dropout, s("ffn_out")));
  }
}

/**
 * `x + dropout(gelu(conv(LN(x) · mask)))`: a residual convolution over
 * `width` neighbouring tokens (zero beyond the sentence and at padding, so
 * padding never reaches a real token).
 */
class LocalConv {
  readonly #width: number;
  readonly #dropout: number;
  readonly #ln: [tf.Variable, tf.Variable];
  readonly #conv: [tf.Variable, tf.Variable];

  constructor(params: ParameterStore, name: string, config: ModelConfig) {
    const h = config.hiddenSize;
    this.#width = config.localConvWidth;
    this.#dropout = config.dropout;
    this.#ln = [
      params.create(`${name}/ln/gamma`, [h], { kind: "ones" }),
      params.create(`${name}/ln/beta`, [h], { kind: "zeros" }),
    ];
    this.#conv = [
      params.create(`${name}/kernel`, [this.#width * h, h], {
        kind: "normal",
        stddev: config.initializerRange,
      }),
      params.create(`${name}/bias`, [h], { kind: "zeros" }),
    ];
  }

  apply(x: tf.Tensor3D, mask: tf.Tensor2D, seed: number | undefined): tf.Tensor3D {
    const normed = norm(x, this.#ln).mul(mask.expandDims(2)) as tf.Tensor3D;
    const y = gelu(dense(slidingWindows(normed, this.#width), ...kernelBias(this.#conv)));
    return x.add(dropout(y, this.#dropout, seed)) as tf.Tensor3D;
  }
}

/** Embeddings plus a stack of encoder layers. */
export class Encoder {
  readonly #config: ModelConfig;
  readonly #tokenEmbedding: tf.Variable;
  readonly #tokenProjection: tf.Variable | undefined;
  readonly #positionEmbedding: tf.Variable;
  readonly #caseEmbedding: tf.Variable | undefined;
  readonly #affixEmbedding: tf.Variable | undefined;
  readonly #charCnn: CharCnn | undefined;
  readonly #localConv: LocalConv | undefined;
  readonly #layers: EncoderLayer[];
  readonly #finalNorm: [tf.Variable, tf.Variable];
  readonly #backboneWords: [tf.Variable, tf.Variable] | undefined;

  constructor(params: ParameterStore, config: ModelConfig, dims: EmbeddingDims) {
    const { vocabSize, affixBuckets = 0, charVocabSize = 0, backboneWidth = 0 } = dims;
    const h = config.hiddenSize;
    const tokenDim = dims.tokenDim ?? h;
    const normal = { kind: "normal", stddev: config.initializerRange } as const;
    this.#config = config;
    this.#tokenEmbedding = params.create(TOKEN_EMBEDDING, [vocabSize, tokenDim], normal);
    this.#tokenProjection = tokenDim !== h
      ? params.create(TOKEN_PROJECTION, [tokenDim, h], normal)
      : undefined;
    this.#positionEmbedding = params.create(
      `${EMBEDDINGS_PREFIX}position`,
      [config.maxLength, h],
      normal,
    );
    this.#caseEmbedding = config.caseFeatures
      ? params.create(`${EMBEDDINGS_PREFIX}case`, [NUM_CASE_FEATURES, h], normal)
      : undefined;
    this.#affixEmbedding = affixBuckets > 0
      ? params.create(AFFIX_EMBEDDING, [2 * affixBuckets, h], normal)
      : undefined;
    this.#charCnn = charVocabSize > 0
      ? new CharCnn(params, `${EMBEDDINGS_PREFIX}char`, {
        charVocabSize,
        embeddingSize: config.charEmbeddingSize,
        filters: config.charFilters,
        hiddenSize: h,
        initializerRange: config.initializerRange,
      })
      : undefined;
    this.#localConv = config.localConvWidth > 0
      ? new LocalConv(params, `${EMBEDDINGS_PREFIX}local_conv`, config)
      : undefined;
    this.#layers = Array.from(
      { length: config.numLayers },
      (_, i) => new EncoderLayer(params, layerPrefix(i).slice(0, -1), config),
    );
    this.#finalNorm = [
      params.create(`${ENCODER_PREFIX}final_norm/gamma`, [h], { kind: "ones" }),
      params.create(`${ENCODER_PREFIX}final_norm/beta`, [h], { kind: "zeros" }),
    ];
    const words = BACKBONE_WORDS[config.backboneWords];
    this.#backboneWords = backboneWidth > 0
      ? [
        params.create(`${words}/kernel`, [backboneWidth, h], normal),
        params.create(`${words}/bias`, [h], { kind: "zeros" }),
      ]
      : undefined;
  }

  /**
   * Runs the encoder. Call inside `tf.tidy`; the caller owns the result.
   * @param inputs token ids, case ids and mask, `[batch, seqLen]` each (seqLen ≤ maxLength)
   * @param seed dropout seed; undefined at inference (no dropout)
   * @param rows embedding rows to gather from instead of the tables (row-sparse training)
   * @param backboneWords `[batch, seqLen, backboneWidth]` a pretrained backbone's token states,
   *   when the encoder was built for them
   */
  apply(
    inputs: EncoderInputs,
    seed?: number,
    rows: EmbeddingRows = {},
    backboneWords?: tf.Tensor3D,
  ): TokenVectors {
    if ((backboneWords === undefined) !== (this.#backboneWords === undefined)) {
      throw new TypeError(
        this.#backboneWords === undefined
          ? "Cannot encode batch: backbone word states were given to an encoder built without them"
          : "Cannot encode batch: the encoder needs the backbone's word states, and the batch has none",
      );
    }
    const projected = (where: "input" | "output") =>
      this.#backboneWords !== undefined && this.#config.backboneWords === where
        ? dense(backboneWords!, ...kernelBias(this.#backboneWords)) as tf.Tensor3D
        : undefined;
    const [batch, seqLen] = inputs.tokenIds.shape;
    if (seqLen > this.#config.maxLength) {
      throw new RangeError(
        `Cannot encode batch: sequence length ${seqLen} exceeds maxLength ${this.#config.maxLength}`,
      );
    }
    const h = this.#config.hiddenSize;
    const flatIds = inputs.tokenIds.reshape([-1]);
    let words = tf.gather(rows[TOKEN_EMBEDDING] ?? this.#tokenEmbedding, flatIds) as tf.Tensor2D;
    if (this.#tokenProjection !== undefined) {
      words = tf.matMul(words, this.#tokenProjection as tf.Tensor2D);
    }
    let x = words.reshape([batch, seqLen, h]) as tf.Tensor3D;
    x = x.add(this.#positionEmbedding.slice([0, 0], [seqLen, h]).reshape([1, seqLen, h]));
    if (this.#caseEmbedding !== undefined) {
      x = x.add(
        tf.gather(this.#caseEmbedding, inputs.caseIds.reshape([-1])).reshape([batch, seqLen, h]),
      );
    }
    if (this.#affixEmbedding !== undefined) {
      if (inputs.affixIds === undefined) {
        throw new TypeError("Cannot encode batch: the model has affix features but no affixIds");
      }
      const table = rows[AFFIX_EMBEDDING] ?? this.#affixEmbedding;
      const affixes = tf.gather(table, inputs.affixIds.reshape([-1]));
      x = x.add(affixes.reshape([batch, seqLen, inputs.affixIds.shape[2], h]).sum(2));
    }
    if (this.#charCnn !== undefined) {
      if (inputs.charIds === undefined) {
        throw new TypeError("Cannot encode batch: the model has character features but no charIds");
      }
      x = x.add(this.#charCnn.apply(inputs.charIds));
    }
    const atInput = projected("input");
    if (atInput !== undefined) x = x.add(atInput);
    x = dropout(
      x,
      this.#config.embeddingDropout ?? this.#config.dropout,
      seed === undefined ? undefined : deriveSeed(seed, "embeddings"),
    ) as tf.Tensor3D;
    if (this.#localConv !== undefined) {
      x = this.#localConv.apply(
        x,
        inputs.mask,
        seed === undefined ? undefined : deriveSeed(seed, "local_conv"),
      );
    }
    const maskBias = attentionBias(inputs.mask);
    for (const layer of this.#layers) x = layer.apply(x, maskBias, seed);
    const sequenceOutput = norm(x, this.#finalNorm);
    const atOutput = projected("output");
    return {
      sequenceOutput: atOutput === undefined ? sequenceOutput : sequenceOutput.add(atOutput),
      mask: inputs.mask,
    };
  }

  /** Releases constants held outside the parameter store (none today). */
  dispose(): void {}
}

function norm(x: tf.Tensor3D, [gamma, beta]: [tf.Variable, tf.Variable]): tf.Tensor3D {
  return layerNorm(x, gamma as tf.Tensor1D, beta as tf.Tensor1D) as tf.Tensor3D;
}

function kernelBias([kernel, bias]: [tf.Variable, tf.Variable]): [tf.Tensor2D, tf.Tensor1D] {
  return [kernel as tf.Tensor2D, bias as tf.Tensor1D];
}
