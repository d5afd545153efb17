/**
 * lib/experiments: Experiments on top: recipes, benchmarks, diagnostics. (Charts and tables for notebooks are `report.ts`, imported on its own so that the CLI does not load Vega.)
 * @module
 */
export {
  compareSettings,
  formatPercent,
  loadRecipeCorpora,
  type MeanStd,
  meanStd,
  type Recipe,
  recipeConfig,
  type RecipeCorpora,
  type RecipeResult,
  RecipeSchema,
  runRecipe,
  type RunRecipeOptions,
  type SeedResult,
  selectionScore,
  validateRecipe,
  WeightAverage,
} from "./recipe.ts";
export {
  type BackboneBenchOptions,
  type BackboneBenchResult,
  benchBackbone,
} from "./backbone_bench.ts";
export {
  BENCH_TASKS,
  fixedLengthPadded,
  matmulGflops,
  median,
  medianTiming,
  percentile,
  replicaSpread,
  type StepTimes,
  syntheticSentences,
  timeCalls,
  timeInference,
  timeInterleavedTrainSteps,
  timeTrainSteps,
  trainingFlopsPerToken,
} from "./benchmark.ts";
export {
  type DepthUpdate,
  measureShapes,
  measureUpdateSizes,
  type StageShape,
} from "./diagnostics.ts";
export {
  compareScenarios,
  formatScores,
  headline,
  recommend,
  type Recommendation,
  type ScenarioScores,
  scenarioScores,
  type ScoredRun,
  verdict,
} from "./study_report.ts";
export {
  compareRuns,
  FORGETTING_STUDY,
  type ForgettingRun,
  FREEZING_STUDY,
  LAYERWISE_STUDY,
  runForgetting,
  runKey,
  runStudy,
  STUDIES,
  type Study,
  type StudyRun,
  type StudyScenario,
} from "./studies.ts";
export {
  type ArchitectureBlock,
  architectureBlocks,
  architectureSvg,
  blockOf,
  formatCount,
} from "./architecture.ts";
export { benchModel, type ModelBenchOptions, type ModelBenchResult } from "./model_bench.ts";
export { type PairedComparison, pairedComparison, studentTwoSided } from "./stats.ts";
