/**
 * The multi-task model: one shared task {@linkcode Encoder} over word features,
 * optionally a pretrained backbone beneath it (`use_lite.ts`), and one head per
 * task (see `heads.ts`). Heads read only the {@linkcode EncoderOutput}.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ModelConfig } from "../core/config.ts";
import { deriveSeed } from "../core/random.ts";
import type { TaskSpec } from "../core/tasks.ts";
import type { BackboneTensors } from "../data/encoding.ts";
import { type EmbeddingRows, Encoder, type EncoderInputs, type EncoderOutput } from "./encoder.ts";
import { createHead, type Head, type HeadArgs, type HeadSpec, readsTokens } from "./heads.ts";
import { ParameterStore } from "./parameters.ts";
import { l2Normalize, pool } from "./pooling.ts";
import { USE_LITE, UseLiteBackbone } from "./use_lite.ts";

/** Sizes that come from the data rather than the config. */
export interface ModelDims {
  readonly vocabSize: number;
  /** Width of the word embedding table when it differs from `hiddenSize` (pretrained vectors). */
  readonly tokenDim?: number;
  /** Affix hash buckets of the tokenizer (0: no affix features). @default 0 */
  readonly affixBuckets?: number;
  /** Character ids of the tokenizer, special ones included (0: no character CNN). @default 0 */
  readonly charVocabSize?: number;
  /** One head per task, in order. */
  readonly tasks: readonly HeadSpec[];
}

/**
 * Model sizes for a tokenizer and a task list.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { modelDims } from "./model.ts";
 * const tasks = [{ name: "ner", kind: "token", labels: ["O", "B-X"], metric: "entity-f1" }] as const;
 * assert.deepEqual(modelDims({ vocabSize: 9, affixBuckets: 4 }, tasks),
 *   { vocabSize: 9, affixBuckets: 4, tasks: [{ name: "ner", kind: "token", numLabels: 2 }] });
 * ```
 */
export function modelDims(
  tokenizer: {
    readonly vocabSize: number;
    readonly affixBuckets: number;
    readonly charVocabSize?: number;
    readonly vectorDim?: number;
  },
  tasks: readonly TaskSpec[],
): ModelDims {
  return {
    vocabSize: tokenizer.vocabSize,
    ...(tokenizer.vectorDim ? { tokenDim: tokenizer.vectorDim } : {}),
    affixBuckets: tokenizer.affixBuckets,
    ...(tokenizer.charVocabSize ? { charVocabSize: tokenizer.charVocabSize } : {}),
    tasks: tasks.map((t) => ({
      name: t.name,
      kind: t.kind,
      numLabels: t.labels.length,
      ...(t.pooling !== undefined ? { pooling: t.pooling } : {}),
      ...(t.crf === true ? { crf: true } : {}),
      ...(t.labelSmoothing !== undefined && t.labelSmoothing > 0
        ? { labelSmoothing: t.labelSmoothing }
        : {}),
    })),
  };
}

/**
 * Everything one forward pass produces. The caller owns the new tensors;
 * `mask` is the input mask, passed through (do not dispose it with the outputs).
 */
export interface ModelOutput extends EncoderOutput {
  /**
   * Per task asked for: token tasks `[batch, seqLen, numLabels]` logits,
   * sentence tasks `[batch, numLabels]` logits, pair tasks `[batch / 2]`
   * similarities.
   */
  readonly outputs: Readonly<Record<string, tf.Tensor>>;
}

/** Options of a forward pass. */
export interface ForwardOptions {
  /** Dropout seed. When undefined, dropout is off (inference). */
  readonly dropoutSeed?: number;
  /** Embedding rows to read instead of whole tables (row-sparse training; see `Encoder.apply`). */
  readonly embeddingRows?: EmbeddingRows;
  /** The tasks whose heads run. @default every token and sentence task */
  readonly tasks?: readonly string[];
}

/**
 * Shared encoder + one head per task.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend/backend.ts";
 * import { resolveConfig } from "../core/config.ts";
 * import { MultiTaskModel } from "./model.ts";
 * await initBackend("wasm");
 * const config = resolveConfig({}, "tiny");
 * const tasks = [{ name: "ner", kind: "token", numLabels: 3 }, { name: "sentiment", kind: "sentence", numLabels: 2 }] as const;
 * const model = new MultiTaskModel(config.model, { vocabSize: 10, tasks }, 1);
 * const ids = tf.tensor2d([[2, 5, 6]], [1, 3], "int32");
 * const out = model.forward({ tokenIds: ids, caseIds: tf.zerosLike(ids), mask: tf.ones([1, 3]) });
 * assert.deepEqual(out.outputs.ner!.shape, [1, 3, 3]);
 * assert.deepEqual(out.outputs.sentiment!.shape, [1, 2]);
 * model.dispose();
 * ```
 */
export class MultiTaskModel {
  readonly config: ModelConfig;
  readonly dims: ModelDims;
  readonly parameters: ParameterStore;
  /** The pretrained backbone, when `config.backbone` names one (its weights come from `useLiteWeights`). */
  readonly backbone: UseLiteBackbone | undefined;
  readonly encoder: Encoder;
  readonly heads: ReadonlyMap<string, Head>;
  readonly #headArgs: HeadArgs;

