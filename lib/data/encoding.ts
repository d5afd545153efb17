/**
 * Sentences to model inputs: token ids, case ids, word alignment and labels,
 * then padded batches with an attention mask. Pure functions except
 * {@linkcode batchToTensors}, which creates tensors the caller owns.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { isPairLabel, type Sentence } from "./sentences.ts";
import type { TaskSpec } from "../core/tasks.ts";
import { mulberry32 } from "../core/random.ts";
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

/** What encoding needs of a task: its name, kind and label vocabulary. */
export type TaskLabels = Pick<TaskSpec, "name" | "kind" | "labels">;

/** One sentence as ids, `[CLS]` first. Arrays have equal length. */
export interface EncodedSentence {
  readonly tokenIds: Int32Array;
  readonly caseIds: Int32Array;
  /** Affix feature ids per token (`affixCount × length`); 0 for `[CLS]`. */
  readonly affixIds: Int32Array;
  /**
   * Character ids per token (`charWidth × length`, all 0 for `[CLS]`), when the
   * tokenizer has character features.
   */
  readonly charIds?: Int32Array;
  /** Index of the word each token came from; -1 for `[CLS]`. */
  readonly wordIds: Int32Array;
  /** Per labelled token task: the label id of each token ({@linkcode IGNORE_INDEX} at `[CLS]`). */
  readonly tokenLabels: Readonly<Record<string, Int32Array>>;
  /** Per labelled sentence task: the label id. */
  readonly sentenceLabels: Readonly<Record<string, number>>;
  /**
   * For an example of a pair task: the task, the encoded second sentence, and
   * the pair's score in [0, 1]. Such examples form pair batches (see {@linkcode padBatch}).
   */
  readonly pair?: {
    readonly task: string;
    readonly other: EncodedSentence;
    readonly score: number;
  };
  /** Whether words were dropped to fit `maxLength`. */
  readonly truncated: boolean;
  /**
   * With a pretrained backbone (the tokenizer has pieces): the sentence's
   * pieces, at most `maxPieces`, and each piece's token position (1 + its
   * word's index; words past the last piece kept get none).
   */
  readonly pieces?: {
    readonly ids: Int32Array;
    readonly positions: Int32Array;
    /** Whether pieces were dropped to fit `maxPieces`. */
    readonly truncated: boolean;
  };
  /** The backbone's output for this sentence at a stage: the feature cache (see {@linkcode SentenceFeatures}). */
  readonly features?: SentenceFeatures;
}

/**
 * What the frozen stages of a pretrained backbone give for one sentence, so
 * that they run once per sentence rather than once per epoch: the input of
 * stage `stage` (see `BackboneTensors`).
 */
export interface SentenceFeatures {
  readonly stage: number;
  /** Width of the vectors. */
  readonly width: number;
  /** Below the pooler stage: `[pieces, width]`, the stage's per-piece input. */
  readonly states?: Float32Array;
  /** At the pooler stage: `[tokens, width]` each token's state (absent when no token task reads them). */
  readonly wordStates?: Float32Array;
  /** At the pooler stage: `[width]` the mean over the pieces. */
  readonly mean?: Float32Array;
}

/** Tokens of an example: of its longer sentence, for a pair. */
export function exampleLength(e: EncodedSentence): number {
  return Math.max(e.tokenIds.length, e.pair?.other.tokenIds.length ?? 0);
}

/**
 * Encodes one sentence, truncating to `maxLength` tokens (`[CLS]` included).
 * Labels of the given tasks become ids; a task the sentence has no label for is
 * left out (it contributes nothing to that task's loss).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSentence } from "./encoding.ts";
 * import { WordTokenizer } from "./tokenizer.ts";
 * const tok = WordTokenizer.fit([["Paris", "rocks"]], { lowercase: true, minFrequency: 1, maxVocabSize: 99, affixBuckets: 0 });
 * const tasks = [{ name: "ner", kind: "token", labels: ["O", "B-LOC"] }, { name: "sentiment", kind: "sentence", labels: ["neg", "pos"] }] as const;
 * const e = encodeSentence({ words: ["Paris", "rocks"], labels: { ner: ["B-LOC", "O"] } }, tok, tasks, 8);
 * assert.deepEqual([...e.tokenLabels.ner!], [-1, 1, 0]);
 * assert.deepEqual(e.sentenceLabels, {});
 * ```
 */
