/**
 * Inference on raw text: split into words, encode, run the model, and
 * post-process (tag decoding into entity spans, softmax probabilities, pooled
 * sentence embeddings). Like a transformers.js pipeline, over a loaded bundle.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ModelBundle } from "./checkpoint.ts";
import {
  batchToTensors,
  disposeBatch,
  type EncodedSentence,
  encodeSentence,
  padBatch,
  type PaddedBatch,
} from "./encoding.ts";
import { argmaxTags, type TagDecoding, viterbiTags } from "./decoding.ts";
import { tagsToSpans } from "./labels.ts";
import { splitWords } from "./tokenizer.ts";

/** An entity found in a sentence. */
export interface Entity {
  readonly type: string;
  /** The entity's words joined by spaces. */
  readonly text: string;
  /** First word index. */
  readonly start: number;
  /** One past the last word index. */
  readonly end: number;
  /** Mean probability of the predicted tags over the entity's words. */
  readonly score: number;
}

/** The model's reading of one sentence. */
export interface Prediction {
  readonly text: string;
  readonly words: readonly string[];
  /** One IOB2 tag per word (words past `maxLength` get `O`). */
  readonly tags: readonly string[];
  readonly entities: readonly Entity[];
  readonly sentiment: { readonly label: string; readonly probabilities: Record<string, number> };
  /** Whether the sentence was longer than the model's `maxLength`. */
  readonly truncated: boolean;
}

/** Options of {@linkcode predict} and {@linkcode embed}. */
export interface InferenceOptions {
  /** Sentences per forward pass. @default 64 */
  readonly batchSize?: number;
  /**
   * NER tag decoding (see {@linkcode TagDecoding}): `transitions` (the model's
   * training tag-bigram scores plus the IOB2 constraint), `constrained` (the
   * constraint only) or `argmax`. @default "transitions"
   */
  readonly decoding?: TagDecoding;
  /**
   * λ of `transitions` decoding's tag-prior division (see
   * `TagTransitions`); default: the model's own (set by training).
   */
  readonly tagPriorWeight?: number;
}

/**
 * Tags entities and classifies sentiment of each text.
 *
 * @param bundle a loaded model
 * @param texts raw sentences
 */
export function predict(
  bundle: ModelBundle,
  texts: readonly string[],
  options: InferenceOptions = {},
): Prediction[] {
  return predictWords(bundle, texts.map((t) => splitWords(t)), options);
}

/**
 * Like {@linkcode predict}, for sentences already split into words (e.g. CoNLL
 * tokens); `text` of each result is the words joined by spaces.
 */
export function predictWords(
  bundle: ModelBundle,
  sentences: readonly (readonly string[])[],
  options: InferenceOptions = {},
): Prediction[] {
  const batchSize = options.batchSize ?? 64;
  const results: Prediction[] = [];
  for (let start = 0; start < sentences.length; start += batchSize) {
    const wordLists = sentences.slice(start, start + batchSize);
    const encoded = encodeWordLists(bundle, wordLists);
    const padded = padBatch(encoded);
    results.push(
      ...decodeBatch(
        bundle,
        wordLists,
        encoded,
        padded,
        batchProbabilities(bundle, padded),
        options,
      ),
    );
  }
  return results;
}

/** Softmax outputs of one padded batch. */
export interface BatchProbabilities {
  /** `[batch, seqLen, nerTags]`, row-major. */
  readonly tagProbs: Float32Array;
  /** `[batch, sentimentLabels]`. */
  readonly sentimentProbs: Float32Array;
}

/** Encodes word lists with the bundle's tokenizer (for inference: no labels). */
export function encodeWordLists(
  bundle: ModelBundle,
  wordLists: readonly (readonly string[])[],
): EncodedSentence[] {
  const maxLength = bundle.config.model.maxLength;
  return wordLists.map((words) =>
    encodeSentence({ words }, bundle.tokenizer, bundle.labels, maxLength)
  );
}

/** Runs the model on one padded batch on this thread. */
export function batchProbabilities(bundle: ModelBundle, padded: PaddedBatch): BatchProbabilities {
  const batch = batchToTensors(padded);
  const [tagProbs, sentProbs] = tf.tidy(() => {
    const out = bundle.model.forward(batch);
    return [tf.softmax(out.nerLogits), tf.softmax(out.sentimentLogits)];
  });
  disposeBatch(batch);
  const result = {
    tagProbs: tagProbs!.dataSync() as Float32Array,
    sentimentProbs: sentProbs!.dataSync() as Float32Array,
  };
  tf.dispose([tagProbs!, sentProbs!]);
  return result;
}

