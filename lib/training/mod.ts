/**
 * lib/training: Training: the step, the optimizer, schedules, parameter groups, the epoch loop, data parallelism, runs and their checkpoints.
 * @module
 */
export {
  logVarianceName,
  type ReplicaUpdate,
  type StepMetrics,
  type StepOptions,
  type StepRunner,
  type StepTiming,
  type TaskStepMetrics,
  Trainer,
  type TrainerOptions,
} from "./trainer.ts";
export { Adam, type AdamOptions, type AdamState } from "./optimizer.ts";
export {
  inverseTimeDecay,
  type InverseTimeDecayOptions,
  learningRateAt,
  type ScheduleOptions,
} from "./schedule.ts";
export {
  backboneEntryStage,
  decays,
  depthOf,
  FREEZE_SCENARIOS,
  type FreezeScenario,
  frozenForEpoch,
  isFrozen,
  type LayerRateOptions,
  learningRateMultiplier,
  meanRateMultiplier,
  type SelectorContext,
  selects,
  topDepth,
  ULMFIT_LAYER_DECAY,
  unfreezeOrder,
} from "./param_groups.ts";
export {
  epochBatches,
  type EpochBatchOptions,
  type EpochRecord,
  fit,
  type FitOptions,
  type StepProgress,
} from "./fit.ts";
export { type ParallelOptions, ParallelTrainer } from "./parallel.ts";
export {
  adamSegment,
  type AdamStep,
  type FlatLayout,
  flatLayout,
  type FlatState,
  type GradientEntry,
  shardRange,
} from "./sharded.ts";
export {
  configBackboneFiles,
  configWordVectors,
  initWordVectors,
  newTokenizer,
  resumeTraining,
  splitIndices,
  type TrainData,
  trainModel,
  type TrainModelOptions,
  type TrainResult,
} from "./train_run.ts";
export { loadTrainingState, savedTraining, type TrainingState } from "./training_state.ts";
export { teachHead, type TeachOptions } from "./head_training.ts";
