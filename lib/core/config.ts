/**
 * One validated configuration for model, tokenizer and training.
 *
 * The config is one zod schema ({@linkcode ConfigSchema}); its types are
 * inferred from it. A config is built from a named preset plus overrides and
 * validated once, at the boundary ({@linkcode resolveConfig}); the resolved
 * config is saved with every checkpoint so any run can be reproduced from it
 * ({@linkcode validateConfig} reads it back, upgrading configs of earlier
 * versions). Errors name the field path.
 * @module
 */
import { z } from "zod";
import { parseSchema } from "./schema.ts";

/** Names of the built-in learning-rate schedules (see `training/schedule.ts`). */
export type ScheduleName = "inverse-time" | "linear" | "cosine" | "slanted-triangular" | "constant";

/**
 * The grammar of a freeze selector (what `training/param_groups.ts` resolves
 * against a model's parameter names): a scenario or group name, `layer:I` /
 * `layer:I-J`, `TASK-head`, or a part of the pretrained backbone
 * (`backbone:embeddings`, `backbone:layer:I[-J]`, `backbone:pooler`).
 */
export const FREEZE_SELECTOR =
  /^(none|all|backbone|backbone:(embeddings|pooler|layers?:\d+(-\d+)?)|embeddings|word-vectors|encoder|final-norm|heads|layers?:\d+(-\d+)?|[a-z][a-z0-9_]*-head)$/;

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);
const num = (min: number, max: number) => z.number().min(min).max(max);

/** How token vectors become one vector: the sentence embedding, and sentence and pair heads. */
export const PoolingSchema = z.enum(["mean", "cls", "max"]);

/** Shape of the shared encoder and its heads. */
export const ModelConfigSchema = z.object({
  /** Maximum tokens per sentence, including the leading `[CLS]`. @default 64 */
  maxLength: int(2, 4096),
  /** Width of every token vector. Must be divisible by `numHeads`. @default 64 */
  hiddenSize: int(1, 65536),
  /** Number of encoder layers. @default 2 */
  numLayers: int(0, 256),
  /** Attention heads per layer. @default 4 */
  numHeads: int(1, 1024),
  /** Inner width of the feed-forward block. @default 256 */
  ffnSize: int(1, 1 << 20),
  /** Dropout rate on embeddings, attention probabilities and residual branches. @default 0.1 */
  dropout: num(0, 0.95),
  /**
   * Dropout rate on the summed input embeddings (word, position, case, affix
   * features) instead of `dropout`; null uses `dropout`. @default null
   */
  embeddingDropout: num(0, 0.95).nullable(),
  /** Sentence pooling. @default "mean" */
  pooling: PoolingSchema,
  /** Add a learned embedding of each word's letter case (lower, Title, UPPER, ...). @default true */
  caseFeatures: z.boolean(),
  /** Standard deviation of the truncated-normal weight initialiser. @default 0.02 */
  initializerRange: num(1e-6, 1),
  /** Size of the character embeddings of the character CNN (used when `tokenizer.charWidth > 0`). @default 16 */
  charEmbeddingSize: int(1, 4096),
  /** Filters (width 3) of the character CNN, max-pooled over the word, then projected to `hiddenSize`. @default 64 */
  charFilters: int(1, 65536),
  /**
   * Width of a residual convolution over neighbouring tokens before the first
   * encoder layer (`x + conv(LN(x))`, GELU), which gives the encoder local
   * n-gram features directly; 0 disables, otherwise odd. @default 0
   */
  localConvWidth: int(0, 63).refine(
    (w) => w === 0 || w % 2 === 1,
    "expected 0 (off) or an odd width",
  ),
  /**
   * A pretrained transformer under the task encoder: `use-lite` (the Universal
   * Sentence Encoder lite, see `model/use_lite.ts`), or null for none (the task
   * encoder alone, trained from scratch). With one, sentence and pair tasks and
   * the sentence embedding read its pooled sentence output, and token tasks
   * get each word's backbone state (see `backboneWords`). @default null
   */
  backbone: z.enum(["use-lite"]).nullable(),
  /**
   * With a backbone: where token tasks get its word states, projected to
   * `hiddenSize` and added: `input` of the task encoder (beside the word
   * features, stacked as Flair stacks embeddings), or its `output` (after the
   * final LayerNorm, before the token heads). @default "output"
   */
  backboneWords: z.enum(["input", "output"]),
  /**
   * With a backbone: the text it reads, `words` joined by spaces, or the text
   * they were `written` as: Treebank escapes (`-lrb-`, `` `` ``) turned back into
   * characters and no space before punctuation and clitics (`does n't ,`
   * reads `doesn't,`), as the encoder saw text in pretraining (see
   * `data/written_text.ts`). @default "words"
   */
  backboneText: z.enum(["words", "written"]),
  /**
   * With a backbone: what sentence heads classify: its pooled output
   * (`backbone`), or that beside the task encoder's pooled token vectors
   * (`both`). Pair tasks and the sentence embedding read the backbone's alone. @default "both"
   */
  sentenceFeatures: z.enum(["backbone", "both"]),
  /**
   * Width of a hidden layer (GELU, dropout before it) in sentence heads
   * before the classifier; 0: a linear classifier. @default 0
   */
  sentenceHidden: int(0, 65536),
}).strict().refine((m) => m.hiddenSize % m.numHeads === 0, {
  message: "hiddenSize must be divisible by numHeads",
  path: ["hiddenSize"],
});

