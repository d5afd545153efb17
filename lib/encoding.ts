/**
 * Sentences to model inputs: token ids, case ids, word alignment and labels,
 * then padded batches with an attention mask. Pure functions except
 * {@linkcode batchToTensors}, which creates tensors the caller owns.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Sentence } from "./data.ts";
import type { TagTransitions } from "./decoding.ts";
import { mulberry32 } from "./random.ts";
import {
  CaseFeature,
  caseFeature,
  CLS_ID,
  PAD_ID,
  SPECIAL_TOKENS,
  UNK_ID,
  type WordTokenizer,
} from "./tokenizer.ts";

/** Label id meaning "no label here" (padding, `[CLS]`, unlabelled task). */
export const IGNORE_INDEX = -1;

/** Label vocabularies of the two heads. */
export interface LabelMaps {
  readonly nerTags: readonly string[];
  readonly sentimentLabels: readonly string[];
  /**
   * Tag-bigram log-probabilities counted on the training tags (set by
   * training); `transitions` decoding adds them to the model's tag scores.
   */
  readonly tagTransitions?: TagTransitions;
}

/** One sentence as ids, `[CLS]` first. Arrays have equal length. */
export interface EncodedSentence {
  readonly tokenIds: Int32Array;
  readonly caseIds: Int32Array;
  /** Prefix and suffix ids per token, interleaved (`2 × length`); 0 for `[CLS]`. */
  readonly affixIds: Int32Array;
  /**
   * Character ids per token (`charWidth × length`, all 0 for `[CLS]`), when the
   * tokenizer has character features.
   */
  readonly charIds?: Int32Array;
  /** Index of the word each token came from; -1 for `[CLS]`. */
  readonly wordIds: Int32Array;
  /** Tag id per token, or {@linkcode IGNORE_INDEX}. */
  readonly nerLabels: Int32Array;
  /** Sentiment id, or {@linkcode IGNORE_INDEX}. */
  readonly sentiment: number;
  /** Whether words were dropped to fit `maxLength`. */
  readonly truncated: boolean;
}

/**
 * Encodes one sentence, truncating to `maxLength` tokens (`[CLS]` included).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSentence } from "./encoding.ts";
 * import { WordTokenizer } from "./tokenizer.ts";
 * const tok = WordTokenizer.fit([["Paris", "rocks"]], { lowercase: true, minFrequency: 1, maxVocabSize: 99, affixBuckets: 0 });
 * const e = encodeSentence({ words: ["Paris", "rocks"], tags: ["B-LOC", "O"] }, tok,
 *   { nerTags: ["O", "B-LOC"], sentimentLabels: ["neg", "pos"] }, 8);
 * assert.deepEqual([...e.nerLabels], [-1, 1, 0]);
 * assert.equal(e.sentiment, -1);
 * ```
 */
export function encodeSentence(
  sentence: Sentence,
  tokenizer: WordTokenizer,
  labels: LabelMaps,
  maxLength: number,
): EncodedSentence {
  const words = sentence.words.slice(0, maxLength - 1);
  const length = words.length + 1;
  const tokenIds = new Int32Array(length);
  const caseIds = new Int32Array(length);
  const affixCount = tokenizer.affixCount;
  const affixIds = new Int32Array(affixCount * length);
  const charWidth = tokenizer.charWidth;
  const charIds = charWidth > 0 ? new Int32Array(charWidth * length) : undefined;
  const wordIds = new Int32Array(length);
  const nerLabels = new Int32Array(length).fill(IGNORE_INDEX);
  tokenIds[0] = CLS_ID;
  caseIds[0] = CaseFeature.SPECIAL;
  wordIds[0] = -1;
  words.forEach((word, i) => {
    tokenIds[i + 1] = tokenizer.tokenId(word);
    caseIds[i + 1] = caseFeature(word);
    if (tokenizer.affixBuckets > 0) affixIds.set(tokenizer.affixIds(word), affixCount * (i + 1));
    charIds?.set(tokenizer.charIdsOf(word), charWidth * (i + 1));
    wordIds[i + 1] = i;
    const tag = sentence.tags?.[i];
    if (tag !== undefined) nerLabels[i + 1] = labelId(labels.nerTags, tag, "NER tag");
  });
  const sentiment = sentence.sentiment === undefined
    ? IGNORE_INDEX
    : labelId(labels.sentimentLabels, sentence.sentiment, "sentiment");
  return {
    tokenIds,
    caseIds,
    affixIds,
    ...(charIds === undefined ? {} : { charIds }),
    wordIds,
    nerLabels,
    sentiment,
    truncated: words.length < sentence.words.length,
  };
}

