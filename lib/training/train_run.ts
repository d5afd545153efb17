/**
 * A whole training run from labelled sentences: split, vocabulary, model,
 * trainer, epoch loop with epoch-end checkpoints, and resume from such a
 * checkpoint. What `deno task train` and the notebooks call.
 * @module
 */
import type { Config } from "../core/config.ts";
import { loadModel, type ModelBundle, saveModel, type TrainedTask } from "../model/checkpoint.ts";
import { loadTrainingState, savedTraining, type TrainingState } from "./training_state.ts";
import type { Sentence } from "../data/sentences.ts";
import { encodeSentence, exampleLength, taskPool } from "../data/encoding.ts";
import { inferTasks } from "../data/sentences.ts";
import { isChunkTagSet, type TaskSpec, validateTasks } from "../core/tasks.ts";
import { epochBatches, type EpochRecord, fit, type StepProgress } from "./fit.ts";
import { tagTransitions } from "../data/tag_transitions.ts";
import * as tf from "@tensorflow/tfjs";
import type { ModelConfig } from "../core/config.ts";
import { modelDims, MultiTaskModel } from "../model/model.ts";
import {
  backboneEntryStage,
  frozenForEpoch,
  isFrozen,
  type SelectorContext,
  selects,
} from "./param_groups.ts";
import { deriveSeed, shuffled } from "../core/random.ts";
import { WordTokenizer } from "../data/tokenizer.ts";
import { ParallelTrainer } from "./parallel.ts";
import { InferencePool } from "../inference/inference_pool.ts";
import { type StepRunner, Trainer } from "./trainer.ts";
import { TrainingError } from "../core/errors.ts";
import { TOKEN_EMBEDDING } from "../model/encoder.ts";
import {
  DEFAULT_VECTOR_CACHE,
  loadWordVectors,
  pretrainedTable,
  type WordVectors,
} from "../data/vectors.ts";
import { type BackboneFiles, readBackboneFiles } from "../data/backbone_files.ts";
import { USE_LITE, useLiteWeights } from "../model/use_lite.ts";
import { BackboneFeatureCache } from "../model/feature_cache.ts";
import type { EncodedSentence } from "../data/encoding.ts";

/** Options of {@linkcode trainModel}. */
export interface TrainModelOptions {
  /** Save a checkpoint (with optimizer state) here after every epoch, and the final model. */
  readonly outDir?: string;
  /**
   * The tasks to train, one head each. @default the tasks labelled in the
   * training data, with the labels seen there (see `inferTasks`)
   */
  readonly tasks?: readonly TaskSpec[];
  /** Recorded in checkpoints. */
  readonly dataPath?: string;
  /**
   * sha256 of the training data file: recorded in checkpoints, and when
   * resuming, checked against the recorded one (a different file is refused).
   */
  readonly dataSha256?: string;
  readonly onStep?: (progress: StepProgress) => void;
  /** After each epoch (and its checkpoint), with the model in its end-of-epoch state. */
  readonly onEpochEnd?: (record: EpochRecord, bundle: ModelBundle) => void | Promise<void>;
  /** Receives warnings such as truncation. */
  readonly onWarning?: (message: string) => void;
  /**
   * Start from every weight of this trained model (backbone and heads) and its
   * tokenizer, e.g. to continue training one task with the other head frozen.
   * Its model shape must match the config's.
   */
  readonly initFrom?: ModelBundle;
  /**
   * Data-parallel replicas (one Deno Worker each; use the number of cores).
   * 1 trains in this thread. Results are deterministic per replica count.
   * @default 1
   */
  readonly workers?: number;
  /**
   * The word vectors named by `config.tokenizer.wordVectors`, already loaded
   * (e.g. once for several seeds); otherwise they are loaded through the cache
   * in `vectorCacheDir`.
   */
  readonly wordVectors?: WordVectors;
  /** Folder of the word-vector caches. @default ".cache/word-vectors" */
  readonly vectorCacheDir?: string;
  /**
   * The files of the pretrained backbone `config.model.backbone` names, already
   * read (e.g. once for several seeds); otherwise they are read from its npm
   * package, or from `backboneDir`.
   */
  readonly backboneFiles?: BackboneFiles;
  /** A local copy of the backbone's files (its package's `dist/` folder). */
  readonly backboneDir?: string;
  /**
   * Called while the feature cache of a frozen backbone is built, with the
   * sentences done and the total (see `model/feature_cache.ts`).
   */
  readonly onCacheProgress?: (done: number, total: number) => void;
  /**
   * Word lists whose frozen backbone features are cached with the training
   * sentences' (on the workers): the dev and test sets scored during and after
   * the run through the bundle `onEpochEnd` gets.
   */
  readonly precache?: readonly (readonly string[])[];
  /**
   * A feature cache to use and fill, e.g. one for several seeds of a recipe:
   * valid while the frozen stages hold the weights it was filled with (the
   * pretrained ones, for a new model). @default a new one
   */
  readonly featureCache?: BackboneFeatureCache;
}