/** How words become token ids. */
export const TokenizerConfigSchema = z.object({
  /** Lower-case words before vocabulary lookup (case survives as a case feature). @default true */
  lowercase: z.boolean(),
  /** Words seen fewer times than this in training text map to `[UNK]` (unless they have a pretrained vector). @default 1 */
  minFrequency: int(1),
  /** Largest number of training words in the vocabulary, special tokens included; most frequent words are kept. @default 20000 */
  maxVocabSize: int(8),
  /**
   * Hash buckets of the prefix and suffix (and shape) features, which give
   * unknown words a representation; 0 disables. @default 1024
   */
  affixBuckets: int(0),
  /** Prefix and suffix lengths of the affix features (a prefix and a suffix id per length). @default [3] */
  affixLengths: z.array(int(1, 16)).min(1),
  /** Add a hashed word-shape feature (`Xxxxx`, `dd-dd`, `X.X.`) to the affix features. @default false */
  shapeFeature: z.boolean(),
  /**
   * Character slots per word for the character CNN (beginning and end markers
   * included; longer words keep their first and last characters); 0 disables
   * character features. @default 0
   */
  charWidth: int(0, 256).refine((w) => w === 0 || w >= 3, "expected 0 (off) or at least 3"),
  /**
   * Pretrained word vectors that initialise the word embeddings: a built-in
   * name (`glove-100d`), a text file (`word v1 … vN` per line: GloVe,
   * word2vec text, fastText `.vec`, optionally `.gz`), or null for none.
   * @default null
   */
  wordVectors: z.string().min(1).nullable(),
  /**
   * With word vectors: how many of their most frequent words join the
   * vocabulary besides the training words. @default 100000
   */
  pretrainedVocabSize: int(0),
}).strict();

