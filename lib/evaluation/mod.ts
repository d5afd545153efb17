/**
 * lib/evaluation: Scoring: conlleval entity scores, classification scores, per-task scoring, training-time evaluation.
 * @module
 */
export {
  type ClassificationScores,
  classificationScores,
  type EntityScores,
  entityScores,
  type GroupRecall,
  parseConllevalInput,
  pearson,
  prf,
  type PrfScore,
  ranks,
  type SimilarityScores,
  similarityScores,
  spearman,
  type UnknownWordRecall,
  unknownWordRecall,
} from "./metrics.ts";
export {
  type CorpusScores,
  pairsOf,
  type ScoreCorpora,
  scoreCorpora,
  scoreCorporaParallel,
  scorePairs,
  scoreTask,
  type TaskScores,
} from "./score.ts";
export { type EvalMetrics, evaluate, type TaskEval } from "./evaluate.ts";
export { backboneBaseline, meanWordVectors } from "./baselines.ts";