/** Result of a run. */
export interface TrainResult {
  readonly bundle: ModelBundle;
  readonly history: readonly EpochRecord[];
  readonly split: { readonly train: readonly number[]; readonly validation: readonly number[] };
  /** The single-thread trainer, for further steps or inspection; dispose with the model. */
  readonly trainer: Trainer;
}

/** Training data with its own validation set (no split is made). */
export interface TrainData {
  /** Sentences labelled for one task or several (corpora may be concatenated). */
  readonly train: readonly Sentence[];
  readonly validation: readonly Sentence[];
}

/**
 * Trains a new model with `config` on `data`: a list of sentences (a seeded
 * `validationSplit` is held out) or explicit train and validation sets.
 */
export async function trainModel(
  data: readonly Sentence[] | TrainData,
  config: Config,
  options: TrainModelOptions = {},
): Promise<TrainResult> {
  const explicit = !Array.isArray(data);
  const sentences: readonly Sentence[] = explicit
    ? [...(data as TrainData).train, ...(data as TrainData).validation]
    : data as readonly Sentence[];
  const split = explicit
    ? {
      train: [...(data as TrainData).train.keys()],
      validation: [...(data as TrainData).validation.keys()].map((i) =>
        i + (data as TrainData).train.length
      ),
    }
    : splitIndices(sentences.length, config.train.validationSplit, config.seed);
  const specs = options.tasks ?? inferTasks(split.train.map((i) => sentences[i]!));
  validateTasks(specs);
  // Chunk-tag tasks count their training tag bigrams, for transitions decoding.
  const tasks: TrainedTask[] = specs.map((task) => {
    if (task.kind !== "token" || !isChunkTagSet(task.labels)) return task;
    const sequences = split.train.map((i) => sentences[i]!.labels[task.name])
      .filter((t): t is readonly string[] => Array.isArray(t));
    return sequences.length === 0
      ? task
      : { ...task, tagTransitions: tagTransitions(sequences, task.labels) };
  });
  const backbone = config.train.initBackbone === null
    ? undefined
    : await loadModel(config.train.initBackbone);
  const vectors = options.initFrom !== undefined || backbone !== undefined
    ? undefined
    : await configWordVectors(config, options);
  const pretrained = config.model.backbone === null || options.initFrom !== undefined
    ? undefined
    : await configBackboneFiles(config, options);
  let tokenizer = options.initFrom?.tokenizer ?? backbone?.tokenizer ??
    newTokenizer(split.train.map((i) => sentences[i]!.words), config, vectors);
  // The backbone reads the text as this config says, whoever built the tokenizer.
  const pieces = tokenizer.pieces?.vocab ?? pretrained?.vocab;
  if (
    pieces !== undefined &&
    (tokenizer.pieces === undefined || tokenizer.pieceText !== config.model.backboneText)
  ) {
    tokenizer = tokenizer.withPieces(
      pieces,
      tokenizer.pieces === undefined ? USE_LITE.maxPieces : tokenizer.maxPieces,
      config.model.backboneText,
    );
  }
  if (options.initFrom !== undefined) {
    checkBackbone(options.initFrom.config.model, config.model, "initFrom");
  }
  if (backbone !== undefined) {
    checkBackbone(backbone.config.model, config.model, config.train.initBackbone!);
  }
  const model = new MultiTaskModel(config.model, modelDims(tokenizer, tasks), config.seed);
  checkFreezeSelectors(config, model);
  if (vectors !== undefined) initWordVectors(model, tokenizer, vectors, config.seed);
  if (pretrained !== undefined) model.parameters.assign(useLiteWeights(pretrained), pretrained.dir);
  if (backbone !== undefined) {
    copyWeights(backbone.model, model, (name) => selects("backbone", name));
    backbone.model.dispose();
  }
  if (options.initFrom !== undefined) copyWeights(options.initFrom.model, model, () => true);
  const bundle = { config, tokenizer, tasks, model };
  return await run(sentences, bundle, split, [], 1, options);
}