/** The optimisation run. */
export const TrainConfigSchema = z.object({
  /** Passes over the training data. @default 30 */
  epochs: int(0, 100000),
  /** Sentences (or sentence pairs) per batch. @default 16 */
  batchSize: int(1, 65536),
  /** Base learning rate of the schedule. @default 0.001 */
  learningRate: num(0, 10),
  /** Inverse-time decay rate: `lr = base / (1 + decayRate * step)`. @default 0.01 */
  decayRate: num(0, 1e6),
  /** Fraction of the data held out for validation (0 disables). @default 0.1 */
  validationSplit: num(0, 0.9),
  /** Weight of each task's loss in the summed loss, by task name; absent tasks weigh 1. @default {} */
  taskWeights: z.record(z.string(), num(0, 1e6)),
  /** Adam's β1. @default 0.9 */
  beta1: num(0, 0.999999),
  /** Adam's β2. @default 0.999 */
  beta2: num(0, 0.999999999),
  /** Adam's ε (PyTorch's default; tfjs uses 1e-7). @default 1e-8 */
  epsilon: num(1e-12, 1),
  /** Global gradient-norm clip; 0 disables. @default 1 */
  clipNorm: num(0, 1e9),
  /**
   * How batches of corpora labelled for different tasks are mixed in an epoch:
   * `proportional` (every batch once, shuffled), `temperature` (a task is drawn
   * with probability ∝ size^(1/T)), `round-robin` (tasks in turn), `balanced` (every task
   * as many batches as the smallest, or see `balancedSteps`, in turn). @default "proportional"
   */
  taskSampling: z.enum(["proportional", "temperature", "round-robin", "balanced"]),
  /**
   * Batches per task per epoch of `balanced` sampling: as many as the `smallest`
   * task has, or at most as many as the `median` task (the lower one of two
   * middle ones) or the `largest` has; a task with more batches gives a
   * different random part of them each epoch. @default "smallest"
   */
  balancedSteps: z.enum(["smallest", "median", "largest"]),
  /**
   * Batches per epoch of `balanced` sampling, scaled per task name: `{
   * "sentiment": 2 }` gives the corpus labelled for sentiment twice the
   * balanced count (never more than every batch it has; a corpus labelled for
   * several tasks takes the largest of their scales). @default {}
   */
  taskSteps: z.record(z.string(), num(0.01, 1000)),
  /** T of temperature sampling (1 = proportional, large = uniform). @default 2 */
  samplingTemperature: num(0.01, 1e6),
  /** Learning-rate schedule (see `training/schedule.ts`). @default "inverse-time" */
  schedule: z.enum(["inverse-time", "linear", "cosine", "slanted-triangular", "constant"]),
  /** Warm-up steps of the `linear`, `cosine` and `constant` schedules. @default 0 */
  warmupSteps: int(0),
  /**
   * Layer-wise rate decay: depth d trains at `decay^(L + 1 - d)` times the rate
   * (heads at the top rate, embeddings lowest); 1 disables, 1/2.6 is ULMFiT's. @default 1
   */
  layerLrDecay: num(1e-6, 1),
  /**
   * Which depths `layerLrDecay` lowers: `all` of them, or only the `embeddings`
   * (depth 0, at the rate it has under the full decay; every other depth at the
   * top rate). @default "all"
   */
  layerLrDecayScope: z.enum(["all", "embeddings"]),
  /** Extra rate multiplier of the task heads. @default 1 */
  headLrMultiplier: num(0, 1e6),
  /** `adam`, or `adamw` (decoupled weight decay, not on biases and LayerNorm). @default "adam" */
  optimizer: z.enum(["adam", "adamw"]),
  /** AdamW's weight decay. @default 0.01 */
  weightDecay: num(0, 10),
  /**
   * Frozen parameters: selectors or scenarios (`none`, `all`, `backbone`,
   * `embeddings`, `word-vectors`, `encoder`, `layer:I[-J]`, `final-norm`,
   * `heads`, `TASK-head` such as `ner-head`). @default []
   */
  freeze: z.array(
    z.string().regex(
      FREEZE_SELECTOR,
      "unknown selector (expected all, backbone, backbone:embeddings, backbone:layer:I[-J], backbone:pooler, embeddings, word-vectors, encoder, layer:I[-J], final-norm, heads, TASK-head or none)",
    ),
  ),
  /** Freeze the backbone for this many epochs, then train it too; 0 disables. @default 0 */
  unfreezeAfter: int(0),
  /** ULMFiT gradual unfreezing: epoch e trains the top e layer groups. @default false */
  gradualUnfreeze: z.boolean(),
  /** `static` (the task weights above) or `uncertainty` (learned, Kendall et al. 2018). @default "static" */
  taskWeighting: z.enum(["static", "uncertainty"]),
  /** Model directory whose embeddings and encoder initialise this model (e.g. one trained on other tasks). @default null */
  initBackbone: z.string().min(1).nullable(),
  /**
   * Word dropout: the probability that a training token's word id is replaced
   * by `[UNK]` (its case and affix features are kept), so the model learns to
   * tag words it has never seen from context and spelling. @default 0
   */
  wordDropout: num(0, 1),
  /**
   * How the embedding tables (words, affixes) are updated: `dense` (Adam on
   * every row, every step) or `lazy` (only the rows the batch uses, their
   * moments included, as TF's LazyAdam and PyTorch's SparseAdam; a step's cost
   * then does not grow with the vocabulary). @default "dense"
   */
  embeddingUpdates: z.enum(["dense", "lazy"]),
}).strict();

/** The whole configuration. */
export const ConfigSchema = z.object({
  /** Seeds weight init, data split, shuffling and dropout. @default 42 */
  seed: int(0, 2 ** 32 - 1),
  model: ModelConfigSchema,
  tokenizer: TokenizerConfigSchema,
  train: TrainConfigSchema,
}).strict();

