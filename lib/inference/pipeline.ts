/**
 * Inference on raw text: split into words, encode, run the model, and
 * post-process per task (tag decoding into spans for chunk-tag tasks, softmax
 * probabilities for sentence tasks, pooled sentence embeddings). Like a
 * transformers.js pipeline, over a loaded bundle.
 * @module
 */
import { isChunkTagSet } from "../core/tasks.ts";
import {
  type EncodedSentence,
  encodeSentence,
  padBatch,
  type PaddedBatch,
} from "../data/encoding.ts";
import { tagsToSpans } from "../data/labels.ts";
import { splitWords } from "../data/tokenizer.ts";
import type { ModelBundle, TrainedTask } from "../model/checkpoint.ts";
import { embedPadded, taskProbabilities } from "../model/forward.ts";
import { TokenClassifier } from "../model/heads.ts";
import { argmaxTags, type TagDecoding, type TagTransitions, viterbiTags } from "./decoding.ts";

/** A span found by a chunk-tag task (an entity, for NER). */
export interface Entity {
  readonly type: string;
  /** The span's words joined by spaces. */
  readonly text: string;
  /** First word index. */
  readonly start: number;
  /** One past the last word index. */
  readonly end: number;
  /** Mean probability of the predicted tags over the span's words. */
  readonly score: number;
}

/** A sentence task's answer. */
export interface LabelPrediction {
  readonly label: string;
  /** The probability of every label. */
  readonly probabilities: Readonly<Record<string, number>>;
}

/** The model's reading of one sentence, per task. */
export interface Prediction {
  readonly text: string;
  readonly words: readonly string[];
  /** Token tasks: one label per word (words past `maxLength` get `O`, or the first label). */
  readonly tags: Readonly<Record<string, readonly string[]>>;
  /** Chunk-tag token tasks (IOB labels): the spans of the tags. */
  readonly entities: Readonly<Record<string, readonly Entity[]>>;
  /** Sentence tasks: the label and the probabilities. */
  readonly labels: Readonly<Record<string, LabelPrediction>>;
  /** Whether the sentence was longer than the model's `maxLength`. */
  readonly truncated: boolean;
}

/** Options of {@linkcode predict} and {@linkcode embed}. */
export interface InferenceOptions {
  /** Sentences per forward pass. @default 64 */
  readonly batchSize?: number;
  /**
   * Tag decoding of chunk-tag tasks (see {@linkcode TagDecoding}):
   * `transitions` (the training tag-bigram scores plus the IOB2 constraint),
   * `constrained` (the constraint only) or `argmax`. Other token tasks are
   * decoded by argmax. @default "transitions"
   */
  readonly decoding?: TagDecoding;
  /**
   * λ of `transitions` decoding's tag-prior division (see `TagTransitions`);
   * default: each task's own (set by training).
   */
  readonly tagPriorWeight?: number;
}

/**
 * Runs every task of the model on each text.
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
  return inBatches(sentences, options.batchSize, (wordLists) => {
    const encoded = encodeWordLists(bundle, wordLists);
    const padded = padBatch(encoded);
    return decodeBatch(
      bundle,
      wordLists,
      encoded,
      padded,
      taskProbabilities(bundle.model, padded),
      options,
    );
  });
}

/** Applies `run` to consecutive batches of `items` and concatenates the results. */
export function inBatches<T, R>(
  items: readonly T[],
  batchSize = 64,
  run: (batch: readonly T[]) => R[],
): R[] {
  const out: R[] = [];
  for (let start = 0; start < items.length; start += batchSize) {
    out.push(...run(items.slice(start, start + batchSize)));
  }
  return out;
}

/**
 * Encodes word lists with the bundle's tokenizer (for inference: no labels),
 * with their cached backbone features when the bundle has a feature cache
 * (token states only `forTokens`: for the task encoder; embeddings need none).
 */
export function encodeWordLists(
  bundle: ModelBundle,
  wordLists: readonly (readonly string[])[],
  forTokens = true,
): EncodedSentence[] {
  const maxLength = bundle.config.model.maxLength;
  const encoded = wordLists.map((words) =>
    encodeSentence({ words, labels: {} }, bundle.tokenizer, bundle.tasks, maxLength)
  );
  return bundle.featureCache === undefined
    ? encoded
    : bundle.featureCache.attach(bundle.model, encoded, { withWords: () => forTokens });
}

/**
 * Turns one batch's probabilities (per task, see `taskProbabilities`) into
 * predictions: tag decoding, spans, sentence labels.
 */