/**
 * Loads the word vectors `config.tokenizer.wordVectors` names, through the
 * cache (or takes `options.wordVectors`); undefined when it names none.
 */
export async function configWordVectors(
  config: Config,
  options: Pick<TrainModelOptions, "wordVectors" | "vectorCacheDir" | "onWarning"> = {},
): Promise<WordVectors | undefined> {
  const source = config.tokenizer.wordVectors;
  if (source === null) return undefined;
  return options.wordVectors ?? await loadWordVectors(source, {
    cacheDir: options.vectorCacheDir ?? DEFAULT_VECTOR_CACHE,
    ...(options.onWarning !== undefined ? { onProgress: options.onWarning } : {}),
  });
}

/**
 * Reads the files of the pretrained backbone `config.model.backbone` names
 * (or takes `options.backboneFiles`); undefined when it names none.
 */
export async function configBackboneFiles(
  config: Config,
  options: Pick<TrainModelOptions, "backboneFiles" | "backboneDir"> = {},
): Promise<BackboneFiles | undefined> {
  const name = config.model.backbone;
  if (name === null) return undefined;
  return options.backboneFiles ?? await readBackboneFiles(name, {
    ...(options.backboneDir !== undefined ? { dir: options.backboneDir } : {}),
  });
}

/**
 * The tokenizer of a new model: its vocabulary fitted on `words` and, with
 * `vectors`, extended by their most frequent words (see `WordTokenizer.fit`).
 */
export function newTokenizer(
  words: Iterable<readonly string[]>,
  config: Config,
  vectors?: WordVectors,
): WordTokenizer {
  return WordTokenizer.fit(
    words,
    config.tokenizer,
    vectors === undefined
      ? undefined
      : { words: vectors.words, dim: vectors.dim, source: config.tokenizer.wordVectors! },
  );
}

/**
 * Sets a new model's word embedding table from pretrained vectors: each word's
 * vector, seeded random rows for words without one (see `pretrainedTable`).
 */
export function initWordVectors(
  model: MultiTaskModel,
  tokenizer: WordTokenizer,
  vectors: WordVectors,
  seed: number,
): void {
  const { table } = pretrainedTable(
    tokenizer.vocab,
    vectors,
    tokenizer.lowercase,
    deriveSeed(seed, TOKEN_EMBEDDING),
  );
  const variable = model.parameters.get(TOKEN_EMBEDDING);
  tf.tidy(() => variable.assign(tf.tensor2d(table, variable.shape as [number, number])));
}

/**
 * Continues a run from an epoch-end checkpoint written by {@linkcode trainModel}.
 * The data must be the same; epochs may be raised with `epochs`.
 */
