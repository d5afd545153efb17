/**
 * Evaluation of a model on encoded sentences: losses and per-task accuracy,
 * computed in batches without dropout.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { batchToTensors, disposeBatch, type EncodedSentence, padBatch } from "./encoding.ts";
import { maskedCrossEntropy } from "./losses.ts";
import type { MultiTaskModel } from "./model.ts";
import { accuracyCounts } from "./trainer.ts";

/** Figures of one evaluation. Accuracies are NaN when a task has no labels. */
export interface EvalMetrics {
  /** Mean NER loss per labelled token. */
  readonly nerLoss: number;
  /** Mean sentiment loss per labelled sentence. */
  readonly sentimentLoss: number;
  /** Token-level NER accuracy. */
  readonly nerAccuracy: number;
  readonly sentimentAccuracy: number;
  readonly nerTokens: number;
  readonly sentences: number;
}

/**
 * Evaluates `model` on `data`.
 * @param batchSize sentences per forward pass @default 64
 */
export function evaluate(
  model: MultiTaskModel,
  data: readonly EncodedSentence[],
  batchSize = 64,
): EvalMetrics {
  let nerLoss = 0, sentimentLoss = 0, nerCorrect = 0, nerTotal = 0, sentCorrect = 0, sentTotal = 0;
  for (let start = 0; start < data.length; start += batchSize) {
    const batch = batchToTensors(padBatch(data.slice(start, start + batchSize)));
    const summary = tf.tidy(() => {
      const out = model.forward(batch);
      const counts = accuracyCounts(out, batch);
      const nl = maskedCrossEntropy(out.nerLogits, batch.nerLabels).mul(counts[1]!);
      const sl = maskedCrossEntropy(out.sentimentLogits, batch.sentimentLabels).mul(counts[3]!);
      return tf.stack([nl, sl, ...counts]);
    });
    const [nl, sl, nc, nt, sc, st] = Array.from(summary.dataSync());
    summary.dispose();
    disposeBatch(batch);
    nerLoss += nl!;
    sentimentLoss += sl!;
    nerCorrect += nc!;
    nerTotal += nt!;
    sentCorrect += sc!;
    sentTotal += st!;
  }
  return {
    nerLoss: nerLoss / nerTotal,
    sentimentLoss: sentimentLoss / sentTotal,
    nerAccuracy: nerCorrect / nerTotal,
    sentimentAccuracy: sentCorrect / sentTotal,
    nerTokens: nerTotal,
    sentences: sentTotal,
  };
}
