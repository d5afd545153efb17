/**
 * The epoch loop: seeded shuffling, length-bucketed batches, one
 * {@linkcode Trainer.trainStep} per batch, validation at each epoch end, and
 * hooks for progress and checkpointing. The order of epoch `e` depends only on
 * (seed, e), so a run resumed at an epoch boundary sees the same batches.
 * @module
 */
import {
  bucketBatches,
  type EncodedSentence,
  exampleLength,
  padBatch,
  type PaddedBatch,
  wordDropout,
} from "../data/encoding.ts";
import { type EvalMetrics, evaluate } from "../evaluation/evaluate.ts";
import type { MultiTaskModel } from "../model/model.ts";
import type { StepRunner } from "./trainer.ts";
import { deriveSeed, mulberry32, shuffled } from "../core/random.ts";
import type { StepMetrics } from "./trainer.ts";
import type { TaskSampling, TrainConfig } from "../core/config.ts";

/** Batches per task of `balanced` sampling (see `TrainConfig.balancedSteps`). */
type BalancedSteps = TrainConfig["balancedSteps"];
import { TrainingError } from "../core/errors.ts";

/** Summary of one epoch. */
export interface EpochRecord {
  /** 1-based epoch number. */
  readonly epoch: number;
  /** Mean summed loss over the epoch's steps. */
  readonly loss: number;
  /**
   * Per task trained this epoch: its mean loss over the steps that had its
   * labels, and the running accuracy on training batches (with dropout; NaN
   * for pair tasks).
   */
  readonly tasks: Readonly<Record<string, { readonly loss: number; readonly accuracy: number }>>;
  /** Validation figures, when a validation set was given. */
  readonly validation?: EvalMetrics;
  /** Learning rate at the end of the epoch. */
  readonly learningRate: number;
  readonly seconds: number;
  /** Real (non-padding) tokens trained per second. */
  readonly tokensPerSecond: number;
  /** Global step at the end of the epoch. */
  readonly step: number;
}

/** Progress after a step. */
export interface StepProgress {
  readonly epoch: number;
  readonly epochs: number;
  readonly batch: number;
  readonly batches: number;
  readonly metrics: StepMetrics;
}

/** Options of {@linkcode fit}; the sampling ones ({@linkcode EpochBatchOptions}) draw each epoch's batches. */
export interface FitOptions extends EpochBatchOptions {
  readonly epochs: number;
  readonly batchSize: number;
  /** Seeds the data order. */
  readonly seed: number;
  readonly validation?: readonly EncodedSentence[];
  /** First epoch to run (1-based), for resuming. @default 1 */
  readonly startEpoch?: number;
  /** Called after every step. */
  readonly onStep?: (progress: StepProgress) => void;
  /** Called after every epoch, e.g. to save a checkpoint. */
  readonly onEpochEnd?: (record: EpochRecord) => void | Promise<void>;
  /** Called before every epoch, e.g. to unfreeze layers. */
  readonly beforeEpoch?: (epoch: number) => void | Promise<void>;
  /** Probability of replacing a training word id by `[UNK]` (see `wordDropout`). @default 0 */
  readonly wordDropout?: number;
  /** Builds a batch from its examples. @default padBatch */
  readonly batchOf?: (examples: readonly EncodedSentence[]) => PaddedBatch;
}

/**
 * Trains for `epochs` epochs and returns one record per epoch run.
 *
 * @param trainer a {@linkcode Trainer} or a data-parallel trainer
 * @param model the model validation runs on (synced from the trainer at epoch ends)
 */