export async function resumeTraining(
  checkpointDir: string,
  sentences: readonly Sentence[],
  options: TrainModelOptions & { readonly epochs?: number } = {},
): Promise<TrainResult> {
  const state = await loadTrainingState(checkpointDir);
  if (state === undefined || state.split === undefined) {
    throw new TrainingError(
      `Cannot resume from ${checkpointDir}: it has no training state (was it saved at an epoch end?)`,
    );
  }
  const refuse = (why: string): never => {
    throw new TrainingError(`Cannot resume from ${checkpointDir}: ${why}`);
  };
  if (
    options.dataSha256 !== undefined && state.dataSha256 !== undefined &&
    options.dataSha256 !== state.dataSha256
  ) {
    refuse(
      `the training data differs from the run's (sha256 ${options.dataSha256} against ${state.dataSha256} recorded${
        state.dataPath === undefined ? "" : ` for ${state.dataPath}`
      }); its split would not apply to it`,
    );
  }
  if (
    options.workers !== undefined && state.workers !== undefined &&
    options.workers !== state.workers
  ) {
    refuse(
      `the run trained on ${state.workers} worker(s), not ${options.workers}; resume with the same number so it ends as an uninterrupted run would`,
    );
  }
  if (options.epochs !== undefined && options.epochs <= state.epoch) {
    refuse(`it has trained ${state.epoch} epoch(s) already; ask for more than that`);
  }
  const loaded = await loadModel(checkpointDir);
  const config: Config = options.epochs === undefined
    ? loaded.config
    : { ...loaded.config, train: { ...loaded.config.train, epochs: options.epochs } };
  const bundle = { ...loaded, config };
  return await run(sentences, bundle, state.split, state.history, state.epoch + 1, {
    ...options,
    tasks: bundle.tasks,
  }, state);
}

/**
 * Deterministic train/validation split of `count` items.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitIndices } from "./train_run.ts";
 * const { train, validation } = splitIndices(10, 0.2, 1);
 * assert.equal(validation.length, 2);
 * assert.deepEqual([...train, ...validation].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
 * ```
 */
export function splitIndices(
  count: number,
  validationSplit: number,
  seed: number,
): { train: number[]; validation: number[] } {
  const order = shuffled([...Array(count).keys()], deriveSeed(seed, "split"));
  const held = Math.round(count * validationSplit);
  return {
    train: order.slice(held).sort((a, b) => a - b),
    validation: order.slice(0, held).sort((a, b) => a - b),
  };
}

