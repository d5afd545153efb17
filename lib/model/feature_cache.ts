/**
 * The feature cache: a pretrained backbone's frozen stages run once per
 * sentence instead of in every step and every evaluation. Each encoded
 * sentence gets the input of the first backbone stage that trains (its
 * `features`, see `data/encoding.ts`), and batches of such sentences enter the
 * backbone there. With the whole backbone frozen that is its top layer's
 * output, pooled: each token's state and the sentence mean, so a step costs
 * what the task encoder and heads cost. Frozen stages run without dropout,
 * cached or not, so a cached batch trains as the same batch computed in full
 * would (`tests/backbone_training_test.ts`).
 *
 * Entries are keyed by a sentence's pieces and their word positions, so
 * sentences met again (dev sets scored every epoch) are looked up, not
 * recomputed. A cache is valid while the stages below its stage keep their
 * weights: whoever changes which stages are frozen resets it.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  batchToTensors,
  bucketBatches,
  disposeBatch,
  type EncodedSentence,
  padBatch,
  type PaddedBatch,
  type SentenceFeatures,
  taskPool,
} from "../data/encoding.ts";
import type { MultiTaskModel } from "./model.ts";

/** Options of {@linkcode BackboneFeatureCache.attach}. */
export interface AttachOptions {
  /** Sentences per forward pass for those not cached. @default 64 */
  readonly batchSize?: number;
  /**
   * Whether a sentence needs its token states (at the pooler stage): by
   * default when the tasks it is labelled for run the task encoder, or, for a
   * sentence labelled for none (prediction), always.
   */
  readonly withWords?: (sentence: EncodedSentence) => boolean;
  /** Called after each batch computed, with the sentences done and the total to compute. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** Frozen backbone features by sentence (see the module documentation). */
export class BackboneFeatureCache {
  readonly #entries = new Map<string, SentenceFeatures>();
  #stage: number;

  /** @param stage the backbone stage whose input is cached (see `backboneEntryStage`) */
  constructor(stage: number) {
    this.#stage = stage;
  }

  /** The stage whose input the entries hold. */
  get stage(): number {
    return this.#stage;
  }

  /** Number of sentences cached. */
  get size(): number {
    return this.#entries.size;
  }

  /** Forgets every entry; from now on the input of `stage` is cached. */
  reset(stage: number): void {
    this.#entries.clear();
    this.#stage = stage;
  }

  /**
   * The sentences (and the second sentences of pairs) with their features at
   * this cache's stage attached, computing those not cached yet on this
   * thread, in batches of similar piece counts, without dropout. At stage 0
   * the sentences come back without features. Sentences without pieces are
   * returned as they are.
   */
  attach(
    model: MultiTaskModel,
    sentences: readonly EncodedSentence[],
    options: AttachOptions = {},
  ): EncodedSentence[] {
    if (this.#stage === 0) return sentences.map(withoutFeatures);
    const batches = this.#plan(model, sentences, options);
    let done = 0;
    for (const batch of batches) {
      this.#store(batch, advanceArrays(model, batch.padded, this.#stage));
      done += batch.units.length;
      options.onProgress?.(done, batches.total);
    }
    return this.#attached(sentences);
  }

  /**
   * {@linkcode attach}, computing the missing features with `compute` (e.g.
   * an inference pool's workers, `InferencePool.advanceBackbone`), which gets
   * every batch at once and hands back each one's arrays as they are done.
   */
  async attachWith(
    compute: (
      batches: readonly PaddedBatch[],
      stage: number,
      onBatch: (index: number, arrays: AdvancedArrays) => void,
    ) => Promise<void>,
    model: MultiTaskModel,
    sentences: readonly EncodedSentence[],
    options: AttachOptions = {},
  ): Promise<EncodedSentence[]> {
    if (this.#stage === 0) return sentences.map(withoutFeatures);
    const batches = this.#plan(model, sentences, options);
    let done = 0;
    await compute(batches.map((b) => b.padded), this.#stage, (i, arrays) => {
      this.#store(batches[i]!, arrays);
      done += batches[i]!.units.length;
      options.onProgress?.(done, batches.total);
    });
    return this.#attached(sentences);
  }

  /** The sentences not cached yet (with or without their token states), as padded batches. */
  #plan(
    model: MultiTaskModel,
    sentences: readonly EncodedSentence[],
    options: AttachOptions,
  ): PlannedBatch[] & { total: number } {
    if (model.backbone === undefined) {
      throw new TypeError("Cannot cache backbone features: the model has no backbone");
    }
    const withWords = options.withWords ?? ((s: EncodedSentence) => {
      const pool = taskPool(s);
      return pool === "" || model.readsTokens(pool.split("+"));
    });
    const wanted = new Map<string, Unit>();
    const need = (s: EncodedSentence, words: boolean) => {
      if (s.pieces === undefined) return;
      const key = keyOf(s);
      const cached = this.#entries.get(key);
      if (cached !== undefined && (!words || cached.wordStates !== undefined)) return;
      const previous = wanted.get(key);
      wanted.set(key, { sentence: s, words: words || (previous?.words ?? false) });
    };
    for (const s of sentences) {
      need(s, withWords(s));
      if (s.pair !== undefined) need(s.pair.other, false);
    }
    const units = [...wanted.values()];
    const order = bucketBatches(
      [...units.keys()],
      units.map((u) => u.sentence.pieces!.ids.length),
      options.batchSize ?? 64,
      Number.MAX_SAFE_INTEGER,
    );
    const batches = order.map((indices) => {
      const chosen = indices.map((i) => units[i]!);
      return { units: chosen, padded: padBatch(chosen.map((u) => bareSentence(u.sentence))) };
    });
    return Object.assign(batches, { total: units.length });
  }

