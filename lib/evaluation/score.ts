/**
 * Scores a trained model on labelled corpora, per task, by the task's metric:
 * chunk-tag token tasks by conlleval's entity P/R/F1 (plus token accuracy and
 * recall on spans with unknown words), other token tasks by token accuracy,
 * sentence tasks by accuracy (with macro-F1 and the confusion matrix).
 * @module
 */
import type { TaskMetric } from "../core/tasks.ts";
import type { Sentence } from "../data/sentences.ts";
import { UNK_ID } from "../data/tokenizer.ts";
import type { ModelBundle } from "../model/checkpoint.ts";
import type { InferencePool } from "../inference/inference_pool.ts";
import { type InferenceOptions, type Prediction, predictWords } from "../inference/pipeline.ts";
import {
  type ClassificationScores,
  classificationScores,
  type EntityScores,
  entityScores,
  type UnknownWordRecall,
  unknownWordRecall,
} from "./metrics.ts";

/** Scores of one task on one corpus. */
export interface TaskScores {
  readonly metric: TaskMetric;
  /** The metric's value: entity F1, accuracy or Spearman, in [0, 1] (Spearman in [-1, 1]). */
  readonly score: number;
  /** Token tasks: the fraction of words tagged right, and how many words. */
  readonly tokenAccuracy?: number;
  readonly tokens?: number;
  /** Chunk-tag tasks: conlleval's entity scores. */
  readonly entities?: EntityScores;
  /** Chunk-tag tasks: recall on gold spans with and without an out-of-vocabulary word. */
  readonly unknownWords?: UnknownWordRecall;
  /** Sentence tasks: accuracy, macro-F1, per-label scores, confusion matrix. */
  readonly classes?: ClassificationScores;
}

/** Scores per task scored. */
export type CorpusScores = Readonly<Record<string, TaskScores>>;

/** Corpora to score on, by task: sentences labelled for that task. */
export type ScoreCorpora = Readonly<Record<string, readonly Sentence[]>>;

/**
 * Predicts and scores each task on its corpus. Words past the model's
 * `maxLength` are predicted `O`, so long sentences are scored whole, not
 * silently cut.
 * @throws {RangeError} when a corpus names a task the model does not have
 */
export function scoreCorpora(
  bundle: ModelBundle,
  corpora: ScoreCorpora,
  options: InferenceOptions = {},
): CorpusScores {
  const out: Record<string, TaskScores> = {};
  for (const [sentences, tasks] of byCorpus(corpora)) {
    const predictions = predictWords(bundle, sentences.map((s) => s.words), options);
    for (const task of tasks) out[task] = scoreTask(bundle, task, sentences, predictions);
  }
  return out;
}

/** Like {@linkcode scoreCorpora}, predicting on an {@linkcode InferencePool}'s workers. */
export async function scoreCorporaParallel(
  pool: InferencePool,
  corpora: ScoreCorpora,
  options: InferenceOptions = {},
): Promise<CorpusScores> {
  const out: Record<string, TaskScores> = {};
  for (const [sentences, tasks] of byCorpus(corpora)) {
    const predictions = await pool.predictWords(sentences.map((s) => s.words), options);
    for (const task of tasks) out[task] = scoreTask(pool.bundle, task, sentences, predictions);
  }
  return out;
}

/** Tasks grouped by corpus: tasks sharing a sentence list are predicted once. */
function byCorpus(corpora: ScoreCorpora): Map<readonly Sentence[], string[]> {
  const groups = new Map<readonly Sentence[], string[]>();
  for (const [task, sentences] of Object.entries(corpora)) {
    groups.set(sentences, [...(groups.get(sentences) ?? []), task]);
  }
  return groups;
}

/** Scores one task's predictions against its gold labels. */
export function scoreTask(
  bundle: ModelBundle,
  name: string,
  sentences: readonly Sentence[],
  predictions: readonly Prediction[],
): TaskScores {
  const task = bundle.tasks.find((t) => t.name === name);
  if (task === undefined) {
    throw new RangeError(
      `Cannot score task "${name}": the model's tasks are ${
        bundle.tasks.map((t) => t.name).join(", ")
      }`,
    );
  }
  const gold = sentences.map((s, i) => {
    const labels = s.labels[name];
    if (labels === undefined) {
      throw new RangeError(`Cannot score task "${name}": sentence ${i} has no ${name} label`);
    }
    return labels;
  });
  if (task.kind === "sentence") {
    const classes = classificationScores(
      gold as string[],
      predictions.map((p) => p.labels[name]!.label),
      task.labels,
    );
    return { metric: task.metric, score: classes.accuracy, classes };
  }
  const goldTags = gold as string[][];
  const predicted = predictions.map((p) => p.tags[name]!);
  let correct = 0, tokens = 0;
  goldTags.forEach((tags, i) =>
    tags.forEach((t, j) => {
      tokens++;
      if (t === predicted[i]![j]) correct++;
    })
  );
  const tokenAccuracy = tokens === 0 ? 0 : correct / tokens;
  if (task.metric !== "entity-f1") {
    return { metric: task.metric, score: tokenAccuracy, tokenAccuracy, tokens };
  }
  const entities = entityScores(goldTags, predicted);
  const unknown = sentences.map((s) => s.words.map((w) => bundle.tokenizer.tokenId(w) === UNK_ID));
  return {
    metric: task.metric,
    score: entities.f1,
    tokenAccuracy,
    tokens,
    entities,
    unknownWords: unknownWordRecall(goldTags, predicted, unknown),
  };
}