async function run(
  sentences: readonly Sentence[],
  bundle: ModelBundle,
  split: { train: readonly number[]; validation: readonly number[] },
  previous: readonly EpochRecord[],
  startEpoch: number,
  options: TrainModelOptions,
  restore?: TrainingState,
): Promise<TrainResult> {
  const { config, tokenizer, tasks } = bundle;
  const encode = (i: number) => {
    const s = sentences[i];
    if (s === undefined) {
      throw new RangeError(`Cannot resume: sentence ${i} of the split is missing from the data`);
    }
    return encodeSentence(s, tokenizer, tasks, config.model.maxLength);
  };
  const encodedTrain = split.train.map(encode);
  const encodedValidation = split.validation.map(encode);
  // What fit() trains on: the encoded sentences, with the frozen backbone's features once cached.
  const trainSet: EncodedSentence[] = [...encodedTrain];
  const validation: EncodedSentence[] = [...encodedValidation];
  if (trainSet.length === 0) {
    throw new TrainingError("Cannot train: the training set is empty");
  }
  const truncated = [...trainSet, ...validation].filter((s) => s.truncated).length;
  if (truncated > 0) {
    options.onWarning?.(
      `${truncated} sentence(s) longer than ${config.model.maxLength - 1} words were truncated`,
    );
  }
  const pools = trainSet.map(taskPool);
  const sampling = {
    pools,
    sampling: config.train.taskSampling,
    temperature: config.train.samplingTemperature,
    balancedSteps: config.train.balancedSteps,
    taskSteps: config.train.taskSteps,
  };
  const stepsPerEpoch =
    epochBatches(trainSet.map(exampleLength), config.train.batchSize, 0, sampling).length;
  const totalSteps = Math.max(1, stepsPerEpoch * config.train.epochs);
  const numLayers = config.model.numLayers;
  const context: SelectorContext = {
    backboneLayers: bundle.model.backbone?.spec.layers.length ?? 0,
  };
  const trainableAt = (epoch: number) => {
    const frozen = frozenForEpoch(epoch, config.train, numLayers, context);
    return bundle.model.parameters.names().filter((name) => !isFrozen(frozen, name, context));
  };
  // The feature cache: the frozen stages of a pretrained backbone run once per
  // sentence, here; evaluation during the run (`onEpochEnd`'s bundle) uses it too.
  const featureCache = bundle.model.backbone === undefined
    ? undefined
    : options.featureCache ?? new BackboneFeatureCache(0);
  const running: ModelBundle = featureCache === undefined ? bundle : { ...bundle, featureCache };
  let attachedStage = 0;
  const workers = options.workers ?? 1;
  const cacheFeatures = async (names: readonly string[]) => {
    if (featureCache === undefined) return;
    const trainable = new Set(names);
    const stage = backboneEntryStage(
      bundle.model.parameters.names(),
      (name) => trainable.has(name),
      context.backboneLayers!,
    );
    if (stage === attachedStage) return;
    attachedStage = stage;
    const started = performance.now();
    const before = featureCache.stage === stage ? featureCache.size : 0;
    if (featureCache.stage !== stage) featureCache.reset(stage);
    // The training sentences, and those evaluated during and after the run.
    const precache = (options.precache ?? []).map((words) =>
      encodeSentence({ words, labels: {} }, tokenizer, tasks, config.model.maxLength)
    );
    const sentences = [...encodedTrain, ...encodedValidation, ...precache];
    const progress = options.onCacheProgress !== undefined
      ? { onProgress: options.onCacheProgress }
      : {};
    let all: EncodedSentence[];
    if (workers > 1 && stage > 0) {
      const pool = await InferencePool.create(bundle, workers);
      try {
        all = await featureCache.attachWith(
          (batches, at, onBatch) => pool.advanceBackbone(batches, at, onBatch),
          bundle.model,
          sentences,
          progress,
        );
      } finally {
        pool.close();
      }
    } else {
      all = featureCache.attach(bundle.model, sentences, progress);
    }
    all.slice(0, trainSet.length + validation.length).forEach((s, i) =>
      i < trainSet.length ? trainSet[i] = s : validation[i - trainSet.length] = s
    );
    if (stage > 0) {
      options.onWarning?.(
        `the frozen backbone stages' outputs of ${featureCache.size - before} sentences cached in ${
          ((performance.now() - started) / 1000).toFixed(0)
        } s on ${workers} worker(s) (${before} were cached already; batches enter the backbone at stage ${stage})`,
      );
    }
  };
  await cacheFeatures(trainableAt(startEpoch));
  const trainer = new Trainer(bundle.model, {
    train: config.train,
    seed: config.seed,
    totalSteps,
    trainable: ((set) => (name: string) => set.has(name))(new Set(trainableAt(startEpoch))),
  });
  if (restore !== undefined) {
    trainer.setOptimizerState(restore.optimizer);
    if (restore.lossState !== undefined) trainer.setLossState(restore.lossState);
  }
  let runner: StepRunner = trainer;
  if (workers > 1) {
    const state = trainer.getOptimizerState();
    runner = await ParallelTrainer.create(bundle.model, config, {
      replicas: workers,
      trainable: trainer.trainableNames,
      optimizerState: state,
      lossState: trainer.getLossState(),
      totalSteps,
      learningRate: (step) => trainer.learningRate(step),
    });
  }
  const history = [...previous];
  const checkpoint = async (record: EpochRecord) => {
    history.push(record);
    await save(record);
    await options.onEpochEnd?.(record, running);
  };
  const save = async (record: EpochRecord) => {
    if (options.outDir === undefined) return;
    const optimizer = await runner.optimizerState();
    const lossState = await runner.lossState();
    const state: TrainingState = {
      epoch: record.epoch,
      history,
      split,
      ...(options.dataPath !== undefined ? { dataPath: options.dataPath } : {}),
      ...(options.dataSha256 !== undefined ? { dataSha256: options.dataSha256 } : {}),
      workers,
      ...(Object.keys(lossState).length > 0 ? { lossState } : {}),
      optimizer,
    };
    await saveModel(options.outDir, bundle, savedTraining(state));
  };
  try {
    await fit(runner, bundle.model, trainSet, {
      epochs: config.train.epochs,
      batchSize: config.train.batchSize,
      seed: config.seed,
      validation,
      startEpoch,
      wordDropout: config.train.wordDropout,
      ...sampling,
      beforeEpoch: async (epoch) => {
        if (config.train.unfreezeAfter > 0 || config.train.gradualUnfreeze) {
          const names = trainableAt(epoch);
          trainer.setTrainable(names);
          if (runner !== trainer) await runner.setTrainable(names);
          await cacheFeatures(names);
        }
      },
      ...(options.onStep !== undefined ? { onStep: options.onStep } : {}),
      onEpochEnd: checkpoint,
    });
    if (runner !== trainer) {
      // Leave the single-thread trainer in the state the workers reached.
      trainer.setOptimizerState(await runner.optimizerState());
      trainer.setLossState(await runner.lossState());
    }
  } finally {
    if (runner instanceof ParallelTrainer) runner.close();
  }
  return { bundle, history, split, trainer };
}