/** A padded batch as flat row-major arrays: `[batch, seqLen]`. */
export interface PaddedBatch {
  readonly batch: number;
  readonly seqLen: number;
  readonly tokenIds: Int32Array;
  readonly caseIds: Int32Array;
  /** `[batch, seqLen, affixCount]` prefix, suffix (and shape) ids. */
  readonly affixIds: Int32Array;
  /** Affix feature ids per token. @default 2 */
  readonly affixCount?: number;
  /** Character slots per token (absent or 0: no character features). */
  readonly charWidth?: number;
  /** `[batch, seqLen, charWidth]` character ids, when `charWidth > 0`. */
  readonly charIds?: Int32Array;
  /** 1 at real tokens, 0 at padding. */
  readonly mask: Float32Array;
  readonly nerLabels: Int32Array;
  /** `[batch]` */
  readonly sentimentLabels: Int32Array;
}

/**
 * Pads encoded sentences to the longest one in the batch.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { padBatch } from "./encoding.ts";
 * const s = (n: number) => ({ tokenIds: new Int32Array(n).fill(5), caseIds: new Int32Array(n).fill(1),
 *   affixIds: new Int32Array(2 * n), wordIds: new Int32Array(n), nerLabels: new Int32Array(n), sentiment: 1, truncated: false });
 * const b = padBatch([s(3), s(1)]);
 * assert.equal(b.seqLen, 3);
 * assert.deepEqual([...b.mask], [1, 1, 1, 1, 0, 0]);
 * assert.deepEqual([...b.tokenIds], [5, 5, 5, 5, 0, 0]);
 * assert.deepEqual([...b.nerLabels], [0, 0, 0, 0, -1, -1]);
 * ```
 */
export function padBatch(sentences: readonly EncodedSentence[]): PaddedBatch {
  const batch = sentences.length;
  const seqLen = Math.max(1, ...sentences.map((s) => s.tokenIds.length));
  const tokenIds = new Int32Array(batch * seqLen).fill(PAD_ID);
  const caseIds = new Int32Array(batch * seqLen).fill(CaseFeature.PAD);
  const affixCount = sentences[0] === undefined
    ? 2
    : sentences[0].affixIds.length / sentences[0].tokenIds.length;
  const affixIds = new Int32Array(affixCount * batch * seqLen);
  const charWidth = sentences[0]?.charIds === undefined
    ? 0
    : sentences[0].charIds.length / sentences[0].tokenIds.length;
  const charIds = new Int32Array(charWidth * batch * seqLen);
  const mask = new Float32Array(batch * seqLen);
  const nerLabels = new Int32Array(batch * seqLen).fill(IGNORE_INDEX);
  const sentimentLabels = new Int32Array(batch);
  sentences.forEach((s, b) => {
    const at = b * seqLen;
    tokenIds.set(s.tokenIds, at);
    caseIds.set(s.caseIds, at);
    affixIds.set(s.affixIds, affixCount * at);
    if (charWidth > 0) {
      if (s.charIds === undefined || s.charIds.length !== charWidth * s.tokenIds.length) {
        throw new RangeError(
          `Cannot pad batch: sentence ${b} lacks ${charWidth} character ids per token`,
        );
      }
      charIds.set(s.charIds, charWidth * at);
    }
    nerLabels.set(s.nerLabels, at);
    mask.fill(1, at, at + s.tokenIds.length);
    sentimentLabels[b] = s.sentiment;
  });
  return {
    batch,
    seqLen,
    tokenIds,
    caseIds,
    affixIds,
    ...(affixCount !== 2 ? { affixCount } : {}),
    ...(charWidth > 0 ? { charWidth, charIds } : {}),
    mask,
    nerLabels,
    sentimentLabels,
  };
}

/** Model inputs as tensors. The caller owns them (see {@linkcode disposeBatch}). */
export interface BatchTensors {
  /** `[batch, seqLen]` int32 */
  readonly tokenIds: tf.Tensor2D;
  /** `[batch, seqLen]` int32 */
  readonly caseIds: tf.Tensor2D;
  /** `[batch, seqLen, affixCount]` int32 prefix, suffix (and shape) ids */
  readonly affixIds: tf.Tensor3D;
  /** `[batch, seqLen, charWidth]` int32 character ids, when the batch has them */
  readonly charIds?: tf.Tensor3D;
  /** `[batch, seqLen]` float32, 1 at real tokens */
  readonly mask: tf.Tensor2D;
  /** `[batch, seqLen]` int32, {@linkcode IGNORE_INDEX} where unlabelled */
  readonly nerLabels: tf.Tensor2D;
  /** `[batch]` int32, {@linkcode IGNORE_INDEX} where unlabelled */
  readonly sentimentLabels: tf.Tensor1D;
}

