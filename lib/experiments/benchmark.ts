/**
 * Measurement helpers for `deno task bench`: synthetic batches shaped like the
 * PyTorch peer's, step and inference timers, a matmul microbenchmark, model FLOPs
 * per token, and order statistics. Timers return raw samples; callers summarise.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ModelConfig } from "../core/config.ts";
import { type EncodedSentence, padBatch, type PaddedBatch } from "../data/encoding.ts";
import type { ModelDims, MultiTaskModel } from "../model/model.ts";
import { taskProbabilities } from "../model/forward.ts";
import { mulberry32 } from "../core/random.ts";
import { CaseFeature, CLS_ID } from "../data/tokenizer.ts";
import type { StepRunner, StepTiming } from "../training/trainer.ts";

/** The tasks of the peer's model: NER with 9 tags and 2-class sentiment. */
export const BENCH_TASKS = [
  { name: "ner", kind: "token", numLabels: 9 },
  { name: "sentiment", kind: "sentence", numLabels: 2 },
] as const;

/**
 * Random sentences like the peer's: lengths uniform in [8, maxLength], random
 * token ids, tag = id mod 9, sentiment from the ids; labelled for the tasks of
 * {@linkcode BENCH_TASKS}.
 */
export function syntheticSentences(
  count: number,
  maxLength: number,
  dims: ModelDims,
  seed: number,
): EncodedSentence[] {
  const random = mulberry32(seed);
  const minLength = Math.min(8, maxLength);
  const numTags = BENCH_TASKS[0].numLabels;
  return Array.from({ length: count }, () => {
    const length = minLength + Math.floor(random() * (maxLength - minLength + 1));
    const tokenIds = new Int32Array(length);
    const tags = new Int32Array(length);
    let low = 0;
    for (let i = 0; i < length; i++) {
      const id = i === 0 ? CLS_ID : 4 + Math.floor(random() * (dims.vocabSize - 4));
      tokenIds[i] = id;
      tags[i] = i === 0 ? -1 : id % numTags;
      if (id < dims.vocabSize / 2) low++;
    }
    return {
      tokenIds,
      caseIds: new Int32Array(length).fill(CaseFeature.LOWER),
      affixIds: new Int32Array(2 * length),
      wordIds: Int32Array.from({ length }, (_, i) => i - 1),
      tokenLabels: { ner: tags },
      sentenceLabels: { sentiment: low * 2 > length ? 1 : 0 },
      truncated: false,
    };
  });
}

/** Pads `sentences` to exactly `seqLen`, as the peer does. */
export function fixedLengthPadded(
  sentences: readonly EncodedSentence[],
  seqLen: number,
): PaddedBatch {
  const padded = padBatch(sentences);
  if (padded.seqLen === seqLen) return padded;
  const filler: EncodedSentence = {
    tokenIds: new Int32Array(seqLen),
    caseIds: new Int32Array(seqLen),
    affixIds: new Int32Array(2 * seqLen),
    wordIds: new Int32Array(seqLen),
    tokenLabels: {},
    sentenceLabels: {},
    truncated: false,
  };
  const withFiller = padBatch([...sentences, filler]);
  const b = sentences.length;
  const cut = <A extends Int32Array | Float32Array>(a: A) => a.slice(0, b * seqLen) as A;
  const map = (r: Readonly<Record<string, Int32Array>>, n: number) =>
    Object.fromEntries(Object.entries(r).map(([t, ids]) => [t, ids.slice(0, n)]));
  return {
    batch: b,
    seqLen,
    tokenIds: cut(withFiller.tokenIds),
    caseIds: cut(withFiller.caseIds),
    affixIds: withFiller.affixIds.slice(0, 2 * b * seqLen),
    mask: cut(withFiller.mask),
    tokenLabels: map(withFiller.tokenLabels, b * seqLen),
    sentenceLabels: map(withFiller.sentenceLabels, b),
  };
}

/** Wall-clock milliseconds of `steps` calls of `fn` after `warmup` calls. */
export function timeCalls(fn: (i: number) => void, steps: number, warmup: number): number[] {
  for (let i = 0; i < warmup; i++) fn(i);
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const started = performance.now();
    fn(warmup + i);
    times.push(performance.now() - started);
  }
  return times;
}

/** Per timed step: wall milliseconds, the breakdown and each replica's compute (where reported). */
export interface StepTimes {
  readonly times: number[];
  readonly timings: StepTiming[];
  readonly replicaComputeMs: (readonly number[])[];
}

/**
 * Milliseconds per training step over rotating batches (single or data-parallel
 * trainer), with each step's breakdown where the trainer reports one.
 */
export async function timeTrainSteps(
  trainer: StepRunner,
  batches: readonly PaddedBatch[],
  steps: number,
  warmup: number,
): Promise<StepTimes> {
  return (await timeInterleavedTrainSteps([trainer], batches, steps, warmup))[0]!;
}

/**
 * {@linkcode timeTrainSteps} for several trainers at once, their steps taken in
 * turn (one step of each, then the next round), so that the ratio of their
 * times does not depend on when in the run each was measured.
 */
