/**
 * One optimisation step of the multi-task model: forward, summed task losses,
 * one backward pass over the trainable parameters, global-norm clipping, Adam.
 * The step returns plain numbers; no tensor outlives it.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { TrainConfig } from "./config.ts";
import { type BatchTensors, batchToTensors, disposeBatch, type PaddedBatch } from "./encoding.ts";
import { maskedCrossEntropy } from "./losses.ts";
import type { MultiTaskModel } from "./model.ts";
import { Adam, type AdamState } from "./optimizer.ts";
import { deriveSeed } from "./random.ts";
import type { StepRunner } from "./parallel.ts";
import { inverseTimeDecay } from "./schedule.ts";

/** What one step measured. */
export interface StepMetrics {
  /** Weighted sum of the task losses. */
  readonly loss: number;
  readonly nerLoss: number;
  readonly sentimentLoss: number;
  /** Correct / labelled NER tokens in the batch (dropout on). */
  readonly nerCorrect: number;
  readonly nerTotal: number;
  readonly sentimentCorrect: number;
  readonly sentimentTotal: number;
  /** Gradient global norm before clipping. */
  readonly gradNorm: number;
  /** Base learning rate used for this step. */
  readonly learningRate: number;
}

/** Options of {@linkcode Trainer}. */
export interface TrainerOptions {
  /** Training hyper-parameters. */
  readonly train: TrainConfig;
  /** Seeds dropout. */
  readonly seed: number;
  /** Which parameters train. @default all */
  readonly trainable?: (name: string) => boolean;
  /**
   * Data parallelism: combines this replica's gradients with the other replicas'
   * (an all-reduce returning the sum, identical on every replica). Called once
   * per step, synchronously, between backward pass and update.
   */
  readonly allReduce?: (grads: Readonly<Record<string, tf.Tensor>>) => Record<string, tf.Tensor>;
  /** This replica's index, mixed into dropout seeds. @default 0 */
  readonly replica?: number;
}

/** Options of {@linkcode Trainer.trainStep}. */
export interface StepOptions {
  /** Labelled NER tokens in the whole (all-replica) batch; default: this batch's. */
  readonly nerDenominator?: number;
  /** Labelled sentences in the whole (all-replica) batch; default: this batch's. */
  readonly sentimentDenominator?: number;
}

/**
 * Trains a {@linkcode MultiTaskModel} step by step.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend, MultiTaskModel, resolveConfig, Trainer } from "./mod.ts";
 * await initBackend("wasm");
 * const config = resolveConfig({}, "tiny");
 * const model = new MultiTaskModel(config.model, { vocabSize: 8, numNerTags: 3, numSentimentLabels: 2 }, 1);
 * const trainer = new Trainer(model, { train: config.train, seed: 1 });
 * const batch = {
 *   tokenIds: tf.tensor2d([[2, 4, 5]], [1, 3], "int32"), caseIds: tf.tensor2d([[7, 1, 1]], [1, 3], "int32"),
 *   mask: tf.ones([1, 3]) as tf.Tensor2D, nerLabels: tf.tensor2d([[-1, 1, 0]], [1, 3], "int32"),
 *   sentimentLabels: tf.tensor1d([1], "int32"),
 * };
 * const first = trainer.trainStep(batch).loss;
 * for (let i = 0; i < 20; i++) trainer.trainStep(batch);
 * assert.ok(trainer.trainStep(batch).loss < first);
 * ```
 */
export class Trainer implements StepRunner {
  readonly model: MultiTaskModel;
  readonly optimizer: Adam;
  readonly #train: TrainConfig;
  readonly #seed: number;
  readonly #params: [string, tf.Variable][];
  readonly #allReduce: TrainerOptions["allReduce"];
  readonly #replica: number;

  constructor(model: MultiTaskModel, options: TrainerOptions) {
    this.model = model;
    this.#train = options.train;
    this.#seed = options.seed;
    this.#allReduce = options.allReduce;
    this.#replica = options.replica ?? 0;
    const trainable = options.trainable ?? (() => true);
    this.#params = model.parameters.entries().filter(([name]) => trainable(name));
    this.optimizer = new Adam({
      beta1: options.train.beta1,
      beta2: options.train.beta2,
      epsilon: options.train.epsilon,
    });
  }

  /** Steps taken so far (the schedule's step). */
  get step(): number {
    return this.optimizer.step;
  }

  /** Names of the parameters this trainer updates. */
  get trainableNames(): string[] {
    return this.#params.map(([name]) => name);
  }

  /** Base learning rate at `step`. */
  learningRate(step: number = this.step): number {
    return inverseTimeDecay(step, {
      learningRate: this.#train.learningRate,
      decayRate: this.#train.decayRate,
    });
  }

