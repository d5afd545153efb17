/**
 * The feature cache: a pretrained backbone's frozen stages run once per
 * sentence, before training, instead of in every step of every epoch. Each
 * encoded sentence gets the input of the first stage that trains (its
 * `features`), and batches of such sentences enter the backbone there. With
 * the whole backbone frozen that is its top layer's output, pooled: each
 * token's state and the sentence mean, so a step costs what the task encoder
 * and heads cost. Frozen stages run without dropout, cached or not, so a
 * cached batch trains exactly as the same batch computed in full would
 * (tested in `tests/backbone_training_test.ts`).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  batchToTensors,
  bucketBatches,
  disposeBatch,
  type EncodedSentence,
  padBatch,
  type SentenceFeatures,
} from "../data/encoding.ts";
import type { MultiTaskModel } from "../model/model.ts";
import { taskPool } from "../data/encoding.ts";

/** Options of {@linkcode cacheBackboneFeatures}. */
export interface FeatureCacheOptions {
  /** Sentences per forward pass. @default 64 */
  readonly batchSize?: number;
  /** Called after each batch with the sentences done and the total. */
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * The sentences (and the second sentences of pairs) with the backbone's
 * output at `stage` attached as `features` (see `SentenceFeatures`); at the
 * pooler stage, token states are kept only for sentences whose tasks run the
 * task encoder. Stage 0 returns the sentences as they are, without features.
 * Computed in batches of similar piece counts, without dropout.
 */
export function cacheBackboneFeatures(
  model: MultiTaskModel,
  sentences: readonly EncodedSentence[],
  stage: number,
  options: FeatureCacheOptions = {},
): EncodedSentence[] {
  if (model.backbone === undefined) {
    throw new TypeError("Cannot cache backbone features: the model has no backbone");
  }
  if (stage === 0) return sentences.map(withoutFeatures);
  // Every sentence the backbone reads: the examples, then the pairs' second sentences.
  const units: { sentence: EncodedSentence; words: boolean }[] = [];
  for (const s of sentences) {
    units.push({ sentence: s, words: model.readsTokens(taskPool(s).split("+")) });
  }
  const seconds = sentences.map((s) =>
    s.pair === undefined ? -1 : units.push({
      sentence: s.pair.other,
      words: false,
    }) - 1
  );
  const features = new Array<SentenceFeatures>(units.length);
  const order = [...units.keys()];
  const pieceCounts = units.map((u) => u.sentence.pieces?.ids.length ?? 0);
  const batchSize = options.batchSize ?? 64;
  let done = 0;
  for (const batch of bucketBatches(order, pieceCounts, batchSize, Number.MAX_SAFE_INTEGER)) {
    const padded = padBatch(batch.map((i) => bareSentence(units[i]!.sentence)));
    const tensors = batchToTensors(padded);
    try {
      const advanced = model.advanceBackbone(tensors.backbone!, stage);
      const read = (t: tf.Tensor | undefined) => t?.dataSync() as Float32Array | undefined;
      const mean = "mean" in advanced ? read(advanced.mean) : undefined;
      const words = "mean" in advanced ? read(advanced.wordStates) : undefined;
      const states = "states" in advanced ? read(advanced.states) : undefined;
      const width = "mean" in advanced
        ? advanced.mean.shape[1]
        : "states" in advanced
        ? advanced.states.shape[2]
        : 0;
      const pieces = padded.backbone!.pieces ?? 0;
      batch.forEach((unit, b) => {
        const { sentence, words: withWords } = units[unit]!;
        const tokens = sentence.tokenIds.length;
        const count = sentence.pieces!.ids.length;
        features[unit] = mean !== undefined
          ? {
            stage,
            width,
            mean: mean.slice(b * width, (b + 1) * width),
            ...(withWords && words !== undefined
              ? {
                wordStates: words.slice(
                  b * padded.seqLen * width,
                  (b * padded.seqLen + tokens) * width,
                ),
              }
              : {}),
          }
          : {
            stage,
            width,
            states: states!.slice(b * pieces * width, (b * pieces + count) * width),
          };
      });
      const given = new Set<unknown>(Object.values(tensors.backbone!));
      tf.dispose(Object.values(advanced).filter((t) => t instanceof tf.Tensor && !given.has(t)));
    } finally {
      disposeBatch(tensors);
    }
    done += batch.length;
    options.onProgress?.(done, units.length);
  }
  return sentences.map((s, i) => ({
    ...s,
    features: features[i]!,
    ...(s.pair !== undefined
      ? { pair: { ...s.pair, other: { ...s.pair.other, features: features[seconds[i]!]! } } }
      : {}),
  }));
}

/** A sentence as the backbone reads it: no labels, no pair, no cached features. */
function bareSentence(s: EncodedSentence): EncodedSentence {
  const { pair: _pair, features: _features, ...rest } = s;
  return { ...rest, tokenLabels: {}, sentenceLabels: {} };
}

/** A sentence without cached features (and its pair's second sentence without). */
function withoutFeatures(s: EncodedSentence): EncodedSentence {
  const { features: _features, ...rest } = s;
  if (rest.pair === undefined) return rest;
  const { features: _other, ...other } = rest.pair.other;
  return { ...rest, pair: { ...rest.pair, other } };
}
