/**
 * One validated configuration for model, tokenizer and training.
 *
 * A config is built from a named preset plus overrides and validated once, at
 * the boundary ({@linkcode resolveConfig}); the resolved config is saved with
 * every checkpoint so any run can be reproduced from it.
 * @module
 */
import { selects } from "./param_groups.ts";
import type { ScheduleName } from "./schedule.ts";

/** How the sentence embedding is pooled from token vectors. */
export type Pooling = "mean" | "cls" | "max";

/** Shape of the shared encoder and its heads. */
export interface ModelConfig {
  /** Maximum tokens per sentence, including the leading `[CLS]`. @default 64 */
  readonly maxLength: number;
  /** Width of every token vector. Must be divisible by `numHeads`. @default 64 */
  readonly hiddenSize: number;
  /** Number of encoder layers. @default 2 */
  readonly numLayers: number;
  /** Attention heads per layer. @default 4 */
  readonly numHeads: number;
  /** Inner width of the feed-forward block. @default 256 */
  readonly ffnSize: number;
  /** Dropout rate on embeddings, attention probabilities and residual branches. @default 0.1 */
  readonly dropout: number;
  /** Sentence pooling. @default "mean" */
  readonly pooling: Pooling;
  /** Add a learned embedding of each word's letter case (lower, Title, UPPER, ...). @default true */
  readonly caseFeatures: boolean;
  /** Standard deviation of the truncated-normal weight initialiser. @default 0.02 */
  readonly initializerRange: number;
  /** Size of the character embeddings of the character CNN (used when `tokenizer.charWidth > 0`). @default 16 */
  readonly charEmbeddingSize: number;
  /** Filters (width 3) of the character CNN, max-pooled over the word, then projected to `hiddenSize`. @default 64 */
  readonly charFilters: number;
  /**
   * Width of a residual convolution over neighbouring tokens before the first
   * encoder layer (`x + conv(LN(x))`, GELU), which gives the encoder local
   * n-gram features directly; 0 disables, otherwise odd. @default 0
   */
  readonly localConvWidth: number;
}

/** How words become token ids. */
export interface TokenizerConfig {
  /** Lower-case words before vocabulary lookup (case survives as a case feature). @default true */
  readonly lowercase: boolean;
  /** Words seen fewer times than this in training text map to `[UNK]`. @default 1 */
  readonly minFrequency: number;
  /** Largest vocabulary, special tokens included; most frequent words are kept. @default 20000 */
  readonly maxVocabSize: number;
  /**
   * Hash buckets of the prefix and suffix (first and last 3 letters) features,
   * which give unknown words a representation; 0 disables. @default 1024
   */
  readonly affixBuckets: number;
  /** Prefix and suffix lengths of the affix features (a prefix and a suffix id per length). @default [3] */
  readonly affixLengths: readonly number[];
  /** Add a hashed word-shape feature (`Xxxxx`, `dd-dd`, `X.X.`) to the affix features. @default false */
  readonly shapeFeature: boolean;
  /**
   * Character slots per word for the character CNN (beginning and end markers
   * included; longer words keep their first and last characters); 0 disables
   * character features. @default 0
   */
  readonly charWidth: number;
  /**
   * Pretrained word vectors that initialise the word embeddings: a built-in
   * name (`glove-100d`), a text file (`word v1 … vN` per line: GloVe,
   * word2vec text, fastText `.vec`, optionally `.gz`), or null for none.
   * @default null
   */
  readonly wordVectors: string | null;
  /**
   * With word vectors: how many of their most frequent words join the
   * vocabulary besides the training words. @default 100000
   */
  readonly pretrainedVocabSize: number;
}