export function decodeBatch(
  bundle: ModelBundle,
  wordLists: readonly (readonly string[])[],
  encoded: readonly EncodedSentence[],
  padded: PaddedBatch,
  probabilities: Readonly<Record<string, Float32Array>>,
  options: InferenceOptions = {},
): Prediction[] {
  // A CRF head's learned transitions, read once per batch.
  const learned = new Map<string, TagTransitions>();
  for (const task of bundle.tasks) {
    const head = bundle.model.heads.get(task.name);
    const crf = head instanceof TokenClassifier ? head.crfTransitions() : undefined;
    if (crf !== undefined) learned.set(task.name, crf);
  }
  return wordLists.map((words, b) => {
    // positions 1..n after [CLS]; words past maxLength get the task's "nothing" label
    const n = Math.min(words.length, encoded[b]!.tokenIds.length - 1, padded.seqLen - 1);
    const tags: Record<string, string[]> = {};
    const entities: Record<string, Entity[]> = {};
    const labels: Record<string, LabelPrediction> = {};
    for (const task of bundle.tasks) {
      const probs = probabilities[task.name];
      if (probs === undefined) continue;
      const numLabels = task.labels.length;
      if (task.kind === "token") {
        const rows = probs.subarray(
          (b * padded.seqLen + 1) * numLabels,
          (b * padded.seqLen + 1 + n) * numLabels,
        );
        const best = decodeTags(task, rows, n, options, learned.get(task.name));
        const fill = task.labels.includes("O") ? "O" : task.labels[0]!;
        const taskTags = words.map((_, w) => w < n ? task.labels[best[w]!]! : fill);
        const confidence = words.map((_, w) => w < n ? rows[w * numLabels + best[w]!]! : 1);
        tags[task.name] = taskTags;
        if (isChunkTagSet(task.labels)) {
          entities[task.name] = tagsToSpans(taskTags).map(({ type, start, end }) => ({
            type,
            start,
            end,
            text: words.slice(start, end).join(" "),
            score: confidence.slice(start, end).reduce((a, c) => a + c, 0) / (end - start),
          }));
        }
      } else if (task.kind === "sentence") {
        const row = probs.subarray(b * numLabels, (b + 1) * numLabels);
        let best = 0;
        for (let c = 1; c < numLabels; c++) if (row[c]! > row[best]!) best = c;
        labels[task.name] = {
          label: task.labels[best]!,
          probabilities: Object.fromEntries(task.labels.map((l, c) => [l, row[c]!])),
        };
      }
    }
    return {
      text: words.join(" "),
      words,
      tags,
      entities,
      labels,
      truncated: encoded[b]!.truncated,
    };
  });
}

/**
 * One sentence's tag ids for a token task: with a CRF, Viterbi over its learned
 * transitions (and, for chunk tags, the IOB2 constraint, which a trained CRF
 * rarely needs); else Viterbi for chunk tags and argmax otherwise.
 * Viterbi over log-softmax scores finds the same path as over the logits:
 * they differ by one constant per word.
 */
function decodeTags(
  task: TrainedTask,
  rows: Float32Array,
  n: number,
  options: InferenceOptions,
  crf?: TagTransitions,
): number[] {
  const decoding = options.decoding ?? "transitions";
  if (decoding === "argmax") return argmaxTags(rows, n, task.labels.length);
  if (crf !== undefined && decoding === "transitions") {
    return viterbiTags(rows, n, task.labels, crf);
  }
  if (!isChunkTagSet(task.labels)) return argmaxTags(rows, n, task.labels.length);
  const transitions = decoding !== "transitions" || task.tagTransitions === undefined
    ? undefined
    : options.tagPriorWeight === undefined
    ? task.tagTransitions
    : { ...task.tagTransitions, priorWeight: options.tagPriorWeight };
  return viterbiTags(rows, n, task.labels, transitions);
}

/**
 * Fixed-length sentence embeddings (the model's pooling; L2-normalised on request).
 * @returns one vector per text, `model.embeddingSize` long
 */
export function embed(
  bundle: ModelBundle,
  texts: readonly string[],
  options: InferenceOptions & { readonly normalize?: boolean } = {},
): Float32Array[] {
  return embedWords(bundle, texts.map(splitWords), options);
}

/** Like {@linkcode embed}, for sentences already split into words. */
export function embedWords(
  bundle: ModelBundle,
  sentences: readonly (readonly string[])[],
  options: InferenceOptions & { readonly normalize?: boolean } = {},
): Float32Array[] {
  const hidden = bundle.model.embeddingSize;
  return inBatches(sentences, options.batchSize, (batch) => {
    const padded = padBatch(encodeWordLists(bundle, batch, bundle.model.backbone === undefined));
    const values = embedPadded(bundle.model, padded, options.normalize ?? false);
    return batch.map((_, i) => values.slice(i * hidden, (i + 1) * hidden));
  });
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
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! ** 2;
    nb += b[i]! ** 2;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
