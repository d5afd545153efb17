/**
 * Scores a trained model on labelled corpora, per task, by the task's metric:
 * chunk-tag token tasks by conlleval's entity P/R/F1 (plus token accuracy and
 * recall on spans with unknown words), other token tasks by token accuracy,
 * sentence tasks by accuracy (with macro-F1 and the confusion matrix).
 * @module
 */
import type { TaskMetric } from "../core/tasks.ts";
import { isPairLabel, type Sentence } from "../data/sentences.ts";
import { UNK_ID } from "../data/tokenizer.ts";
import type { ModelBundle } from "../model/checkpoint.ts";
import type { InferencePool } from "../inference/inference_pool.ts";
import {
  cosineSimilarity,
  embedWords,
  type InferenceOptions,
  type Prediction,
  predictWords,
} from "../inference/pipeline.ts";
import {
  type ClassificationScores,
  classificationScores,
  type EntityScores,
  entityScores,
  type SimilarityScores,
  similarityScores,
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
  /** Pair tasks: Spearman and Pearson correlations of the embeddings' cosine with the gold scores. */
  readonly similarity?: SimilarityScores;
  /**
   * With a pretrained backbone: how many of the corpus's sentences (both of
   * each pair) have more pieces than it reads, and were cut there.
   */
  readonly cutAtMaxPieces?: number;
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
  for (const group of scoringPlan(bundle, corpora)) {
    const words = group.sentences.map((s) => s.words);
    Object.assign(
      out,
      scoreGroup(
        bundle,
        group,
        group.others.length > 0 ? predictWords(bundle, words, options) : [],
        group.pairs.map((p) => [
          embedWords(bundle, p.firsts, options),
          embedWords(bundle, p.seconds, options),
        ]),
      ),
    );
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
  for (const group of scoringPlan(pool.bundle, corpora)) {
    const words = group.sentences.map((s) => s.words);
    const predictions = group.others.length > 0 ? await pool.predictWords(words, options) : [];
    const embeddings: [Float32Array[], Float32Array[]][] = [];
    for (const p of group.pairs) {
      embeddings.push([
        await pool.embedWords(p.firsts, options),
        await pool.embedWords(p.seconds, options),
      ]);
    }
    Object.assign(out, scoreGroup(pool.bundle, group, predictions, embeddings));
  }
  return out;
}

/** Tasks scored on one sentence list: predicted ones, and pair tasks with their two halves. */
interface ScoringGroup {
  readonly sentences: readonly Sentence[];
  readonly others: readonly string[];
  readonly pairs: readonly {
    readonly task: string;
    readonly firsts: (readonly string[])[];
    readonly seconds: (readonly string[])[];
  }[];
}

/** What to predict and embed: tasks sharing a sentence list are predicted once. */
function scoringPlan(bundle: ModelBundle, corpora: ScoreCorpora): ScoringGroup[] {
  return [...byCorpus(corpora)].map(([sentences, tasks]) => ({
    sentences,
    others: tasks.filter((t) => !isPairTask(bundle, t, sentences)),
    pairs: tasks.filter((t) => isPairTask(bundle, t, sentences)).map((task) => ({
      task,
      ...pairsOf(task, sentences),
    })),
  }));
}

/** Scores one group from its predictions and its pair tasks' embeddings (in `group.pairs` order). */
function scoreGroup(
  bundle: ModelBundle,
  group: ScoringGroup,
  predictions: readonly Prediction[],
  embeddings: readonly (readonly [Float32Array[], Float32Array[]])[],
): Record<string, TaskScores> {
  const out: Record<string, TaskScores> = {};
  for (const task of group.others) {
    out[task] = scoreTask(bundle, task, group.sentences, predictions);
  }
  group.pairs.forEach((p, i) => {
    out[p.task] = scorePairs(p.task, group.sentences, embeddings[i]![0], embeddings[i]![1]);
  });
  const tokenizer = bundle.tokenizer;
  if (tokenizer.pieces !== undefined) {
    const cut = (words: readonly string[]) =>
      tokenizer.piecesOf(words.slice(0, bundle.config.model.maxLength - 1)).ids.length >
        tokenizer.maxPieces;
    const count = (lists: readonly (readonly string[])[]) => lists.filter(cut).length;
    const sentences = count(group.sentences.map((s) => s.words));
    for (const task of group.others) out[task] = { ...out[task]!, cutAtMaxPieces: sentences };
    for (const p of group.pairs) {
      out[p.task] = { ...out[p.task]!, cutAtMaxPieces: count(p.firsts) + count(p.seconds) };
    }
  }
  return out;
}

/**
 * Scores a pair task: the cosine similarity of each pair's two embeddings
 * against the gold scores, by Spearman's rank correlation (and Pearson's).
 */
export function scorePairs(
  name: string,
  sentences: readonly Sentence[],
  firsts: readonly Float32Array[],
  seconds: readonly Float32Array[],
): TaskScores {
  const gold = sentences.map((s, i) => {
    const label = s.labels[name];
    if (!isPairLabel(label)) {
      throw new RangeError(`Cannot score task "${name}": example ${i} is not a sentence pair`);
    }
    return label.score;
  });
  const predicted = firsts.map((a, i) => cosineSimilarity(a, seconds[i]!));
  const similarity = similarityScores(gold, predicted);
  return { metric: "spearman", score: similarity.spearman, similarity };
}

/** The two word lists of each example of pair task `name` (in example order). */
export function pairsOf(
  name: string,
  sentences: readonly Sentence[],
): { firsts: (readonly string[])[]; seconds: (readonly string[])[] } {
  const firsts = sentences.map((s) => s.words);
  const seconds = sentences.map((s, i) => {
    const label = s.labels[name];
    if (!isPairLabel(label)) {
      throw new RangeError(`Cannot score task "${name}": example ${i} is not a sentence pair`);
    }
    return label.other;
  });
  return { firsts, seconds };
}

/**
 * Whether `name` is scored as a pair task: the model's pair task, or sentence
 * pairs the model has no task for (any model's embeddings can be scored on
 * similarity pairs, so a model trained without a similarity task too).
 */
function isPairTask(bundle: ModelBundle, name: string, sentences: readonly Sentence[]): boolean {
  const task = bundle.tasks.find((t) => t.name === name);
  if (task !== undefined) return task.kind === "pair";
  if (sentences.length > 0 && sentences.every((s) => isPairLabel(s.labels[name]))) return true;
  throw new RangeError(
    `Cannot score task "${name}": the model's tasks are ${
      bundle.tasks.map((t) => t.name).join(", ")
    }`,
  );
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