/**
 * Turns one batch's probabilities into predictions: tag decoding (see
 * {@linkcode InferenceOptions.decoding}), entity spans, sentiment label.
 */
export function decodeBatch(
  bundle: ModelBundle,
  wordLists: readonly (readonly string[])[],
  encoded: readonly EncodedSentence[],
  padded: PaddedBatch,
  probs: BatchProbabilities,
  options: InferenceOptions = {},
): Prediction[] {
  const decoding = options.decoding ?? "transitions";
  const { labels } = bundle;
  const tagValues = probs.tagProbs;
  const sentValues = probs.sentimentProbs;
  const numTags = labels.nerTags.length;
  const numLabels = labels.sentimentLabels.length;
  return wordLists.map((words, b) => {
    // positions 1..n after [CLS]; words past maxLength are tagged O
    const n = Math.min(words.length, encoded[b]!.tokenIds.length - 1, padded.seqLen - 1);
    const rows = tagValues.subarray(
      (b * padded.seqLen + 1) * numTags,
      (b * padded.seqLen + 1 + n) * numTags,
    );
    const best = decoding === "argmax" ? argmaxTags(rows, n, numTags) : viterbiTags(
      rows,
      n,
      labels.nerTags,
      decoding !== "transitions" || labels.tagTransitions === undefined
        ? undefined
        : options.tagPriorWeight === undefined
        ? labels.tagTransitions
        : { ...labels.tagTransitions, priorWeight: options.tagPriorWeight },
    );
    const tags: string[] = [];
    const confidence: number[] = [];
    for (let w = 0; w < words.length; w++) {
      if (w >= n) {
        tags.push("O");
        confidence.push(1);
      } else {
        tags.push(labels.nerTags[best[w]!]!);
        confidence.push(rows[w * numTags + best[w]!]!);
      }
    }
    const probabilities: Record<string, number> = {};
    let bestLabel = 0;
    for (let c = 0; c < numLabels; c++) {
      probabilities[labels.sentimentLabels[c]!] = sentValues[b * numLabels + c]!;
      if (sentValues[b * numLabels + c]! > sentValues[b * numLabels + bestLabel]!) bestLabel = c;
    }
    return {
      text: words.join(" "),
      words,
      tags,
      entities: tagsToSpans(tags).map(({ type, start, end }) => ({
        type,
        start,
        end,
        text: words.slice(start, end).join(" "),
        score: confidence.slice(start, end).reduce((a, c) => a + c, 0) / (end - start),
      })),
      sentiment: { label: labels.sentimentLabels[bestLabel]!, probabilities },
      truncated: encoded[b]!.truncated,
    };
  });
}

/**
 * Fixed-length sentence embeddings (the model's pooling; L2-normalised on request).
 * @returns one `hiddenSize`-long vector per text
 */
export function embed(
  bundle: ModelBundle,
  texts: readonly string[],
  options: InferenceOptions & { readonly normalize?: boolean } = {},
): number[][] {
  const batchSize = options.batchSize ?? 64;
  const out: number[][] = [];
  for (let start = 0; start < texts.length; start += batchSize) {
    const encoded = texts.slice(start, start + batchSize).map((t) =>
      encodeSentence(
        { words: splitWords(t) },
        bundle.tokenizer,
        bundle.labels,
        bundle.config.model.maxLength,
      )
    );
    const batch = batchToTensors(padBatch(encoded));
    const vectors = bundle.model.embed(batch, { normalize: options.normalize ?? false });
    disposeBatch(batch);
    out.push(...(vectors.arraySync() as number[][]));
    vectors.dispose();
  }
  return out;
}

/**
 * Cosine similarity of two vectors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cosineSimilarity } from "./pipeline.ts";
 * assert.equal(cosineSimilarity([1, 0], [0, 2]), 0);
 * assert.equal(cosineSimilarity([1, 1], [2, 2]), 1);
 * ```
 */
export function cosineSimilarity(a: readonly number[], b: readonly number[]): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! ** 2;
    nb += b[i]! ** 2;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