/** The optimisation run. */
export interface TrainConfig {
  /** Passes over the training data. @default 30 */
  readonly epochs: number;
  /** Sentences per batch. @default 16 */
  readonly batchSize: number;
  /** Base learning rate of the schedule. @default 0.001 */
  readonly learningRate: number;
  /** Inverse-time decay rate: `lr = base / (1 + decayRate * step)`. @default 0.01 */
  readonly decayRate: number;
  /** Fraction of the data held out for validation (0 disables). @default 0.1 */
  readonly validationSplit: number;
  /** Weight of the NER loss in the summed loss. @default 1 */
  readonly nerLossWeight: number;
  /** Weight of the sentiment loss in the summed loss. @default 1 */
  readonly sentimentLossWeight: number;
  /** Adam's β1. @default 0.9 */
  readonly beta1: number;
  /** Adam's β2. @default 0.999 */
  readonly beta2: number;
  /** Adam's ε (PyTorch's default; tfjs uses 1e-7). @default 1e-8 */
  readonly epsilon: number;
  /** Global gradient-norm clip; 0 disables. @default 1 */
  readonly clipNorm: number;
  /**
   * How batches of corpora labelled for different tasks are mixed in an epoch:
   * `proportional` (every batch once, shuffled), `temperature` (a task is drawn
   * with probability ∝ size^(1/T)), `round-robin` (tasks in turn), `balanced` (every task
   * as many batches as the smallest, in turn). @default "proportional"
   */
  readonly taskSampling: TaskSampling;
  /** T of temperature sampling (1 = proportional, large = uniform). @default 2 */
  readonly samplingTemperature: number;
  /** Learning-rate schedule (see `schedule.ts`). @default "inverse-time" */
  readonly schedule: ScheduleName;
  /** Warm-up steps of the `linear` and `cosine` schedules. @default 0 */
  readonly warmupSteps: number;
  /**
   * Layer-wise rate decay: depth d trains at `decay^(L + 1 - d)` times the rate
   * (heads at the top rate, embeddings lowest); 1 disables, 1/2.6 is ULMFiT's. @default 1
   */
  readonly layerLrDecay: number;
  /** Extra rate multiplier of the two heads. @default 1 */
  readonly headLrMultiplier: number;
  /** `adam`, or `adamw` (decoupled weight decay, not on biases and LayerNorm). @default "adam" */
  readonly optimizer: "adam" | "adamw";
  /** AdamW's weight decay. @default 0.01 */
  readonly weightDecay: number;
  /**
   * Frozen parameters: selectors or scenarios (`none`, `all`, `backbone`,
   * `ner-head`, `sentiment-head`, `embeddings`, `word-vectors`, `encoder`, `layer:I[-J]`,
   * `final-norm`). @default []
   */
  readonly freeze: readonly string[];
  /** Freeze the backbone for this many epochs, then train it too; 0 disables. @default 0 */
  readonly unfreezeAfter: number;
  /** ULMFiT gradual unfreezing: epoch e trains the top e layer groups. @default false */
  readonly gradualUnfreeze: boolean;
  /** `static` (the loss weights above) or `uncertainty` (learned, Kendall et al. 2018). @default "static" */
  readonly taskWeighting: "static" | "uncertainty";
  /** Model directory whose embeddings and encoder initialise this model (e.g. from pretraining). @default null */
  readonly initBackbone: string | null;
  /**
   * Word dropout: the probability that a training token's word id is replaced
   * by `[UNK]` (its case and affix features are kept), so the model learns to
   * tag words it has never seen from context and spelling. @default 0
   */
  readonly wordDropout: number;
  /**
   * How the embedding tables (words, affixes) are updated: `dense` (Adam on
   * every row, every step) or `lazy` (only the rows the batch uses, their
   * moments included, as TF's LazyAdam and PyTorch's SparseAdam; a step's cost
   * then does not grow with the vocabulary). @default "dense"
   */
  readonly embeddingUpdates: "dense" | "lazy";
}

/** Strategies for mixing task-specific batches. */
export type TaskSampling = "proportional" | "temperature" | "round-robin" | "balanced";

/** The whole configuration. */
export interface Config {
  /** Seeds weight init, data split, shuffling and dropout. @default 42 */
  readonly seed: number;
  readonly model: ModelConfig;
  readonly tokenizer: TokenizerConfig;
  readonly train: TrainConfig;
}

/** A partial config: any field may be left out and comes from the preset. */
export type ConfigOverrides = {
  readonly seed?: number;
  readonly model?: Partial<ModelConfig>;
  readonly tokenizer?: Partial<TokenizerConfig>;
  readonly train?: Partial<TrainConfig>;
};

/** Names of the built-in presets. */
export type PresetName = "default" | "tiny" | "reference";