/** Shape of the shared encoder and its heads (see {@linkcode ModelConfigSchema}). */
export type ModelConfig = Readonly<z.infer<typeof ModelConfigSchema>>;
/** How words become token ids (see {@linkcode TokenizerConfigSchema}). */
export type TokenizerConfig = Readonly<z.infer<typeof TokenizerConfigSchema>>;
/** The optimisation run (see {@linkcode TrainConfigSchema}). */
export type TrainConfig = Readonly<z.infer<typeof TrainConfigSchema>>;
/** The whole configuration (see {@linkcode ConfigSchema}). */
export interface Config {
  readonly seed: number;
  readonly model: ModelConfig;
  readonly tokenizer: TokenizerConfig;
  readonly train: TrainConfig;
}
/** How the sentence embedding is pooled from token vectors. */
export type Pooling = ModelConfig["pooling"];
/** Strategies for mixing task-specific batches. */
export type TaskSampling = TrainConfig["taskSampling"];

/** A partial config: any field may be left out and comes from the preset. */
export type ConfigOverrides = {
  readonly seed?: number;
  readonly model?: Partial<ModelConfig>;
  readonly tokenizer?: Partial<TokenizerConfig>;
  readonly train?: Partial<TrainConfig>;
};

/** Names of the built-in presets. */
export type PresetName = "default" | "tiny" | "reference" | "pretrained";

const DEFAULT_CONFIG: Config = {
  seed: 42,
  model: {
    maxLength: 64,
    hiddenSize: 64,
    numLayers: 2,
    numHeads: 4,
    ffnSize: 256,
    dropout: 0.1,
    embeddingDropout: null,
    pooling: "mean",
    caseFeatures: true,
    initializerRange: 0.02,
    charEmbeddingSize: 16,
    charFilters: 64,
    localConvWidth: 0,
    backbone: null,
    backboneWords: "output",
    backboneText: "words",
    sentenceFeatures: "both",
    sentenceHidden: 0,
  },
  tokenizer: {
    lowercase: true,
    minFrequency: 1,
    maxVocabSize: 20000,
    affixBuckets: 1024,
    affixLengths: [3],
    shapeFeature: false,
    charWidth: 0,
    wordVectors: null,
    pretrainedVocabSize: 100000,
  },
  train: {
    epochs: 30,
    batchSize: 16,
    learningRate: 0.001,
    decayRate: 0.01,
    validationSplit: 0.1,
    taskWeights: {},
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-8,
    clipNorm: 1,
    taskSampling: "proportional",
    samplingTemperature: 2,
    balancedSteps: "smallest",
    taskSteps: {},
    schedule: "inverse-time",
    warmupSteps: 0,
    layerLrDecay: 1,
    layerLrDecayScope: "all",
    headLrMultiplier: 1,
    optimizer: "adam",
    weightDecay: 0.01,
    freeze: [],
    unfreezeAfter: 0,
    gradualUnfreeze: false,
    taskWeighting: "static",
    initBackbone: null,
    wordDropout: 0,
    embeddingUpdates: "dense",
  },
};

/** The `train` fields keyed by task name: an override replaces them whole. */
export const PER_TASK_FIELDS = ["taskWeights", "taskSteps"] as const;
const PER_TASK: ReadonlySet<string> = new Set(PER_TASK_FIELDS);

/**
 * Built-in presets: `default` for the sample data, `pretrained` the same over
 * the frozen pretrained backbone (`deno task train`'s), `tiny` for tests,
 * `reference` for benchmarks.
 */
export const PRESETS: Readonly<Record<PresetName, Config>> = {
  default: DEFAULT_CONFIG,
  tiny: merge(DEFAULT_CONFIG, {
    model: { maxLength: 16, hiddenSize: 8, numLayers: 2, numHeads: 2, ffnSize: 16, dropout: 0 },
    tokenizer: { affixBuckets: 16 },
    train: { epochs: 2, batchSize: 4, validationSplit: 0 },
  }),
  // `default` over the pretrained backbone, frozen: what `deno task train` trains.
  pretrained: merge(DEFAULT_CONFIG, {
    model: { backbone: "use-lite" },
    train: { freeze: ["backbone"] },
  }),
  // The benchmark model of the PyTorch peer (docs/speed.md): hidden 128, 4 heads, FFN 512, 2 layers.
  reference: merge(DEFAULT_CONFIG, {
    model: { maxLength: 64, hiddenSize: 128, numLayers: 2, numHeads: 4, ffnSize: 512, dropout: 0 },
    tokenizer: { maxVocabSize: 8000, affixBuckets: 0 },
    train: { batchSize: 32 },
  }),
};