  /**
   * One step on one batch. The batch tensors stay owned by the caller.
   * @returns losses, batch accuracy counts and the learning rate, as numbers
   */
  trainStep(batch: BatchTensors, options: StepOptions = {}): StepMetrics {
    const learningRate = this.learningRate();
    const dropoutSeed = this.#replica === 0
      ? deriveSeed(this.#seed, "dropout", this.step)
      : deriveSeed(this.#seed, "dropout", this.step, this.#replica);
    const variables = this.#params.map(([, v]) => v);
    const summary = tf.tidy(() => {
      let parts: tf.Tensor[] = [];
      const { value, grads } = tf.variableGrads(() => {
        const out = this.model.forward(batch, { dropoutSeed });
        const nerLoss = maskedCrossEntropy(out.nerLogits, batch.nerLabels, options.nerDenominator);
        const sentimentLoss = maskedCrossEntropy(
          out.sentimentLogits,
          batch.sentimentLabels,
          options.sentimentDenominator,
        );
        parts = [nerLoss, sentimentLoss, ...accuracyCounts(out, batch)].map((t) => tf.keep(t));
        return nerLoss.mul(this.#train.nerLossWeight)
          .add(sentimentLoss.mul(this.#train.sentimentLossWeight)) as tf.Scalar;
      }, variables);
      let byName: Record<string, tf.Tensor> = {};
      for (const [name, v] of this.#params) {
        const g = grads[v.name];
        if (g !== undefined) byName[name] = g;
      }
      if (this.#allReduce !== undefined) byName = this.#allReduce(byName);
      const gradNorm = globalNorm(Object.values(byName));
      if (this.#train.clipNorm > 0) {
        const scale = tf.minimum(1, tf.div(this.#train.clipNorm, gradNorm.add(1e-6)));
        for (const name of Object.keys(byName)) byName[name] = byName[name]!.mul(scale);
      }
      this.optimizer.apply(this.#params, byName, () => learningRate);
      const summary = tf.stack([value, ...parts, gradNorm]);
      tf.dispose(parts);
      return summary;
    });
    const [loss, nerLoss, sentimentLoss, nc, nt, sc, st, gradNorm] = readNumbers(summary);
    summary.dispose();
    return {
      loss: loss!,
      nerLoss: nerLoss!,
      sentimentLoss: sentimentLoss!,
      nerCorrect: nc!,
      nerTotal: nt!,
      sentimentCorrect: sc!,
      sentimentTotal: st!,
      gradNorm: gradNorm!,
      learningRate,
    };
  }

  /** {@linkcode trainStep} on a padded batch (tensors made and freed here). */
  trainPadded(padded: PaddedBatch): StepMetrics {
    const batch = batchToTensors(padded);
    try {
      return this.trainStep(batch);
    } finally {
      disposeBatch(batch);
    }
  }

  /** The model is trained in place: nothing to sync. */
  syncModel(): Promise<void> {
    return Promise.resolve();
  }

  /** Optimizer state for checkpoints (the caller owns the tensors). */
  optimizerState(): Promise<AdamState> {
    return Promise.resolve(this.getOptimizerState());
  }

  /** Optimizer state for checkpoints (the caller owns the tensors). */
  getOptimizerState(): AdamState {
    return this.optimizer.getState();
  }

  /** Restores optimizer state from a checkpoint. */
  setOptimizerState(state: AdamState): void {
    this.optimizer.setState(state);
  }

  /** Frees optimizer state (not the model). */
  dispose(): void {
    this.optimizer.dispose();
  }
}

/**
 * Correct and labelled counts for both heads, as four scalars.
 * @internal
 */
export function accuracyCounts(
  out: { nerLogits: tf.Tensor3D; sentimentLogits: tf.Tensor2D },
  labels: { nerLabels: tf.Tensor2D; sentimentLabels: tf.Tensor1D },
): tf.Scalar[] {
  return tf.tidy(() => {
    const count = (logits: tf.Tensor, gold: tf.Tensor) => {
      const valid = gold.greaterEqual(0);
      const hit = logits.argMax(-1).cast("int32").equal(gold).logicalAnd(valid);
      return [hit.cast("float32").sum(), valid.cast("float32").sum()] as tf.Scalar[];
    };
    return [
      ...count(out.nerLogits, labels.nerLabels),
      ...count(out.sentimentLogits, labels.sentimentLabels),
    ];
  });
}

function globalNorm(tensors: tf.Tensor[]): tf.Scalar {
  if (tensors.length === 0) return tf.scalar(0);
  return tf.addN(tensors.map((t) => t.square().sum())).sqrt() as tf.Scalar;
}

function readNumbers(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}
