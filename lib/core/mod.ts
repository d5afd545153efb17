/**
 * lib/core: Bottom layer: the validated config, task specs, errors, seeded randomness. Imports nothing of lib/.
 * @module
 */
export {
  type Config,
  ConfigError,
  type ConfigOverrides,
  ConfigSchema,
  FREEZE_SELECTOR,
  type ModelConfig,
  ModelConfigSchema,
  type Pooling,
  type PresetName,
  PRESETS,
  resolveConfig,
  type ScheduleName,
  type TaskSampling,
  type TokenizerConfig,
  TokenizerConfigSchema,
  type TrainConfig,
  TrainConfigSchema,
  validateConfig,
} from "./config.ts";
export { CheckpointError, DataError, type DataErrorLocation, TrainingError } from "./errors.ts";
export { sha256Hex } from "./hash.ts";
export { deriveSeed, mulberry32, shuffled } from "./random.ts";
export {
  defaultMetric,
  isChunkTagSet,
  TASK_KINDS,
  TASK_METRICS,
  TASK_NAME,
  type TaskKind,
  type TaskMetric,
  type TaskSpec,
  validateTasks,
} from "./tasks.ts";