/** Error in a configuration value; the message names the field. */
export class ConfigError extends RangeError {
  override name = "ConfigError";
}

/**
 * Merges overrides into a preset and validates the result.
 *
 * @param overrides Fields to change; unknown fields are rejected.
 * @param preset Preset to start from.
 * @returns The resolved, frozen config.
 * @throws {ConfigError} When a field is unknown or out of range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveConfig } from "./config.ts";
 * const config = resolveConfig({ model: { hiddenSize: 32 } }, "tiny");
 * assert.equal(config.model.hiddenSize, 32);
 * assert.throws(() => resolveConfig({ model: { hiddenSize: 30, numHeads: 4 } }),
 *   /Invalid config field model.hiddenSize: hiddenSize must be divisible by numHeads/);
 * assert.throws(() => resolveConfig({ train: { epochs: -1 } }), /Invalid config field train.epochs: .* \(got -1\)/);
 * ```
 */
export function resolveConfig(
  overrides: ConfigOverrides = {},
  preset: PresetName = "default",
): Config {
  const base = PRESETS[preset];
  if (base === undefined) {
    throw new ConfigError(`Cannot resolve config: unknown preset "${preset}"`);
  }
  if (!isObject(overrides)) throw new ConfigError("Cannot resolve config: expected an object");
  return parseConfig(merge(base, overrides), "config");
}

/**
 * Validates a config read from a file or checkpoint (every field required;
 * fields added since a config was saved take their defaults: new training
 * options their default, new tokenizer and model features off, and the two
 * loss weights of the NER and sentiment tasks become task weights).
 * @throws {ConfigError} Naming the file and the first bad field.
 */
export function validateConfig(value: unknown, source = "config"): Config {
  if (!isObject(value)) throw new ConfigError(`Cannot read ${source}: expected an object`);
  let v = value;
  if (isObject(v.train)) {
    const { nerLossWeight, sentimentLossWeight, ...train } = v.train;
    const legacy = nerLossWeight !== undefined || sentimentLossWeight !== undefined
      ? { taskWeights: { ner: nerLossWeight ?? 1, sentiment: sentimentLossWeight ?? 1 } }
      : {};
    v = {
      ...v,
      train: { ...DEFAULT_CONFIG.train, embeddingUpdates: "dense", ...legacy, ...train },
    };
  }
  if (isObject(v.tokenizer)) {
    v = {
      ...v,
      tokenizer: {
        affixBuckets: 0,
        affixLengths: [3],
        shapeFeature: false,
        charWidth: 0,
        wordVectors: null,
        pretrainedVocabSize: 0,
        ...v.tokenizer,
      },
    };
  }
  if (isObject(v.model)) {
    v = {
      ...v,
      model: {
        charEmbeddingSize: 16,
        charFilters: 64,
        localConvWidth: 0,
        embeddingDropout: null,
        backbone: null,
        backboneWords: "output",
        backboneText: "words",
        sentenceFeatures: "both",
        sentenceHidden: 0,
        ...v.model,
      },
    };
  }
  return parseConfig(v, source);
}

/** Parses with the schema; the first problem becomes a ConfigError naming its field path. */
function parseConfig(value: unknown, source: string): Config {
  const where = source === "config" ? "" : `${source}: `;
  return deepFreeze(
    parseSchema(
      ConfigSchema,
      value,
      (field, detail) => new ConfigError(`${where}Invalid config field ${field}: ${detail}`),
    ) as Config,
  );
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function merge<T>(base: T, overrides: unknown): T {
  if (!isObject(base) || !isObject(overrides)) return (overrides ?? base) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    // Per-task records (taskWeights, taskSteps): overrides replace them whole.
    out[key] = isObject(out[key]) && !PER_TASK.has(key) ? merge(out[key], value) : value;
  }
  return out as T;
}

function deepFreeze<T>(value: T): T {
  if (isObject(value) || Array.isArray(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