export function encodeSentence(
  sentence: Sentence,
  tokenizer: WordTokenizer,
  tasks: readonly TaskLabels[],
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
  tokenIds[0] = CLS_ID;
  caseIds[0] = CaseFeature.SPECIAL;
  wordIds[0] = -1;
  words.forEach((word, i) => {
    tokenIds[i + 1] = tokenizer.tokenId(word);
    caseIds[i + 1] = caseFeature(word);
    if (tokenizer.affixBuckets > 0) affixIds.set(tokenizer.affixIds(word), affixCount * (i + 1));
    charIds?.set(tokenizer.charIdsOf(word), charWidth * (i + 1));
    wordIds[i + 1] = i;
  });
  const tokenLabels: Record<string, Int32Array> = {};
  const sentenceLabels: Record<string, number> = {};
  let pair: EncodedSentence["pair"];
  for (const task of tasks) {
    const value = sentence.labels[task.name];
    if (value === undefined) continue;
    if (task.kind === "pair") {
      if (!isPairLabel(value)) {
        throw new RangeError(
          `Cannot encode task "${task.name}": expected a second sentence and a score`,
        );
      }
      if (pair !== undefined) throw new RangeError("Cannot encode an example of two pair tasks");
      const other = encodeSentence({ words: value.other, labels: {} }, tokenizer, [], maxLength);
      pair = { task: task.name, other, score: value.score };
      continue;
    }
    if (isPairLabel(value)) {
      throw new RangeError(
        `Cannot encode task "${task.name}": a pair label for a ${task.kind} task`,
      );
    }
    if (task.kind === "token") {
      if (typeof value === "string" || value.length !== sentence.words.length) {
        throw new RangeError(
          `Cannot encode task "${task.name}": expected one label per word (${sentence.words.length})`,
        );
      }
      const ids = new Int32Array(length).fill(IGNORE_INDEX);
      words.forEach((_, i) => ids[i + 1] = labelId(task, value[i]!));
      tokenLabels[task.name] = ids;
    } else if (task.kind === "sentence") {
      if (typeof value !== "string") {
        throw new RangeError(`Cannot encode task "${task.name}": expected one label per sentence`);
      }
      sentenceLabels[task.name] = labelId(task, value);
    }
  }
  const pieces = tokenizer.pieces === undefined ? undefined : encodePieces(tokenizer, words);
  return {
    tokenIds,
    caseIds,
    affixIds,
    ...(charIds === undefined ? {} : { charIds }),
    wordIds,
    tokenLabels,
    sentenceLabels,
    ...(pair !== undefined ? { pair } : {}),
    truncated: words.length < sentence.words.length || (pair?.other.truncated ?? false),
    ...(pieces !== undefined ? { pieces } : {}),
  };
}