export async function fit(
  trainer: StepRunner,
  model: MultiTaskModel,
  data: readonly EncodedSentence[],
  options: FitOptions,
): Promise<EpochRecord[]> {
  const history: EpochRecord[] = [];
  const lengths = data.map(exampleLength);
  const batchOf = options.batchOf ?? padBatch;
  for (let epoch = options.startEpoch ?? 1; epoch <= options.epochs; epoch++) {
    const batches = epochBatches(
      lengths,
      options.batchSize,
      deriveSeed(options.seed, "epoch", epoch),
      options,
    );
    await options.beforeEpoch?.(epoch);
    const started = performance.now();
    let loss = 0, tokens = 0;
    const sums = new Map<string, { loss: number; steps: number; correct: number; total: number }>();
    for (const [b, indices] of batches.entries()) {
      const padded = batchOf(indices.map((i) => data[i]!));
      const metrics = await trainer.trainPadded(
        wordDropout(padded, options.wordDropout ?? 0, deriveSeed(options.seed, "words", epoch, b)),
      );
      if (!Number.isFinite(metrics.loss) || !Number.isFinite(metrics.gradNorm)) {
        throw new TrainingError(
          `Training diverged at epoch ${epoch}, batch ${
            b + 1
          } of ${batches.length} (step ${trainer.step}): the loss is ${metrics.loss} and the gradient norm ${metrics.gradNorm} at learning rate ${
            metrics.learningRate.toExponential(2)
          }. The likely cause is a learning rate too high for this model (or a large weight decay); lower it, or keep gradient clipping on (train.clipNorm). Nothing was saved from this epoch; the last epoch-end checkpoint, if any, is kept`,
        );
      }
      loss += metrics.loss;
      for (const [task, m] of Object.entries(metrics.tasks)) {
        const s = sums.get(task) ?? { loss: 0, steps: 0, correct: 0, total: 0 };
        s.loss += m.loss;
        s.steps++;
        s.correct += m.correct;
        s.total += m.total;
        sums.set(task, s);
      }
      tokens += indices.reduce((n, i) => n + lengths[i]!, 0);
      options.onStep?.({
        epoch,
        epochs: options.epochs,
        batch: b + 1,
        batches: batches.length,
        metrics,
      });
    }
    const seconds = (performance.now() - started) / 1000;
    await trainer.syncModel();
    const steps = Math.max(1, batches.length);
    const record: EpochRecord = {
      epoch,
      loss: loss / steps,
      tasks: Object.fromEntries(
        [...sums].sort(([a], [b]) => a.localeCompare(b)).map((
          [task, s],
        ) => [task, { loss: s.loss / s.steps, accuracy: s.total > 0 ? s.correct / s.total : NaN }]),
      ),
      ...(options.validation !== undefined && options.validation.length > 0
        ? { validation: evaluate(model, options.validation) }
        : {}),
      learningRate: trainer.learningRate(),
      seconds,
      tokensPerSecond: tokens / seconds,
      step: trainer.step,
    };
    history.push(record);
    await options.onEpochEnd?.(record);
  }
  return history;
}

/** Options of {@linkcode epochBatches}. */
export interface EpochBatchOptions {
  /** Task pool of each sentence (see `taskPool` of data/encoding.ts); batches never mix pools. @default all in one pool */
  readonly pools?: readonly string[];
  /** How pools are mixed. @default "proportional" */
  readonly sampling?: TaskSampling;
  /** @default 2 */
  readonly temperature?: number;
  /** Batches per pool of `balanced` sampling. @default "smallest" */
  readonly balancedSteps?: BalancedSteps;
  /**
   * `balanced` sampling: a pool's batch count scaled by its task's factor
   * (pool ids are task names joined by `+`, as `taskPool` makes them; the
   * largest factor of a pool's tasks counts), at most the pool's batches. @default {}
   */
  readonly taskSteps?: Readonly<Record<string, number>>;
}

