/**
 * Scores a trained model on labelled corpora: entity P/R/F1 (conlleval) and
 * token accuracy on NER sentences; accuracy, macro-F1 and the confusion matrix
 * on sentiment sentences.
 * @module
 */
import type { ModelBundle } from "./checkpoint.ts";
import type { Sentence } from "./data.ts";
import {
  type ClassificationScores,
  classificationScores,
  type EntityScores,
  entityScores,
  type UnknownWordRecall,
  unknownWordRecall,
} from "./metrics.ts";
import { UNK_ID } from "./tokenizer.ts";
import type { InferencePool } from "./inference_pool.ts";
import { type InferenceOptions, type Prediction, predictWords } from "./pipeline.ts";

/** Scores per task; a task is absent when no corpus was given for it. */
export interface CorpusScores {
  readonly ner?: EntityScores;
  /** NER recall on entities with and without an out-of-vocabulary word. */
  readonly nerUnknownWords?: UnknownWordRecall;
  readonly sentiment?: ClassificationScores;
}

/** Corpora to score on. */
export interface ScoreCorpora {
  /** Sentences with gold `tags` (IOB2). */
  readonly ner?: readonly Sentence[];
  /** Sentences with a gold `sentiment`. */
  readonly sentiment?: readonly Sentence[];
}

/**
 * Predicts and scores. Words past the model's `maxLength` are predicted `O`,
 * so long sentences are scored whole, not silently cut.
 */
export function scoreCorpora(
  bundle: ModelBundle,
  corpora: ScoreCorpora,
  options: InferenceOptions = {},
): CorpusScores {
  return scorePredictions(bundle, corpora, {
    ...(corpora.ner !== undefined
      ? { ner: predictWords(bundle, corpora.ner.map((s) => s.words), options) }
      : {}),
    ...(corpora.sentiment !== undefined
      ? { sentiment: predictWords(bundle, corpora.sentiment.map((s) => s.words), options) }
      : {}),
  });
}

/** Like {@linkcode scoreCorpora}, predicting on an {@linkcode InferencePool}'s workers. */
export async function scoreCorporaParallel(
  pool: InferencePool,
  corpora: ScoreCorpora,
  options: InferenceOptions = {},
): Promise<CorpusScores> {
  return scorePredictions(pool.bundle, corpora, {
    ...(corpora.ner !== undefined
      ? { ner: await pool.predictWords(corpora.ner.map((s) => s.words), options) }
      : {}),
    ...(corpora.sentiment !== undefined
      ? { sentiment: await pool.predictWords(corpora.sentiment.map((s) => s.words), options) }
      : {}),
  });
}

function scorePredictions(
  bundle: ModelBundle,
  corpora: ScoreCorpora,
  predictions: { ner?: Prediction[]; sentiment?: Prediction[] },
): CorpusScores {
  const out: {
    ner?: EntityScores;
    nerUnknownWords?: UnknownWordRecall;
    sentiment?: ClassificationScores;
  } = {};
  if (corpora.ner !== undefined) {
    const gold = corpora.ner.map((s, i) => {
      if (s.tags === undefined) throw new RangeError(`Cannot score NER: sentence ${i} has no tags`);
      return s.tags;
    });
    const predicted = predictions.ner!.map((p) => p.tags);
    out.ner = entityScores(gold, predicted);
    const unknown = corpora.ner.map((s) =>
      s.words.map((w) => bundle.tokenizer.tokenId(w) === UNK_ID)
    );
    out.nerUnknownWords = unknownWordRecall(gold, predicted, unknown);
  }
  if (corpora.sentiment !== undefined) {
    const gold = corpora.sentiment.map((s, i) => {
      if (s.sentiment === undefined) {
        throw new RangeError(`Cannot score sentiment: sentence ${i} has no label`);
      }
      return s.sentiment;
    });
    const predicted = predictions.sentiment!.map((p) => p.sentiment.label);
    out.sentiment = classificationScores(gold, predicted, bundle.labels.sentimentLabels);
  }
  return out;
}