/** The backbone pieces of words, cut to the tokenizer's `maxPieces`. */
function encodePieces(
  tokenizer: WordTokenizer,
  words: readonly string[],
): EncodedSentence["pieces"] {
  const all = tokenizer.piecesOf(words);
  const count = Math.min(all.ids.length, tokenizer.maxPieces);
  return {
    ids: all.ids.slice(0, count),
    positions: all.wordOf.slice(0, count).map((w) => w + 1),
    truncated: count < all.ids.length,
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
  /** Per token task labelled in the batch: `[batch, seqLen]` label ids. */
  readonly tokenLabels: Readonly<Record<string, Int32Array>>;
  /** Per sentence task labelled in the batch: `[batch]` label ids. */
  readonly sentenceLabels: Readonly<Record<string, Int32Array>>;
  /**
   * A pair batch (see `padPairs`): its rows are the first sentences of its
   * pairs, then the second ones; per pair task, `[batch / 2]` gold scores
   * (NaN: no score).
   */
  readonly pairScores?: Readonly<Record<string, Float32Array>>;
  /** With a pretrained backbone: the batch's pieces or cached backbone features. */
  readonly backbone?: PaddedBackbone;
}

/**
 * The backbone's part of a padded batch, at the stage it enters the backbone
 * (see `BackboneTensors`): piece ids (stage 0), or the cached per-piece input
 * of a layer, or the cached word states and mean at the pooler stage.
 */
export interface PaddedBackbone {
  readonly stage: number;
  /** Below the pooler stage: pieces per row (P). */
  readonly pieces?: number;
  /** Stage 0: `[batch, P]` piece ids. */
  readonly pieceIds?: Int32Array;
  /** Below the pooler stage: `[batch, P]`, 1 at real pieces. */
  readonly pieceMask?: Float32Array;
  /** Below the pooler stage: `[batch, seqLen, P]` (see {@linkcode wordAlignment}). */
  readonly alignment?: Float32Array;
  /** Width of cached vectors (stages above 0). */
  readonly width?: number;
  /** Stages 1 … L: `[batch, P, width]`. */
  readonly states?: Float32Array;
  /** The pooler stage: `[batch, seqLen, width]` (when the sentences have them) and `[batch, width]`. */
  readonly wordStates?: Float32Array;
  readonly mean?: Float32Array;
}

/**
 * Pads encoded sentences to the longest one in the batch. Every task labelled
 * in any of the sentences gets a label array; sentences without its labels get
 * {@linkcode IGNORE_INDEX}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { padBatch } from "./encoding.ts";
 * const s = (n: number) => ({ tokenIds: new Int32Array(n).fill(5), caseIds: new Int32Array(n).fill(1),
 *   affixIds: new Int32Array(2 * n), wordIds: new Int32Array(n), tokenLabels: { ner: new Int32Array(n) },
 *   sentenceLabels: {}, truncated: false });
 * const b = padBatch([s(3), { ...s(1), tokenLabels: {}, sentenceLabels: { sentiment: 1 } }]);
 * assert.equal(b.seqLen, 3);
 * assert.deepEqual([...b.mask], [1, 1, 1, 1, 0, 0]);
 * assert.deepEqual([...b.tokenIds], [5, 5, 5, 5, 0, 0]);
 * assert.deepEqual([...b.tokenLabels.ner!], [0, 0, 0, -1, -1, -1]);
 * assert.deepEqual([...b.sentenceLabels.sentiment!], [-1, 1]);
 * ```
 */
export function padBatch(sentences: readonly EncodedSentence[]): PaddedBatch {
  if (sentences.length > 0 && sentences.every((s) => s.pair !== undefined)) {
    return padPairs(sentences);
  }
  if (sentences.some((s) => s.pair !== undefined)) {
    throw new RangeError("Cannot pad a batch that mixes sentence pairs with single sentences");
  }
  return padRows(sentences);
}

/**
 * A pair batch: the first sentences of the pairs, then the second ones (rows
 * `i` and `i + pairs` form pair `i`), and each pair task's scores (NaN for the
 * pairs of another task).
 */
function padPairs(pairs: readonly EncodedSentence[]): PaddedBatch {
  const rows = padRows([...pairs, ...pairs.map((p) => p.pair!.other)]);
  const tasks = [...new Set(pairs.map((p) => p.pair!.task))];
  return {
    ...rows,
    tokenLabels: {},
    sentenceLabels: {},
    pairScores: Object.fromEntries(tasks.map((task) => [
      task,
      Float32Array.from(pairs, (p) => p.pair!.task === task ? p.pair!.score : NaN),
    ])),
  };
}

function padRows(sentences: readonly EncodedSentence[]): PaddedBatch {
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
  const tokenLabels: Record<string, Int32Array> = {};
  const sentenceLabels: Record<string, Int32Array> = {};
  for (const s of sentences) {
    for (const task of Object.keys(s.tokenLabels)) {
      tokenLabels[task] ??= new Int32Array(batch * seqLen).fill(IGNORE_INDEX);
    }
    for (const task of Object.keys(s.sentenceLabels)) {
      sentenceLabels[task] ??= new Int32Array(batch).fill(IGNORE_INDEX);
    }
  }
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
    for (const [task, ids] of Object.entries(s.tokenLabels)) tokenLabels[task]!.set(ids, at);
    for (const [task, id] of Object.entries(s.sentenceLabels)) sentenceLabels[task]![b] = id;
    mask.fill(1, at, at + s.tokenIds.length);
  });
  const backbone = padBackbone(sentences, seqLen);
  return {
    batch,
    seqLen,
    tokenIds,
    caseIds,
    affixIds,
    ...(affixCount !== 2 ? { affixCount } : {}),
    ...(charWidth > 0 ? { charWidth, charIds } : {}),
    mask,
    tokenLabels,
    sentenceLabels,
    ...(backbone !== undefined ? { backbone } : {}),
  };
}

