/**
 * One optimisation step of the multi-task model: forward, summed task losses,
 * one backward pass over the trainable parameters, global-norm clipping, Adam.
 * The step returns plain numbers; no tensor outlives it.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { TrainConfig } from "./config.ts";
import {
  type BatchTensors,
  batchToTensors,
  disposeBatch,
  distinctRows,
  localIds,
  type PaddedBatch,
} from "./encoding.ts";
import { ROW_SPARSE_TABLES } from "./encoder.ts";
import { maskedCrossEntropy } from "./losses.ts";
import type { MultiTaskModel } from "./model.ts";
import { Adam, type AdamState } from "./optimizer.ts";
import { deriveSeed } from "./random.ts";
import type { StepRunner } from "./parallel.ts";
import { decays, isFrozen, learningRateMultiplier } from "./param_groups.ts";
import { learningRateAt } from "./schedule.ts";

/** What one step measured. */
export interface StepMetrics {
  /** Weighted sum of the task losses (with uncertainty weighting: the full objective). */
  readonly loss: number;
  readonly nerLoss: number;
  readonly sentimentLoss: number;
  /** Correct / labelled NER tokens in the batch (dropout on). */
  readonly nerCorrect: number;
  readonly nerTotal: number;
  readonly sentimentCorrect: number;
  readonly sentimentTotal: number;
  /** Gradient global norm before clipping (0 when nothing trains). */
  readonly gradNorm: number;
  /** Base learning rate used for this step (before layer-wise multipliers). */
  readonly learningRate: number;
  /** Effective weight of each task's loss this step. */
  readonly nerWeight: number;
  readonly sentimentWeight: number;
}

/** Options of {@linkcode Trainer}. */
export interface TrainerOptions {
  /** Training hyper-parameters: schedule, layer-wise rates, optimizer, freezing, task weighting. */
  readonly train: TrainConfig;
  /** Seeds dropout. */
  readonly seed: number;
  /** Which parameters train; overrides `train.freeze`. */
  readonly trainable?: (name: string) => boolean;
  /** Steps of the whole run, for schedules that need it (linear, cosine, slanted triangular). */
  readonly totalSteps?: number;
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
  /**
   * With lazy embedding updates: the rows of each row-sparse table that the whole
   * (all-replica) batch reads (see `distinctRows`); default: this batch's.
   * Every replica must pass the same rows, so their gradients line up.
   */
  readonly rows?: Readonly<Record<string, Int32Array>>;
}

/** Names of the learned log-variances of uncertainty weighting. */
export const NER_LOG_VARIANCE = "loss/ner_log_variance";
export const SENTIMENT_LOG_VARIANCE = "loss/sentiment_log_variance";