  /** Stores one computed batch. */
  #store({ units, padded }: PlannedBatch, arrays: AdvancedArrays): void {
    const { width, mean, wordStates, states } = arrays;
    const pieces = padded.backbone!.pieces ?? 0;
    units.forEach(({ sentence, words }, b) => {
      const rows = b * padded.seqLen;
      const from = b * pieces * width;
      this.#entries.set(
        keyOf(sentence),
        mean !== undefined
          ? {
            stage: this.#stage,
            width,
            mean: mean.slice(b * width, (b + 1) * width),
            ...(words && wordStates !== undefined
              ? {
                wordStates: wordStates.slice(
                  rows * width,
                  (rows + sentence.tokenIds.length) * width,
                ),
              }
              : {}),
          }
          : {
            stage: this.#stage,
            width,
            states: states!.slice(from, from + sentence.pieces!.ids.length * width),
          },
      );
    });
  }

  /** The sentences with their cached features. */
  #attached(sentences: readonly EncodedSentence[]): EncodedSentence[] {
    const attached = (s: EncodedSentence): EncodedSentence =>
      s.pieces === undefined ? s : { ...s, features: this.#entries.get(keyOf(s))! };
    return sentences.map((s) => {
      const one = attached(s);
      return s.pair === undefined
        ? one
        : { ...one, pair: { ...s.pair, other: attached(s.pair.other) } };
    });
  }
}

/** A sentence to compute, and whether its token states are needed. */
interface Unit {
  readonly sentence: EncodedSentence;
  readonly words: boolean;
}

/** A batch of sentences to compute: bare (no labels, no pairs), padded. */
interface PlannedBatch {
  readonly units: readonly Unit[];
  readonly padded: PaddedBatch;
}

/** A padded batch's backbone input carried to a stage, as arrays (see `BackboneTensors`). */
export interface AdvancedArrays {
  readonly width: number;
  /** At the pooler stage: `[batch, width]`, and `[batch, seqLen, width]` when the batch has them. */
  readonly mean?: Float32Array;
  readonly wordStates?: Float32Array;
  /** Below it: `[batch, pieces, width]`. */
  readonly states?: Float32Array;
}

/** Runs a padded batch's backbone input up to `stage` on this thread, without dropout. */
export function advanceArrays(
  model: MultiTaskModel,
  padded: PaddedBatch,
  stage: number,
): AdvancedArrays {
  const tensors = batchToTensors(padded);
  try {
    const advanced = model.advanceBackbone(tensors.backbone!, stage);
    const read = (t: tf.Tensor | undefined) => t?.dataSync() as Float32Array | undefined;
    const given = new Set<unknown>(Object.values(tensors.backbone!));
    const out: AdvancedArrays = "mean" in advanced
      ? {
        width: advanced.mean.shape[1],
        mean: read(advanced.mean)!,
        ...(advanced.wordStates !== undefined ? { wordStates: read(advanced.wordStates)! } : {}),
      }
      : "states" in advanced
      ? { width: advanced.states.shape[2], states: read(advanced.states)! }
      : { width: 0 };
    tf.dispose(Object.values(advanced).filter((t) => t instanceof tf.Tensor && !given.has(t)));
    return out;
  } finally {
    disposeBatch(tensors);
  }
}

/**
 * The sentences with the backbone's output at `stage` attached as `features`:
 * a cache of their own (see {@linkcode BackboneFeatureCache}).
 */
export function cacheBackboneFeatures(
  model: MultiTaskModel,
  sentences: readonly EncodedSentence[],
  stage: number,
  options: AttachOptions = {},
): EncodedSentence[] {
  return new BackboneFeatureCache(stage).attach(model, sentences, options);
}

/** What identifies a sentence to the backbone: its pieces and their word positions. */
function keyOf(s: EncodedSentence): string {
  return `${s.pieces!.ids.join(",")}|${s.pieces!.positions.join(",")}|${s.tokenIds.length}`;
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