/** The backbone part of a batch: every sentence must have pieces, and features of one stage or none. */
function padBackbone(
  sentences: readonly EncodedSentence[],
  seqLen: number,
): PaddedBackbone | undefined {
  const first = sentences[0];
  if (first?.pieces === undefined) return undefined;
  const stage = first.features?.stage ?? 0;
  sentences.forEach((s, b) => {
    if (s.pieces === undefined || (s.features?.stage ?? 0) !== stage) {
      throw new RangeError(
        `Cannot pad batch: sentence ${b} has no backbone input of stage ${stage} as sentence 0 has`,
      );
    }
  });
  const batch = sentences.length;
  const width = first.features?.width ?? 0;
  if (first.features?.mean !== undefined) {
    const mean = new Float32Array(batch * width);
    sentences.forEach((s, b) => mean.set(s.features!.mean!, b * width));
    const withWords = sentences.every((s) => s.features!.wordStates !== undefined);
    const wordStates = withWords ? new Float32Array(batch * seqLen * width) : undefined;
    if (withWords) {
      sentences.forEach((s, b) => wordStates!.set(s.features!.wordStates!, b * seqLen * width));
    }
    return { stage, width, mean, ...(wordStates !== undefined ? { wordStates } : {}) };
  }
  const pieces = Math.max(1, ...sentences.map((s) => s.pieces!.ids.length));
  const pieceMask = new Float32Array(batch * pieces);
  sentences.forEach((s, b) => pieceMask.fill(1, b * pieces, b * pieces + s.pieces!.ids.length));
  const alignment = wordAlignment(sentences.map((s) => s.pieces!.positions), seqLen, pieces);
  if (stage === 0) {
    const pieceIds = new Int32Array(batch * pieces);
    sentences.forEach((s, b) => pieceIds.set(s.pieces!.ids, b * pieces));
    return { stage, pieces, pieceIds, pieceMask, alignment };
  }
  const states = new Float32Array(batch * pieces * width);
  sentences.forEach((s, b) => states.set(s.features!.states!, b * pieces * width));
  return { stage, pieces, pieceMask, alignment, width, states };
}

/**
 * The matrix that pools piece states into token states, `[batch, seqLen, pieces]`
 * row-major: token t of a sentence averages the pieces whose position is t;
 * token 0 (`[CLS]`, no word) averages all the sentence's pieces; a token
 * without pieces (cut off by `maxPieces`) gets zeros.
 *
 * @param positions per sentence, the token position of each piece
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wordAlignment } from "./encoding.ts";
 * // Pieces of "Paris rocks": ▁Paris → word 1, ▁ro + cks → word 2.
 * const a = wordAlignment([Int32Array.from([1, 2, 2])], 3, 3);
 * assert.deepEqual([...a].map((x) => +x.toFixed(3)), [0.333, 0.333, 0.333, 1, 0, 0, 0, 0.5, 0.5]);
 * ```
 */
