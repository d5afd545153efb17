/**
 * The epoch loop: seeded shuffling, length-bucketed batches, one
 * {@linkcode Trainer.trainStep} per batch, validation at each epoch end, and
 * hooks for progress and checkpointing. The order of epoch `e` depends only on
 * (seed, e), so a run resumed at an epoch boundary sees the same batches.
 * @module
 */
import { bucketBatches, type EncodedSentence, padBatch } from "./encoding.ts";
import { type EvalMetrics, evaluate } from "./evaluate.ts";
import type { MultiTaskModel } from "./model.ts";
import type { StepRunner } from "./parallel.ts";
import { deriveSeed, shuffled } from "./random.ts";
import type { StepMetrics } from "./trainer.ts";

/** Summary of one epoch. */
export interface EpochRecord {
  /** 1-based epoch number. */
  readonly epoch: number;
  /** Mean summed loss over the epoch's steps. */
  readonly loss: number;
  readonly nerLoss: number;
  readonly sentimentLoss: number;
  /** Running accuracy on training batches (with dropout). */
  readonly nerAccuracy: number;
  readonly sentimentAccuracy: number;
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

/** Options of {@linkcode fit}. */
export interface FitOptions {
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
  const lengths = data.map((s) => s.tokenIds.length);
  for (let epoch = options.startEpoch ?? 1; epoch <= options.epochs; epoch++) {
    const batches = epochBatches(
      lengths,
      options.batchSize,
      deriveSeed(options.seed, "epoch", epoch),
    );
    const started = performance.now();
    let loss = 0, nerLoss = 0, sentimentLoss = 0, nc = 0, nt = 0, sc = 0, st = 0, tokens = 0;
    for (const [b, indices] of batches.entries()) {
      const metrics = await trainer.trainPadded(padBatch(indices.map((i) => data[i]!)));
      loss += metrics.loss;
      nerLoss += metrics.nerLoss;
      sentimentLoss += metrics.sentimentLoss;
      nc += metrics.nerCorrect;
      nt += metrics.nerTotal;
      sc += metrics.sentimentCorrect;
      st += metrics.sentimentTotal;
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
      nerLoss: nerLoss / steps,
      sentimentLoss: sentimentLoss / steps,
      nerAccuracy: nc / nt,
      sentimentAccuracy: sc / st,
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

/**
 * Batches of one epoch: a seeded shuffle, bucketed by length, batch order shuffled.
 * @returns lists of sentence indices
 */
export function epochBatches(
  lengths: readonly number[],
  batchSize: number,
  seed: number,
): number[][] {
  const order = shuffled([...lengths.keys()], seed);
  return shuffled(bucketBatches(order, lengths, batchSize), deriveSeed(seed, "batches"));
}