/**
 * Refuses freeze selectors that select no parameter of this model (a typo, a
 * task it does not have, a layer beyond its depth).
 */
function checkFreezeSelectors(config: Config, model: MultiTaskModel): void {
  const names = model.parameters.names();
  const context = { backboneLayers: model.backbone?.spec.layers.length ?? 0 };
  for (const selector of config.train.freeze) {
    if (selector === "none" || names.some((name) => selects(selector, name, context))) continue;
    model.dispose();
    throw new TrainingError(
      `Cannot freeze "${selector}": it selects no parameter of this model (tasks ${
        [...model.heads.keys()].join(", ") || "none"
      }; layers 0-${config.model.numLayers - 1})`,
    );
  }
}

/** Refuses a backbone whose encoder shape differs from the config's. */
function checkBackbone(backbone: ModelConfig, wanted: ModelConfig, dir: string): void {
  for (const key of ["hiddenSize", "numLayers", "numHeads", "ffnSize", "caseFeatures"] as const) {
    if (backbone[key] !== wanted[key]) {
      throw new TrainingError(
        `Cannot initialise from backbone ${dir}: model.${key} is ${backbone[key]} there but ${
          wanted[key]
        } in this config`,
      );
    }
  }
  if (backbone.maxLength < wanted.maxLength) {
    throw new TrainingError(
      `Cannot initialise from backbone ${dir}: its maxLength ${backbone.maxLength} is below ${wanted.maxLength}`,
    );
  }
}

/** Copies the weights passing `filter` from one model into another (positions cut to fit). */
function copyWeights(
  from: MultiTaskModel,
  to: MultiTaskModel,
  filter: (name: string) => boolean,
): void {
  for (const [name, v] of to.parameters.entries()) {
    if (!filter(name)) continue;
    const source = from.parameters.get(name);
    tf.tidy(() => v.assign(source.slice(new Array(v.rank).fill(0), v.shape)));
  }
}