export function wordAlignment(
  positions: readonly Int32Array[],
  seqLen: number,
  pieces: number,
): Float32Array {
  const out = new Float32Array(positions.length * seqLen * pieces);
  positions.forEach((pos, b) => {
    const counts = new Int32Array(seqLen);
    for (const t of pos) counts[t]!++;
    const row = b * seqLen * pieces;
    pos.forEach((t, p) => {
      out[row + p] = 1 / pos.length;
      out[row + t * pieces + p] = 1 / counts[t]!;
    });
  });
  return out;
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
  /** Per token task: `[batch, seqLen]` int32, {@linkcode IGNORE_INDEX} where unlabelled */
  readonly tokenLabels: Readonly<Record<string, tf.Tensor2D>>;
  /** Per sentence task: `[batch]` int32, {@linkcode IGNORE_INDEX} where unlabelled */
  readonly sentenceLabels: Readonly<Record<string, tf.Tensor1D>>;
  /** Per pair task of a pair batch: `[batch / 2]` float32 gold scores */
  readonly pairScores?: Readonly<Record<string, tf.Tensor1D>>;
  /** With a pretrained backbone: its input */
  readonly backbone?: BackboneTensors;
}

/**
 * The tasks labelled in a batch, sorted by name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { batchTasks } from "./encoding.ts";
 * assert.deepEqual(batchTasks({ tokenLabels: { ner: 1 }, sentenceLabels: { b: 1 }, pairScores: { a: 1 } }), ["a", "b", "ner"]);
 * ```
 */
export function batchTasks(
  batch: {
    readonly tokenLabels: Readonly<Record<string, unknown>>;
    readonly sentenceLabels: Readonly<Record<string, unknown>>;
    readonly pairScores?: Readonly<Record<string, unknown>>;
  },
): string[] {
  return [
    ...Object.keys(batch.tokenLabels),
    ...Object.keys(batch.sentenceLabels),
    ...Object.keys(batch.pairScores ?? {}),
  ].sort();
}

/** A task's labels in a batch: its token or sentence label ids, or its pair scores. */
export function batchGold(batch: BatchTensors, task: string): tf.Tensor | undefined {
  return batch.tokenLabels[task] ?? batch.sentenceLabels[task] ?? batch.pairScores?.[task];
}

/**
 * A batch as a pretrained backbone takes it, at the stage where it enters
 * (`model/use_lite.ts` numbers its stages: 0 the embeddings, 1 … L the
 * layers, L + 1 the pooler):
 *
 * - stage 0: piece ids;
 * - stage 1 … L: the per-piece output of the stage below, `[batch, P, width]`;
 * - the pooler stage: what the top layer gives the rest of the model, already
 *   pooled: each token's state (when needed) and the mean over the pieces.
 *
 * Below the pooler stage the batch carries the piece mask and the word
 * alignment ({@linkcode wordAlignment}), which pools piece states into token
 * states: `alignment @ states`.
 */
export type BackboneTensors =
  | {
    readonly stage: 0;
    /** `[batch, P]` int32 */
    readonly pieceIds: tf.Tensor2D;
    /** `[batch, P]` float32, 1 at real pieces */
    readonly pieceMask: tf.Tensor2D;
    /** `[batch, seqLen, P]` float32 */
    readonly alignment: tf.Tensor3D;
  }
  | {
    readonly stage: number;
    /** `[batch, P, width]` the per-piece output of stage `stage - 1` */
    readonly states: tf.Tensor3D;
    readonly pieceMask: tf.Tensor2D;
    readonly alignment: tf.Tensor3D;
  }
  | {
    readonly stage: number;
    /** `[batch, seqLen, width]` each token's top-layer state, when a token task reads them */
    readonly wordStates?: tf.Tensor3D;
    /** `[batch, width]` the mean top-layer state over the pieces */
    readonly mean: tf.Tensor2D;
  };