  /**
   * @param config model shape
   * @param dims vocabulary sizes and the tasks' heads
   * @param seed seeds weight initialisation
   */
  constructor(config: ModelConfig, dims: ModelDims, seed: number) {
    this.config = config;
    this.dims = dims;
    this.parameters = new ParameterStore(seed);
    this.backbone = config.backbone === "use-lite"
      ? new UseLiteBackbone(this.parameters, USE_LITE, config.dropout)
      : undefined;
    this.encoder = new Encoder(this.parameters, config, {
      ...dims,
      backboneWidth: this.backbone?.width ?? 0,
    });
    this.#headArgs = {
      hiddenSize: config.hiddenSize,
      dropout: config.dropout,
      initializerRange: config.initializerRange,
      pooling: config.pooling,
      backboneSize: this.backbone?.spec.pooledSize ?? 0,
      sentenceFeatures: config.sentenceFeatures,
      sentenceHidden: config.sentenceHidden,
    };
    this.heads = new Map(
      dims.tasks.map((t) => [t.name, createHead(this.parameters, t, this.#headArgs)]),
    );
  }

  /** Whether a batch of these tasks runs the task encoder (some head reads token vectors). */
  readsTokens(tasks: readonly string[]): boolean {
    const kinds = tasks.map((task) => this.heads.get(task)?.spec.kind ?? "token");
    return readsTokens(kinds, this.#headArgs);
  }

  /** Width of the sentence embedding: the backbone's pooled output, or the token vectors'. */
  get embeddingSize(): number {
    return this.backbone?.spec.pooledSize ?? this.config.hiddenSize;
  }

  /**
   * Backbone (if any), task encoder (unless no head asked for reads token
   * vectors), then the heads of `options.tasks`. Call inside `tf.tidy` or
   * dispose the outputs.
   */
  forward(inputs: EncoderInputs, options: ForwardOptions = {}): ModelOutput {
    return tf.tidy(() => {
      const seed = options.dropoutSeed;
      const tasks = options.tasks ??
        [...this.heads.values()].filter((h) => h.spec.kind !== "pair").map((h) => h.spec.name);
      const heads = tasks.map((task) => {
        const head = this.heads.get(task);
        if (head === undefined) {
          throw new RangeError(`Cannot run task "${task}": the model has no such head`);
        }
        return head;
      });
      const encoded = this.#encode(
        inputs,
        seed,
        options.embeddingRows,
        readsTokens(heads.map((h) => h.spec.kind), this.#headArgs),
      );
      const outputs: Record<string, tf.Tensor> = {};
      for (const head of heads) {
        const task = head.spec.name;
        outputs[task] = head.apply(encoded, seed === undefined ? seed : deriveSeed(seed, task));
      }
      return { ...encoded, outputs };
    });
  }

  /**
   * Sentence embeddings (inference, no dropout): the backbone's pooled output,
   * or without a backbone the pooled token vectors.
   * @returns `[batch, embeddingSize]`; the caller owns it
   */
  embed(inputs: EncoderInputs, options: { normalize?: boolean } = {}): tf.Tensor2D {
    return tf.tidy(() => {
      const encoded = this.#encode(inputs, undefined, undefined, this.backbone === undefined);
      const pooled = encoded.pooledOutput ??
        pool({ sequenceOutput: encoded.sequenceOutput!, mask: encoded.mask }, this.config.pooling);
      return options.normalize === true ? l2Normalize(pooled) : pooled;
    });
  }

  /**
   * A batch's backbone input carried up to `stage` through the stages below
   * it, without dropout (what frozen stages give; see `BackboneTensors`). The
   * input itself when it is there already. Call inside `tf.tidy`, or own the result.
   */
  advanceBackbone(inputs: BackboneTensors, stage: number): BackboneTensors {
    if (this.backbone === undefined) {
      throw new TypeError("Cannot advance: the model has no backbone");
    }
    return tf.tidy(() => this.backbone!.advance(inputs, stage));
  }

  /** The backbone's outputs and, when `tokens`, the task encoder's token vectors. */
  #encode(
    inputs: EncoderInputs,
    seed: number | undefined,
    rows: EmbeddingRows | undefined,
    tokens: boolean,
  ): EncoderOutput {
    let backbone: ReturnType<UseLiteBackbone["apply"]> | undefined;
    if (this.backbone !== undefined) {
      if (inputs.backbone === undefined) {
        throw new TypeError(
          "Cannot run the model: it has a pretrained backbone and the batch no pieces",
        );
      }
      backbone = this.backbone.apply(
        inputs.backbone,
        seed === undefined ? undefined : deriveSeed(seed, "backbone"),
      );
    }
    const encoded = tokens
      ? this.encoder.apply(inputs, seed, rows, backbone?.wordStates)
      : { mask: inputs.mask };
    return backbone === undefined ? encoded : { ...encoded, pooledOutput: backbone.pooled };
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