/** Creates tensors for a padded batch; dispose them with {@linkcode disposeBatch}. */
export function batchToTensors(b: PaddedBatch): BatchTensors {
  const shape: [number, number] = [b.batch, b.seqLen];
  return {
    tokenIds: tf.tensor2d(b.tokenIds, shape, "int32"),
    caseIds: tf.tensor2d(b.caseIds, shape, "int32"),
    affixIds: tf.tensor3d(b.affixIds, [b.batch, b.seqLen, b.affixCount ?? 2], "int32"),
    ...(b.charWidth && b.charIds
      ? { charIds: tf.tensor3d(b.charIds, [b.batch, b.seqLen, b.charWidth], "int32") }
      : {}),
    mask: tf.tensor2d(b.mask, shape, "float32"),
    nerLabels: tf.tensor2d(b.nerLabels, shape, "int32"),
    sentimentLabels: tf.tensor1d(b.sentimentLabels, "int32"),
  };
}

/** Disposes every tensor of a batch. */
export function disposeBatch(b: BatchTensors): void {
  tf.dispose([b.tokenIds, b.caseIds, b.affixIds, b.mask, b.nerLabels, b.sentimentLabels]);
  if (b.charIds !== undefined) b.charIds.dispose();
}

/**
 * Groups sentence indices into batches of similar length, so little padding is
 * computed: `order` is split into chunks of `batchSize * bucketFactor`, each chunk
 * sorted by length and cut into batches; the batches are then returned in an
 * order given by `shuffleBatches` (identity if omitted).
 */
export function bucketBatches(
  order: readonly number[],
  lengths: readonly number[],
  batchSize: number,
  bucketFactor = 8,
): number[][] {
  const batches: number[][] = [];
  const chunk = batchSize * bucketFactor;
  for (let start = 0; start < order.length; start += chunk) {
    const sorted = order.slice(start, start + chunk).sort((a, b) =>
      lengths[a]! - lengths[b]! || a - b
    );
    for (let i = 0; i < sorted.length; i += batchSize) batches.push(sorted.slice(i, i + batchSize));
  }
  return batches;
}

function labelId(labels: readonly string[], label: string, what: string): number {
  const id = labels.indexOf(label);
  if (id < 0) {
    throw new RangeError(`Cannot encode ${what} "${label}": not one of ${labels.join(", ")}`);
  }
  return id;
}

/**
 * Word dropout: a copy of `batch` in which each real token other than the
 * special ones (`[PAD]`, `[UNK]`, `[CLS]`, `[MASK]`) has its word id replaced by
 * `[UNK]` with probability `rate`; case and affix ids and labels are kept.
 * Deterministic for a given `seed`. Returns `batch` itself when `rate` is 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { padBatch, wordDropout } from "./encoding.ts";
 * const s = { tokenIds: Int32Array.from([2, 7, 8, 9]), caseIds: new Int32Array(4),
 *   affixIds: new Int32Array(8), wordIds: new Int32Array(4), nerLabels: new Int32Array(4),
 *   sentiment: 0, truncated: false };
 * assert.deepEqual([...wordDropout(padBatch([s]), 1, 7).tokenIds], [2, 1, 1, 1]);
 * ```
 */
export function wordDropout(batch: PaddedBatch, rate: number, seed: number): PaddedBatch {
  if (!(rate >= 0 && rate <= 1)) {
    throw new RangeError(`Word dropout rate must be in [0, 1], got ${rate}`);
  }
  if (rate === 0) return batch;
  const random = mulberry32(seed);
  const tokenIds = batch.tokenIds.slice();
  for (let i = 0; i < tokenIds.length; i++) {
    if (tokenIds[i]! >= SPECIAL_TOKENS.length && random() < rate) tokenIds[i] = UNK_ID;
  }
  return { ...batch, tokenIds };
}

/**
 * The distinct ids of `ids`, sorted: the rows of an embedding table a batch reads.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { distinctRows, localIds } from "./encoding.ts";
 * const rows = distinctRows(Int32Array.from([7, 2, 7, 0]));
 * assert.deepEqual([...rows], [0, 2, 7]);
 * assert.deepEqual([...localIds(Int32Array.from([7, 2, 7, 0]), rows)], [2, 1, 2, 0]);
 * ```
 */
export function distinctRows(ids: ArrayLike<number>): Int32Array {
  return Int32Array.from(new Set(Array.from(ids))).sort();
}

/**
 * Each id's position in `rows` (sorted, distinct; see {@linkcode distinctRows}).
 * @throws {RangeError} when an id is not in `rows`
 */
export function localIds(ids: ArrayLike<number>, rows: Int32Array): Int32Array {
  const position = new Map<number, number>();
  rows.forEach((row, i) => position.set(row, i));
  return Int32Array.from(ids, (id) => {
    const at = position.get(id);
    if (at === undefined) throw new RangeError(`Cannot remap id ${id}: not among the batch's rows`);
    return at;
  });
}