/** Creates tensors for a padded batch; dispose them with {@linkcode disposeBatch}. */
export function batchToTensors(b: PaddedBatch): BatchTensors {
  const shape: [number, number] = [b.batch, b.seqLen];
  const map = <T>(record: Readonly<Record<string, Int32Array>>, make: (a: Int32Array) => T) =>
    Object.fromEntries(Object.entries(record).map(([task, ids]) => [task, make(ids)]));
  return {
    tokenIds: tf.tensor2d(b.tokenIds, shape, "int32"),
    caseIds: tf.tensor2d(b.caseIds, shape, "int32"),
    affixIds: tf.tensor3d(b.affixIds, [b.batch, b.seqLen, b.affixCount ?? 2], "int32"),
    ...(b.charWidth && b.charIds
      ? { charIds: tf.tensor3d(b.charIds, [b.batch, b.seqLen, b.charWidth], "int32") }
      : {}),
    mask: tf.tensor2d(b.mask, shape, "float32"),
    tokenLabels: map(b.tokenLabels, (ids) => tf.tensor2d(ids, shape, "int32")),
    sentenceLabels: map(b.sentenceLabels, (ids) => tf.tensor1d(ids, "int32")),
    ...(b.pairScores === undefined ? {} : {
      pairScores: Object.fromEntries(
        Object.entries(b.pairScores).map(([task, s]) => [task, tf.tensor1d(s, "float32")]),
      ),
    }),
    ...(b.backbone === undefined
      ? {}
      : { backbone: backboneTensors(b.backbone, b.batch, b.seqLen) }),
  };
}

function backboneTensors(p: PaddedBackbone, batch: number, seqLen: number): BackboneTensors {
  const width = p.width ?? 0;
  if (p.mean !== undefined) {
    return {
      stage: p.stage,
      mean: tf.tensor2d(p.mean, [batch, width]),
      ...(p.wordStates !== undefined
        ? { wordStates: tf.tensor3d(p.wordStates, [batch, seqLen, width]) }
        : {}),
    };
  }
  const pieces = p.pieces!;
  const pieceMask = tf.tensor2d(p.pieceMask!, [batch, pieces]);
  const alignment = tf.tensor3d(p.alignment!, [batch, seqLen, pieces]);
  return p.stage === 0
    ? {
      stage: 0,
      pieceIds: tf.tensor2d(p.pieceIds!, [batch, pieces], "int32"),
      pieceMask,
      alignment,
    }
    : {
      stage: p.stage,
      states: tf.tensor3d(p.states!, [batch, pieces, width]),
      pieceMask,
      alignment,
    };
}

/** Disposes every tensor of a batch. */
export function disposeBatch(b: BatchTensors): void {
  tf.dispose([b.tokenIds, b.caseIds, b.affixIds, b.mask]);
  tf.dispose([...Object.values(b.tokenLabels), ...Object.values(b.sentenceLabels)]);
  tf.dispose(Object.values(b.pairScores ?? {}));
  if (b.charIds !== undefined) b.charIds.dispose();
  if (b.backbone !== undefined) tf.dispose(Object.values(b.backbone) as tf.Tensor[]);
}

/**
 * Per labelled task in the batch, how many positions carry a label (tokens
 * for token tasks, sentences for sentence tasks): the denominators of the
 * tasks' mean losses.
 */