/**
 * Trains a {@linkcode MultiTaskModel} step by step: one backward pass over the
 * trainable parameters, global-norm clipping, Adam or AdamW with a per-parameter
 * rate (schedule × layer-wise multiplier). Frozen parameters get no gradient and
 * no optimizer state.
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
 *   affixIds: tf.zeros([1, 3, 2], "int32") as tf.Tensor3D,
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
  readonly #totalSteps: number;
  readonly #allReduce: TrainerOptions["allReduce"];
  readonly #replica: number;
  readonly #logVariances: [string, tf.Variable][];
  #params: [string, tf.Variable][] = [];

  constructor(model: MultiTaskModel, options: TrainerOptions) {
    this.model = model;
    this.#train = options.train;
    this.#seed = options.seed;
    this.#totalSteps = options.totalSteps ?? 0;
    this.#allReduce = options.allReduce;
    this.#replica = options.replica ?? 0;
    if (this.#train.schedule !== "inverse-time" && this.#totalSteps <= 0) {
      throw new RangeError(
        `Cannot use the ${this.#train.schedule} schedule: the trainer needs totalSteps`,
      );
    }
    this.setTrainable(options.trainable ?? ((name) => !isFrozen(options.train.freeze, name)));
    this.#logVariances = options.train.taskWeighting === "uncertainty"
      ? [NER_LOG_VARIANCE, SENTIMENT_LOG_VARIANCE].map((n) => [n, tf.variable(tf.scalar(0))])
      : [];
    this.optimizer = new Adam({
      beta1: options.train.beta1,
      beta2: options.train.beta2,
      epsilon: options.train.epsilon,
      weightDecay: options.train.optimizer === "adamw" ? options.train.weightDecay : 0,
      decayFilter: decays,
    });
  }

  /** Steps taken so far (the schedule's step). */
  get step(): number {
    return this.optimizer.step;
  }

  /** Names of the model parameters this trainer updates now. */
  get trainableNames(): string[] {
    return this.#params.map(([name]) => name);
  }

  /** Names of everything that gets a gradient: trainable parameters and loss weights. */
  get gradientNames(): string[] {
    return [...this.trainableNames, ...this.#logVariances.map(([n]) => n)];
  }

  /** Changes which parameters train (e.g. to unfreeze between epochs). Adam state is kept by name. */
  setTrainable(trainable: ((name: string) => boolean) | readonly string[]): void {
    const keep = typeof trainable === "function"
      ? trainable
      : ((set) => (name: string) => set.has(name))(new Set(trainable));
    this.#params = this.model.parameters.entries().filter(([name]) => keep(name));
  }

  /** Base learning rate at `step` from the configured schedule. */
  learningRate(step: number = this.step): number {
    return learningRateAt(this.#train.schedule, step, {
      learningRate: this.#train.learningRate,
      decayRate: this.#train.decayRate,
      totalSteps: this.#totalSteps,
      warmupSteps: this.#train.warmupSteps,
    });
  }

  /** Rate of parameter `name` when the base rate is `base` (layer-wise decay, head multiplier). */
  rateFor(name: string, base: number = this.learningRate()): number {
    if (name.startsWith("loss/")) return base;
    return base * learningRateMultiplier(name, this.model.config.numLayers, {
      layerDecay: this.#train.layerLrDecay,
      headMultiplier: this.#train.headLrMultiplier,
    });
  }

  /** Current task-loss weights: static, or exp(-s) of the learned log-variances. */
  taskWeights(): { ner: number; sentiment: number } {
    if (this.#logVariances.length === 0) {
      return { ner: this.#train.nerLossWeight, sentiment: this.#train.sentimentLossWeight };
    }
    const [ner, sentiment] = this.#logVariances.map(([, v]) => Math.exp(-v.dataSync()[0]!));
    return {
      ner: this.#train.nerLossWeight * ner!,
      sentiment: this.#train.sentimentLossWeight * sentiment!,
    };
  }

  /** Learned log-variances (uncertainty weighting) by name, for checkpoints. */
  getLossState(): Record<string, number> {
    return Object.fromEntries(this.#logVariances.map(([n, v]) => [n, v.dataSync()[0]!]));
  }

  /** Restores learned log-variances saved with {@linkcode getLossState}. */
  setLossState(state: Readonly<Record<string, number>>): void {
    for (const [name, v] of this.#logVariances) {
      if (state[name] !== undefined) v.assign(tf.scalar(state[name]!));
    }
  }

  /**
   * One step on one batch. The batch tensors stay owned by the caller.
   * @returns losses, batch accuracy counts, the learning rate and task weights, as numbers
   */
  trainStep(batch: BatchTensors, options: StepOptions = {}): StepMetrics {
    const learningRate = this.learningRate();
    const dropoutSeed = this.#replica === 0
      ? deriveSeed(this.#seed, "dropout", this.step)
      : deriveSeed(this.#seed, "dropout", this.step, this.#replica);
    const sparse = this.#rowSparse(batch, options.rows);
    const empty = batch.tokenIds.shape[0] === 0;
    const inputs = { ...batch, ...sparse.inputs } as BatchTensors;
    const rowNames = new Set(Object.keys(sparse.rows));
    // Row-sparse tables are differentiated through their gathered rows, not whole.
    const differentiated = [
      ...this.#params.filter(([name]) => !rowNames.has(name)),
      ...sparse.variables,
      ...this.#logVariances,
    ];
    const objective = (parts: tf.Tensor[]) => () => {
      const out = this.model.forward(inputs, {
        ...(differentiated.length > 0 ? { dropoutSeed } : {}),
        embeddingRows: Object.fromEntries(sparse.variables) as Record<string, tf.Tensor2D>,
      });
      const nerLoss = maskedCrossEntropy(out.nerLogits, batch.nerLabels, options.nerDenominator);
      const sentimentLoss = maskedCrossEntropy(
        out.sentimentLogits,
        batch.sentimentLabels,
        options.sentimentDenominator,
      );
      parts.push(...[nerLoss, sentimentLoss, ...accuracyCounts(out, batch)].map((t) => tf.keep(t)));
      return this.#weighted(nerLoss, sentimentLoss);
    };
    let summary: tf.Tensor;
    try {
      summary = tf.tidy(() => {
        const parts: tf.Tensor[] = [];
        if (differentiated.length === 0 && empty) {
          return tf.zeros([8]);
        }
        if (differentiated.length === 0) {
          // Everything frozen: evaluate only, no gradients, no update.
          const value = objective(parts)();
          const summary = tf.stack([value, ...parts, tf.scalar(0)]);
          tf.dispose(parts);
          return summary;
        }
        // A replica whose slice of the batch is empty contributes zero gradients.
        const { value, grads } = empty
          ? {
            value: tf.scalar(0),
            grads: Object.fromEntries(differentiated.map(([, v]) => [v.name, tf.zerosLike(v)])),
          }
          : tf.variableGrads(objective(parts), differentiated.map(([, v]) => v));
        if (empty) parts.push(...Array.from({ length: 6 }, () => tf.scalar(0)));
        let byName: Record<string, tf.Tensor> = {};
        for (const [name, v] of differentiated) {
          const g = grads[v.name];
          if (g !== undefined) byName[name] = g;
        }
        if (this.#allReduce !== undefined) byName = this.#allReduce(byName);
        const gradNorm = globalNorm(Object.values(byName));
        const scale = this.#train.clipNorm > 0
          ? tf.minimum(1, tf.div(this.#train.clipNorm, gradNorm.add(1e-6))) as tf.Scalar
          : undefined;
        this.optimizer.apply(
          [...this.#params, ...this.#logVariances],
          byName,
          (name) => this.rateFor(name, learningRate),
          scale,
          sparse.rows,
        );
        const summary = tf.stack([value, ...parts, gradNorm]);
        tf.dispose(parts);
        return summary;
      });
    } finally {
      tf.dispose([...Object.values(sparse.inputs), ...sparse.variables.map(([, v]) => v)]);
    }
    const [loss, nerLoss, sentimentLoss, nc, nt, sc, st, gradNorm] = readNumbers(summary);
    summary.dispose();
    const weights = this.taskWeights();
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
      nerWeight: weights.ner,
      sentimentWeight: weights.sentiment,
    };
  }

  /**
   * For lazy embedding updates: per trainable row-sparse table, the rows the
   * batch reads, a variable holding them (differentiated instead of the table),
   * and the batch's ids remapped to those rows.
   */
  #rowSparse(
    batch: BatchTensors,
    given: Readonly<Record<string, Int32Array>> | undefined,
  ): {
    rows: Record<string, Int32Array>;
    variables: [string, tf.Variable][];
    inputs: Partial<Record<"tokenIds" | "affixIds", tf.Tensor>>;
  } {
    const out = {
      rows: {} as Record<string, Int32Array>,
      variables: [] as [string, tf.Variable][],
      inputs: {} as Partial<Record<"tokenIds" | "affixIds", tf.Tensor>>,
    };
    if (this.#train.embeddingUpdates !== "lazy") return out;
    for (const [name, table] of this.#params) {
      const key = ROW_SPARSE_TABLES[name];
      if (key === undefined) continue;
      const ids = batch[key].dataSync();
      const rows = given?.[name] ?? distinctRows(ids);
      out.rows[name] = rows;
      out.inputs[key] = tf.tensor(localIds(ids, rows), batch[key].shape, "int32");
      const gathered = tf.tidy(() => tf.gather(table, tf.tensor1d(rows, "int32")));
      out.variables.push([name, tf.variable(gathered, true)]);
      gathered.dispose();
    }
    return out;
  }

  /**
   * The objective: static `w·L` per task, or with uncertainty weighting
   * `w·(exp(-s)·L + s/2)` per task, s = log σ² learned (Kendall et al., 2018, eq. 10).
   */
  #weighted(nerLoss: tf.Scalar, sentimentLoss: tf.Scalar): tf.Scalar {
    const wN = this.#train.nerLossWeight;
    const wS = this.#train.sentimentLossWeight;
    if (this.#logVariances.length === 0) {
      return nerLoss.mul(wN).add(sentimentLoss.mul(wS)) as tf.Scalar;
    }
    const [sN, sS] = this.#logVariances.map(([, v]) => v) as [tf.Variable, tf.Variable];
    const term = (loss: tf.Scalar, s: tf.Variable) => tf.exp(s.neg()).mul(loss).add(s.mul(0.5));
    return term(nerLoss, sN).mul(wN).add(term(sentimentLoss, sS).mul(wS)) as tf.Scalar;
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

  /** Learned loss weights, for checkpoints. */
  lossState(): Record<string, number> {
    return this.getLossState();
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

  /** Frees optimizer state and loss weights (not the model). */
  dispose(): void {
    this.optimizer.dispose();
    for (const [, v] of this.#logVariances) v.dispose();
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