/**
 * Batches of one epoch. Each pool is shuffled and bucketed by length on its own;
 * the pools' batches are then mixed:
 *
 * 1. `proportional`: every batch once, in a shuffled order;
 * 2. `temperature`: as many batches as (1), each from a pool drawn with
 *    probability ∝ (pool size)^(1/T), cycling through that pool's batches;
 * 3. `round-robin`: as many batches as (1), pools in turn, cycling;
 * 4. `balanced`: from every pool as many batches as the smallest pool has (or,
 *    by `balancedSteps`, at most as many as the median or the largest pool
 *    has), spread evenly over the epoch, so tasks get equal numbers of steps; a
 *    larger pool gives a different random part of its batches each epoch (e.g.
 *    67k SST-2 phrases beside 14k CoNLL sentences: every epoch is one pass over
 *    CoNLL and as many phrase batches, alternating; with 5.7k STSb pairs beside
 *    them and `median`, also one pass over STSb, every fifth batch or so);
 *    `taskSteps` scales a pool's count (`{ sentiment: 2 }`: twice as many
 *    phrase batches).
 *
 * @returns lists of sentence indices
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { epochBatches } from "./fit.ts";
 * const lengths = [3, 3, 3, 3, 3, 3];
 * const pools = ["ner", "ner", "ner", "ner", "sentiment", "sentiment"];
 * const rr = epochBatches(lengths, 2, 7, { pools, sampling: "round-robin" });
 * assert.equal(rr.length, 3);
 * assert.deepEqual(rr.map((b) => pools[b[0]!]), ["ner", "sentiment", "ner"]);
 * const balanced = epochBatches(lengths, 2, 7, { pools, sampling: "balanced" });
 * assert.deepEqual(balanced.map((b) => pools[b[0]!]), ["ner", "sentiment"]);
 * const largest = epochBatches(lengths, 2, 7, { pools, sampling: "balanced", balancedSteps: "largest" });
 * assert.deepEqual(largest.map((b) => pools[b[0]!]), ["ner", "sentiment", "ner"]);
 * const more = epochBatches(lengths, 1, 7, { pools, sampling: "balanced", taskSteps: { ner: 2 } });
 * assert.deepEqual(more.map((b) => pools[b[0]!]), ["ner", "sentiment", "ner", "ner", "sentiment", "ner"]);
 * ```
 */
export function epochBatches(
  lengths: readonly number[],
  batchSize: number,
  seed: number,
  options: EpochBatchOptions = {},
): number[][] {
  const pools = options.pools ?? lengths.map(() => "");
  const ids = [...new Set(pools)].sort();
  const perPool = ids.map((pool) => {
    const members = [...lengths.keys()].filter((i) => pools[i] === pool);
    const order = shuffled(members, deriveSeed(seed, "pool", pool));
    return shuffled(bucketBatches(order, lengths, batchSize), deriveSeed(seed, "batches", pool));
  });
  const total = perPool.reduce((n, b) => n + b.length, 0);
  const sampling = options.sampling ?? "proportional";
  if (sampling === "proportional" || ids.length <= 1) {
    return ids.length === 1 ? perPool[0]! : shuffled(perPool.flat(), deriveSeed(seed, "mix"));
  }
  const next = perPool.map(() => 0);
  const take = (p: number) => perPool[p]![next[p]!++ % perPool[p]!.length]!;
  if (sampling === "round-robin") {
    return Array.from({ length: total }, (_, k) => take(k % ids.length));
  }
  if (sampling === "balanced") {
    const sizes = perPool.map((b) => b.length).sort((a, b) => a - b);
    const target = options.balancedSteps === "largest"
      ? sizes.at(-1)!
      : options.balancedSteps === "median"
      ? sizes[Math.floor((sizes.length - 1) / 2)]!
      : sizes[0]!;
    // Pool p's k-th of n batches sits at (k + 1/2) / n of the epoch: evenly spread.
    const scale = (pool: string) =>
      Math.max(...pool.split("+").map((task) => options.taskSteps?.[task] ?? 1));
    const slots = perPool.flatMap((batches, p) => {
      const n = Math.min(batches.length, Math.max(1, Math.round(target * scale(ids[p]!))));
      return Array.from({ length: n }, (_, k) => ({ at: (k + 0.5) / n, p, batch: batches[k]! }));
    });
    return slots.sort((a, b) => a.at - b.at || a.p - b.p).map((s) => s.batch);
  }
  const exponent = 1 / (options.temperature ?? 2);
  const weights = perPool.map((b) => b.reduce((n, batch) => n + batch.length, 0) ** exponent);
  const sum = weights.reduce((a, b) => a + b, 0);
  const random = mulberry32(deriveSeed(seed, "temperature"));
  return Array.from({ length: total }, () => {
    let r = random() * sum;
    let p = 0;
    while (p < weights.length - 1 && (r -= weights[p]!) >= 0) p++;
    return take(p);
  });
}