const DEFAULT_CONFIG: Config = {
  seed: 42,
  model: {
    maxLength: 64,
    hiddenSize: 64,
    numLayers: 2,
    numHeads: 4,
    ffnSize: 256,
    dropout: 0.1,
    pooling: "mean",
    caseFeatures: true,
    initializerRange: 0.02,
    charEmbeddingSize: 16,
    charFilters: 64,
    localConvWidth: 0,
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
    nerLossWeight: 1,
    sentimentLossWeight: 1,
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-8,
    clipNorm: 1,
    taskSampling: "proportional",
    samplingTemperature: 2,
    schedule: "inverse-time",
    warmupSteps: 0,
    layerLrDecay: 1,
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

/** Built-in presets: `default` for the sample data, `tiny` for tests, `reference` for benchmarks. */
export const PRESETS: Readonly<Record<PresetName, Config>> = {
  default: DEFAULT_CONFIG,
  tiny: merge(DEFAULT_CONFIG, {
    model: { maxLength: 16, hiddenSize: 8, numLayers: 2, numHeads: 2, ffnSize: 16, dropout: 0 },
    tokenizer: { affixBuckets: 16 },
    train: { epochs: 2, batchSize: 4, validationSplit: 0 },
  }),
  // The benchmark model of TFJS_NOTES / the PyTorch peer: hidden 128, 4 heads, FFN 512, 2 layers.
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
 * assert.throws(() => resolveConfig({ model: { hiddenSize: 30, numHeads: 4 } }));
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
  checkKeys(overrides, base, "config");
  const config = merge(base, overrides);
  validate(config);
  return deepFreeze(config);
}

/**
 * Validates a config read from a file or checkpoint (every field required).
 * @throws {ConfigError} Naming the first bad field.
 */
export function validateConfig(value: unknown, source = "config"): Config {
  if (!isObject(value)) throw new ConfigError(`Cannot read ${source}: expected an object`);
  // Training options added within a format version default when absent.
  if (isObject(value.train)) {
    value = { ...value, train: { ...DEFAULT_CONFIG.train, ...value.train } };
  }
  const v = value as Record<string, unknown>;
  if (isObject(v.tokenizer)) {
    value = {
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
  const w = value as Record<string, unknown>;
  if (isObject(w.model)) {
    value = {
      ...w,
      model: { charEmbeddingSize: 16, charFilters: 64, localConvWidth: 0, ...w.model },
    };
  }
  checkKeys(value as Record<string, unknown>, DEFAULT_CONFIG, source, true);
  validate(value as unknown as Config);
  return deepFreeze(structuredClone(value) as unknown as Config);
}

function validate(c: Config): void {
  const m = c.model;
  const t = c.train;
  int("seed", c.seed, 0);
  int("model.maxLength", m.maxLength, 2);
  int("model.hiddenSize", m.hiddenSize, 1);
  int("model.numLayers", m.numLayers, 0);
  int("model.numHeads", m.numHeads, 1);
  int("model.ffnSize", m.ffnSize, 1);
  if (m.hiddenSize % m.numHeads !== 0) {
    throw new ConfigError(
      `Invalid config field model.hiddenSize: ${m.hiddenSize} is not divisible by model.numHeads (${m.numHeads})`,
    );
  }
  num("model.dropout", m.dropout, 0, 0.95);
  num("model.initializerRange", m.initializerRange, 1e-6, 1);
  if (!["mean", "cls", "max"].includes(m.pooling)) {
    throw new ConfigError(
      `Invalid config field model.pooling: expected "mean", "cls" or "max", got ${
        JSON.stringify(m.pooling)
      }`,
    );
  }
  bool("model.caseFeatures", m.caseFeatures);
  bool("tokenizer.lowercase", c.tokenizer.lowercase);
  int("tokenizer.minFrequency", c.tokenizer.minFrequency, 1);
  int("tokenizer.maxVocabSize", c.tokenizer.maxVocabSize, 8);
  int("tokenizer.affixBuckets", c.tokenizer.affixBuckets, 0);
  int("tokenizer.charWidth", c.tokenizer.charWidth, 0);
  if (
    c.tokenizer.wordVectors !== null &&
    (typeof c.tokenizer.wordVectors !== "string" || c.tokenizer.wordVectors === "")
  ) {
    throw new ConfigError(
      `Invalid config field tokenizer.wordVectors: expected a vectors name, a file path or null, got ${
        JSON.stringify(c.tokenizer.wordVectors)
      }`,
    );
  }
  int("tokenizer.pretrainedVocabSize", c.tokenizer.pretrainedVocabSize, 0);
  if (
    !Array.isArray(c.tokenizer.affixLengths) || c.tokenizer.affixLengths.length === 0 ||
    !c.tokenizer.affixLengths.every((n) => Number.isInteger(n) && n >= 1 && n <= 16)
  ) {
    throw new ConfigError(
      `Invalid config field tokenizer.affixLengths: expected a non-empty list of integers in [1, 16], got ${
        JSON.stringify(c.tokenizer.affixLengths)
      }`,
    );
  }
  bool("tokenizer.shapeFeature", c.tokenizer.shapeFeature);
  if (c.tokenizer.charWidth > 0 && c.tokenizer.charWidth < 3) {
    throw new ConfigError(
      `Invalid config field tokenizer.charWidth: expected 0 (off) or at least 3, got ${c.tokenizer.charWidth}`,
    );
  }
  int("model.charEmbeddingSize", m.charEmbeddingSize, 1);
  int("model.charFilters", m.charFilters, 1);
  int("model.localConvWidth", m.localConvWidth, 0);
  if (m.localConvWidth > 0 && m.localConvWidth % 2 === 0) {
    throw new ConfigError(
      `Invalid config field model.localConvWidth: expected 0 (off) or an odd width, got ${m.localConvWidth}`,
    );
  }
  int("train.epochs", t.epochs, 0);
  int("train.batchSize", t.batchSize, 1);
  num("train.learningRate", t.learningRate, 0, 10);
  num("train.decayRate", t.decayRate, 0, 1e6);
  num("train.validationSplit", t.validationSplit, 0, 0.9);
  num("train.nerLossWeight", t.nerLossWeight, 0, 1e6);
  num("train.sentimentLossWeight", t.sentimentLossWeight, 0, 1e6);
  num("train.beta1", t.beta1, 0, 0.999999);
  num("train.beta2", t.beta2, 0, 0.999999999);
  num("train.epsilon", t.epsilon, 1e-12, 1);
  num("train.clipNorm", t.clipNorm, 0, 1e9);
  oneOf("train.taskSampling", t.taskSampling, [
    "proportional",
    "temperature",
    "round-robin",
    "balanced",
  ]);
  num("train.samplingTemperature", t.samplingTemperature, 0.01, 1e6);
  oneOf("train.schedule", t.schedule, ["inverse-time", "linear", "cosine", "slanted-triangular"]);
  int("train.warmupSteps", t.warmupSteps, 0);
  num("train.layerLrDecay", t.layerLrDecay, 1e-6, 1);
  num("train.headLrMultiplier", t.headLrMultiplier, 0, 1e6);
  oneOf("train.optimizer", t.optimizer, ["adam", "adamw"]);
  num("train.weightDecay", t.weightDecay, 0, 10);
  if (!Array.isArray(t.freeze) || !t.freeze.every((f) => typeof f === "string")) {
    throw new ConfigError(`Invalid config field train.freeze: expected a list of selectors`);
  }
  for (const selector of t.freeze) {
    try {
      selects(selector, "");
    } catch (error) {
      throw new ConfigError(`Invalid config field train.freeze: ${(error as Error).message}`);
    }
  }
  int("train.unfreezeAfter", t.unfreezeAfter, 0);
  bool("train.gradualUnfreeze", t.gradualUnfreeze);
  oneOf("train.taskWeighting", t.taskWeighting, ["static", "uncertainty"]);
  num("train.wordDropout", t.wordDropout, 0, 1);
  oneOf("train.embeddingUpdates", t.embeddingUpdates, ["dense", "lazy"]);
  if (t.initBackbone !== null && typeof t.initBackbone !== "string") {
    throw new ConfigError(`Invalid config field train.initBackbone: expected a path or null`);
  }
}

function oneOf(field: string, value: unknown, allowed: readonly string[]): void {
  if (typeof value !== "string" || !allowed.includes(value)) {
    throw new ConfigError(
      `Invalid config field ${field}: expected ${allowed.map((a) => `"${a}"`).join(", ")}, got ${
        JSON.stringify(value)
      }`,
    );
  }
}

function int(field: string, value: unknown, min: number): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new ConfigError(
      `Invalid config field ${field}: expected an integer >= ${min}, got ${JSON.stringify(value)}`,
    );
  }
}

function num(field: string, value: unknown, min: number, max: number): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    throw new ConfigError(
      `Invalid config field ${field}: expected a number in [${min}, ${max}], got ${
        JSON.stringify(value)
      }`,
    );
  }
}

function bool(field: string, value: unknown): void {
  if (typeof value !== "boolean") {
    throw new ConfigError(
      `Invalid config field ${field}: expected true or false, got ${JSON.stringify(value)}`,
    );
  }
}

function checkKeys(value: object, shape: object, path: string, requireAll = false): void {
  for (const [key, v] of Object.entries(value)) {
    const expected = (shape as Record<string, unknown>)[key];
    if (expected === undefined) {
      throw new ConfigError(`Invalid config field ${path}.${key}: unknown field`);
    }
    if (isObject(expected)) {
      if (!isObject(v)) {
        throw new ConfigError(`Invalid config field ${path}.${key}: expected an object`);
      }
      checkKeys(v, expected, `${path}.${key}`, requireAll);
    }
  }
  if (requireAll) {
    for (const key of Object.keys(shape)) {
      if (!(key in value)) throw new ConfigError(`Invalid config field ${path}.${key}: missing`);
    }
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function merge<T>(base: T, overrides: unknown): T {
  if (!isObject(base) || !isObject(overrides)) return (overrides ?? base) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    out[key] = isObject(out[key]) ? merge(out[key], value) : value;
  }
  return out as T;
}

function deepFreeze<T>(value: T): T {
  if (isObject(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