export async function timeInterleavedTrainSteps(
  trainers: readonly Pick<StepRunner, "trainPadded">[],
  batches: readonly PaddedBatch[],
  steps: number,
  warmup: number,
): Promise<StepTimes[]> {
  const results = trainers.map((): StepTimes => ({ times: [], timings: [], replicaComputeMs: [] }));
  for (let i = 0; i < warmup + steps; i++) {
    for (const [k, trainer] of trainers.entries()) {
      const started = performance.now();
      const metrics = await trainer.trainPadded(batches[i % batches.length]!);
      if (i >= warmup) {
        results[k]!.times.push(performance.now() - started);
        if (metrics.timing !== undefined) results[k]!.timings.push(metrics.timing);
        if (metrics.replicaComputeMs !== undefined) {
          results[k]!.replicaComputeMs.push(metrics.replicaComputeMs);
        }
      }
    }
  }
  return results;
}

/** The median of each phase of step breakdowns. */
export function medianTiming(timings: readonly StepTiming[]): StepTiming | undefined {
  if (timings.length === 0) return undefined;
  const of = (key: keyof StepTiming) => median(timings.map((t) => t[key]));
  return {
    computeMs: of("computeMs"),
    reduceMs: of("reduceMs"),
    optimizerMs: of("optimizerMs"),
    gatherMs: of("gatherMs"),
    waitMs: of("waitMs"),
    coordinationMs: of("coordinationMs"),
  };
}

/**
 * Is one replica slower than the others, or do they take turns? From each
 * step's per-replica compute: every replica's median, and the median over
 * steps of the slowest-minus-fastest gap; undefined without such figures.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { replicaSpread } from "./benchmark.ts";
 * assert.deepEqual(replicaSpread([[10, 14], [13, 11], [12, 12]]), { computeMs: [12, 12], gapMs: 2 });
 * assert.equal(replicaSpread([]), undefined);
 * ```
 */
export function replicaSpread(
  perStep: readonly (readonly number[])[],
): { computeMs: number[]; gapMs: number } | undefined {
  if (perStep.length === 0 || perStep[0]!.length === 0) return undefined;
  return {
    computeMs: perStep[0]!.map((_, r) => median(perStep.map((c) => c[r]!))),
    gapMs: median(perStep.map((c) => Math.max(...c) - Math.min(...c))),
  };
}

/**
 * Milliseconds per inference pass through the one forward path
 * (`taskProbabilities`: tensors made, every token and sentence head, softmax,
 * values read back, tensors freed).
 */
export function timeInference(
  model: MultiTaskModel,
  batches: readonly PaddedBatch[],
  steps: number,
  warmup: number,
): number[] {
  return timeCalls(
    (i) => void taskProbabilities(model, batches[i % batches.length]!),
    steps,
    warmup,
  );
}

/** GFLOP/s of `[m, k] @ [k, n]` (median of timed runs). */
export function matmulGflops(m: number, k: number, n: number, runs = 10): number {
  const a = tf.randomNormal([m, k], 0, 1, "float32", 1);
  const b = tf.randomNormal([k, n], 0, 1, "float32", 2);
  const times = timeCalls(() => tf.matMul(a, b).dispose(), runs, 3);
  tf.dispose([a, b]);
  return (2 * m * k * n) / median(times) / 1e6;
}

/**
 * Matmul FLOPs per token of one training step (forward + backward ≈ 3× forward):
 * projections, feed-forward, attention scores and context at `seqLen`, and heads.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { trainingFlopsPerToken } from "./benchmark.ts";
 * const config = { hiddenSize: 2, ffnSize: 4, numLayers: 1 } as never;
 * // forward: 2·(4·2·2 + 2·2·4 + 2·3·2) + 2·2·5 = 2·44 + 20 = 108; × 3
 * const tasks = [{ name: "ner", kind: "token", numLabels: 5 }, { name: "s", kind: "sentence", numLabels: 2 }] as const;
 * assert.equal(trainingFlopsPerToken(config, 3, { vocabSize: 9, tasks }), 324);
 * ```
 */
export function trainingFlopsPerToken(
  config: ModelConfig,
  seqLen: number,
  dims: ModelDims,
): number {
  const h = config.hiddenSize;
  const perLayer = 4 * h * h + 2 * h * config.ffnSize + 2 * seqLen * h;
  const tokenLabels = dims.tasks.filter((t) => t.kind === "token")
    .reduce((n, t) => n + t.numLabels, 0);
  const forward = 2 * config.numLayers * perLayer + 2 * h * tokenLabels;
  return 3 * forward;
}

/**
 * The `p`-th percentile (0–100) by linear interpolation between order statistics.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { median, percentile } from "./benchmark.ts";
 * assert.equal(median([3, 1, 2]), 2);
 * assert.equal(median([4, 1, 2, 3]), 2.5);
 * assert.equal(percentile([10, 20, 30, 40, 50], 95), 48);
 * ```
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p / 100) * (sorted.length - 1);
  const low = Math.floor(at);
  const high = Math.ceil(at);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (at - low);
}

/** The median. */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}