export function labelCounts(b: PaddedBatch): Record<string, number> {
  const count = (ids: Int32Array) => ids.reduce((n, id) => n + (id >= 0 ? 1 : 0), 0);
  return Object.fromEntries([
    ...Object.entries(b.tokenLabels).map(([task, ids]) => [task, count(ids)]),
    ...Object.entries(b.sentenceLabels).map(([task, ids]) => [task, count(ids)]),
    ...Object.entries(b.pairScores ?? {}).map((
      [task, scores],
    ) => [task, scores.filter((x) => !Number.isNaN(x)).length]),
  ]);
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

function labelId(task: TaskLabels, label: string): number {
  const id = task.labels.indexOf(label);
  if (id < 0) {
    throw new RangeError(
      `Cannot encode the ${task.name} label "${label}": not one of ${task.labels.join(", ")}`,
    );
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
 *   affixIds: new Int32Array(8), wordIds: new Int32Array(4), tokenLabels: {}, sentenceLabels: {},
 *   truncated: false };
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

/**
 * Cuts a padded batch into `parts` slices of consecutive sentences (sizes differ
 * by at most one), each re-padded to its own longest sentence.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { padBatch, splitBatch } from "./encoding.ts";
 * const s = (n: number) => ({ tokenIds: new Int32Array(n).fill(7), caseIds: new Int32Array(n),
 *   affixIds: new Int32Array(2 * n),
 *   wordIds: new Int32Array(n), tokenLabels: { ner: new Int32Array(n) }, sentenceLabels: { sentiment: 0 },
 *   truncated: false });
 * const [a, b] = splitBatch(padBatch([s(1), s(2), s(4)]), 2);
 * assert.equal(a!.batch, 2);
 * assert.equal(a!.seqLen, 2);
 * assert.deepEqual([...a!.mask], [1, 0, 1, 1]);
 * assert.equal(b!.batch, 1);
 * assert.equal(b!.seqLen, 4);
 * ```
 */
export function splitBatch(batch: PaddedBatch, parts: number): PaddedBatch[] {
  // A pair batch is cut by pairs, each slice keeping its pairs' two halves.
  const units = batch.pairScores === undefined ? batch.batch : batch.batch / 2;
  const out: PaddedBatch[] = [];
  let start = 0;
  for (let p = 0; p < parts; p++) {
    const size = Math.floor(units / parts) + (p < units % parts ? 1 : 0);
    const range = Array.from({ length: size }, (_, i) => start + i);
    const rows = batch.pairScores === undefined
      ? range
      : [...range, ...range.map((r) => r + units)];
    const slice = takeRows(batch, rows);
    out.push(
      batch.pairScores === undefined ? slice : {
        ...slice,
        pairScores: Object.fromEntries(
          Object.entries(batch.pairScores).map(([task, s]) => [task, s.slice(start, start + size)]),
        ),
      },
    );
    start += size;
  }
  return out;
}

/** The given rows of a batch, re-padded to their longest sentence (pair scores not included). */
function takeRows(batch: PaddedBatch, rows: readonly number[]): PaddedBatch {
  const size = rows.length;
  const lengths = rows.map((r) => {
    let n = 0;
    for (let t = 0; t < batch.seqLen; t++) n += batch.mask[r * batch.seqLen + t]!;
    return n;
  });
  const seqLen = Math.max(1, ...lengths);
  const take = <A extends Int32Array | Float32Array>(
    a: A,
    make: (n: number) => A,
    width = 1,
  ): A => {
    const result = make(size * seqLen * width);
    rows.forEach((r, i) =>
      result.set(
        a.subarray(r * batch.seqLen * width, (r * batch.seqLen + seqLen) * width),
        i * seqLen * width,
      )
    );
    return result;
  };
  return {
    batch: size,
    seqLen,
    tokenIds: take(batch.tokenIds, (n) => new Int32Array(n)),
    caseIds: take(batch.caseIds, (n) => new Int32Array(n)),
    affixIds: take(batch.affixIds, (n) => new Int32Array(n), batch.affixCount ?? 2),
    ...(batch.affixCount === undefined ? {} : { affixCount: batch.affixCount }),
    ...(batch.charWidth && batch.charIds
      ? {
        charWidth: batch.charWidth,
        charIds: take(batch.charIds, (n) => new Int32Array(n), batch.charWidth),
      }
      : {}),
    mask: take(batch.mask, (n) => new Float32Array(n)),
    tokenLabels: Object.fromEntries(
      Object.entries(batch.tokenLabels).map((
        [task, ids],
      ) => [task, take(ids, (n) => new Int32Array(n))]),
    ),
    sentenceLabels: Object.fromEntries(
      Object.entries(batch.sentenceLabels).map((
        [task, ids],
      ) => [task, Int32Array.from(rows, (r) => ids[r]!)]),
    ),
    ...(batch.backbone === undefined
      ? {}
      : { backbone: takeBackboneRows(batch.backbone, rows, batch.seqLen, seqLen) }),
  };
}

/** The given rows of a batch's backbone part, cut to their own longest sentence and piece count. */
function takeBackboneRows(
  p: PaddedBackbone,
  rows: readonly number[],
  seqLen: number,
  newSeqLen: number,
): PaddedBackbone {
  const width = p.width ?? 0;
  if (p.mean !== undefined) {
    return {
      stage: p.stage,
      width,
      mean: crop(p.mean, rows, [1, width], [1, width]),
      ...(p.wordStates !== undefined
        ? { wordStates: crop(p.wordStates, rows, [seqLen, width], [newSeqLen, width]) }
        : {}),
    };
  }
  const pieces = p.pieces!;
  const mask = p.pieceMask!;
  const count = (r: number) =>
    mask.subarray(r * pieces, (r + 1) * pieces).reduce((a, b) => a + b, 0);
  const newPieces = Math.max(1, ...rows.map(count));
  return {
    stage: p.stage,
    pieces: newPieces,
    pieceMask: crop(mask, rows, [1, pieces], [1, newPieces]),
    alignment: crop(p.alignment!, rows, [seqLen, pieces], [newSeqLen, newPieces]),
    ...(p.pieceIds !== undefined
      ? { pieceIds: crop(p.pieceIds, rows, [1, pieces], [1, newPieces]) }
      : {}),
    ...(p.states !== undefined
      ? { width, states: crop(p.states, rows, [pieces, width], [newPieces, width]) }
      : {}),
  };
}

/**
 * Rows of an array of `[rows, n1, n2]`, each cut to its leading `[m1, m2]`
 * (`m1 ≤ n1`, `m2 ≤ n2`): `[rows.length, m1, m2]`.
 */
function crop<A extends Int32Array | Float32Array>(
  a: A,
  rows: readonly number[],
  [n1, n2]: readonly [number, number],
  [m1, m2]: readonly [number, number],
): A {
  const out = new (a.constructor as new (n: number) => A)(rows.length * m1 * m2);
  rows.forEach((r, i) => {
    for (let j = 0; j < m1; j++) {
      const from = (r * n1 + j) * n2;
      out.set(a.subarray(from, from + m2), (i * m1 + j) * m2);
    }
  });
  return out;
}

/**
 * The task pool of a sentence: the tasks it is labelled for, sorted and joined
 * by `+` (batches are built within a pool, so a batch's sentences carry the same tasks).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { taskPool } from "./encoding.ts";
 * assert.equal(taskPool({ tokenLabels: { pos: new Int32Array(1), ner: new Int32Array(1) }, sentenceLabels: {} }), "ner+pos");
 * assert.equal(taskPool({ tokenLabels: {}, sentenceLabels: {}, pair: { task: "sts" } }), "sts");
 * ```
 */
export function taskPool(
  example: {
    readonly tokenLabels: Readonly<Record<string, unknown>>;
    readonly sentenceLabels: Readonly<Record<string, unknown>>;
    readonly pair?: { readonly task: string };
  },
): string {
  return [
    ...Object.keys(example.tokenLabels),
    ...Object.keys(example.sentenceLabels),
    ...(example.pair !== undefined ? [example.pair.task] : []),
  ].sort().join("+");
}
