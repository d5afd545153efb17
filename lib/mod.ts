/**
 * Multi-task transformer toolkit: one shared transformer encoder and one head
 * per task (token, sentence or sentence-pair tasks, as data), on TensorFlow.js
 * (WASM backend) under Deno. This is the public API; each layer's folder has a
 * `mod.ts` listing more (`lib/data/mod.ts`, `lib/model/mod.ts`, …), and charts
 * for notebooks are in `lib/experiments/report.ts`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveConfig, splitWords, tagsToSpans } from "./mod.ts";
 * assert.equal(resolveConfig().model.numLayers, 2);
 * assert.deepEqual(splitWords("Hi, Paris!"), ["Hi", ",", "Paris", "!"]);
 * assert.deepEqual(tagsToSpans(["B-LOC"]), [{ type: "LOC", start: 0, end: 1 }]);
 * ```
 * @module
 */

// Set-up and configuration
export { describeBackend, initBackend } from "./backend/mod.ts";
export {
  type Config,
  ConfigError,
  type ConfigOverrides,
  type PresetName,
  PRESETS,
  resolveConfig,
} from "./core/mod.ts";
export { type TaskKind, type TaskMetric, type TaskSpec } from "./core/mod.ts";
export { CheckpointError, DataError, TrainingError } from "./core/mod.ts";

// Data
export {
  DATASETS,
  fetchDatasets,
  inferTasks,
  loadSentences,
  loadTaskFiles,
  loadWordVectors,
  parseConll,
  parseLabelledSentences,
  parseTaskFlag,
  readText,
  REFERENCE_TASKS,
  type Sentence,
  splitWords,
  tagsToSpans,
  WordTokenizer,
  type WordVectors,
} from "./data/mod.ts";

// The model and model directories
export {
  loadModel,
  loadModelFrom,
  type ModelBundle,
  MultiTaskModel,
  saveModel,
  type TrainedTask,
} from "./model/mod.ts";

// Training
export {
  type EpochRecord,
  resumeTraining,
  teachHead,
  trainModel,
  type TrainModelOptions,
  type TrainResult,
} from "./training/mod.ts";

// Inference
export {
  applyHead,
  cosineSimilarity,
  embed,
  type Entity,
  type HeadFile,
  InferencePool,
  parseHeadFile,
  predict,
  type Prediction,
  predictWords,
} from "./inference/mod.ts";

// Evaluation and experiments
export {
  classificationScores,
  type CorpusScores,
  entityScores,
  scoreCorpora,
  type TaskScores,
} from "./evaluation/mod.ts";
export {
  compareSettings,
  formatPercent,
  loadRecipeCorpora,
  meanStd,
  pairedComparison,
  type Recipe,
  type RecipeResult,
  runRecipe,
  validateRecipe,
} from "./experiments/mod.ts";

// Serving
export { ModelService, type ServeLimits, type ServiceOptions } from "./serving/mod.ts";
