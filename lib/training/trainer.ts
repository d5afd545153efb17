/**
 * One optimisation step of the multi-task model: forward through the heads of
 * the tasks the batch is labelled for, the weighted sum of their losses, one
 * backward pass over the trainable parameters, global-norm clipping, Adam.
 * The step returns plain numbers; no tensor outlives it.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { TrainConfig } from "../core/config.ts";
import { deriveSeed } from "../core/random.ts";
import {
  batchGold,
  batchTasks,
  type BatchTensors,
  batchToTensors,
  disposeBatch,
  distinctRows,
  localIds,
  type PaddedBatch,
} from "../data/encoding.ts";
import { ROW_SPARSE_TABLES } from "../model/encoder.ts";
import { headPrefix, taskTerms } from "../model/heads.ts";
import type { MultiTaskModel } from "../model/model.ts";
import { Adam, type AdamState } from "./optimizer.ts";
import {
  backboneEntryStage,
  decays,
  isFrozen,
  learningRateMultiplier,
  type SelectorContext,
} from "./param_groups.ts";
import { learningRateAt } from "./schedule.ts";

/** What one step measured for one task. */
export interface TaskStepMetrics {
  /** Mean loss over the task's labels in the batch. */
  readonly loss: number;
  /** Correct and labelled predictions in the batch (dropout on; 0 and 0 for pair tasks). */
  readonly correct: number;
  readonly total: number;
  /** Effective weight of the task's loss this step. */
  readonly weight: number;
}

/** What one step measured. */
export interface StepMetrics {
  /** Weighted sum of the task losses (with uncertainty weighting: the full objective). */
  readonly loss: number;
  /** Per task the batch is labelled for. */
  readonly tasks: Readonly<Record<string, TaskStepMetrics>>;
  /** Gradient global norm before clipping (0 when nothing trains). */
  readonly gradNorm: number;
  /** Base learning rate used for this step (before layer-wise multipliers). */
  readonly learningRate: number;
  /** Data-parallel steps: where the step's time went (each phase a mean over the replicas). */
  readonly timing?: StepTiming;
  /** Data-parallel steps: each replica's compute time, in replica order. */
  readonly replicaComputeMs?: readonly number[];
}

/**
 * Where a data-parallel step's time went, in ms, averaged over the replicas:
 * forward and backward pass (`compute`), writing and summing gradients
 * (`reduce`), the sharded Adam update (`optimizer`), copying the updated
 * values into the replica's tensors (`gather`), waiting at barriers (`wait`),
 * and the main thread's part: cutting the batch, messages (`coordination`).
 */
export interface StepTiming {
  readonly computeMs: number;
  readonly reduceMs: number;
  readonly optimizerMs: number;
  readonly gatherMs: number;
  readonly waitMs: number;
  readonly coordinationMs: number;
}

/** What runs training steps: a {@linkcode Trainer} or a data-parallel trainer. */
export interface StepRunner {
  /** Steps taken so far. */
  readonly step: number;
  /** Base learning rate at the current step. */
  learningRate(): number;
  /** One step on one padded batch. */
  trainPadded(batch: PaddedBatch): StepMetrics | Promise<StepMetrics>;
  /** Brings the main-thread model up to date (no-op for a single trainer). */
  syncModel(): Promise<void>;
  /** Optimizer state for checkpoints. */
  optimizerState(): Promise<AdamState>;
  /** Changes which parameters train, between steps. */
  setTrainable(names: readonly string[]): void | Promise<void>;
  /** Learned loss weights (uncertainty weighting), for checkpoints. */
  lossState(): Record<string, number> | Promise<Record<string, number>>;
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
   * Data parallelism: applies the step's update instead of this trainer's own
   * optimizer (the sharded optimizer of `parallel.ts`), from this replica's
   * gradients; returns the global gradient norm. Called once per step,
   * synchronously, between backward pass and the end of the step.
   */
  readonly applyUpdate?: (update: ReplicaUpdate) => number;
  /** This replica's index, mixed into dropout seeds. @default 0 */
  readonly replica?: number;
}

/** What a replica hands the sharded optimizer each step (see `TrainerOptions.applyUpdate`). */
export interface ReplicaUpdate {
  /** Everything that gets a gradient this step, in {@linkcode Trainer.gradientNames} order. */
  readonly names: readonly string[];
  /** This replica's gradients by name (a row-sparse table's: of `rows` only). */
  readonly grads: Readonly<Record<string, tf.Tensor>>;
  /** The variables behind the names, to receive the updated values. */
  readonly variables: ReadonlyMap<string, tf.Variable>;
  /** Row-sparse tables: the rows their gradients cover. */
  readonly rows: Readonly<Record<string, Int32Array>>;
  /** This step's learning rate of a name. */
  readonly learningRate: (name: string) => number;
  /** The 1-based update count (Adam's bias correction). */
  readonly step: number;
}

/** Options of {@linkcode Trainer.trainStep}. */
export interface StepOptions {
  /**
   * Per task, its labels in the whole (all-replica) batch: the denominator of
   * its mean loss; default: this batch's.
   */
  readonly denominators?: Readonly<Record<string, number>>;
  /**
   * With lazy embedding updates: the rows of each row-sparse table that the whole
   * (all-replica) batch reads (see `distinctRows`); default: this batch's.
   * Every replica must pass the same rows, so their gradients line up.
   */
  readonly rows?: Readonly<Record<string, Int32Array>>;
}

/** Name of a task's learned log-variance (uncertainty weighting). */
export function logVarianceName(task: string): string {
  return `loss/${task}_log_variance`;
}

/**
 * Trains a {@linkcode MultiTaskModel} step by step: one backward pass over the
 * trainable parameters, global-norm clipping, Adam or AdamW with a per-parameter
 * rate (schedule × layer-wise multiplier). Frozen parameters get no gradient and
 * no optimizer state; the heads of tasks a batch has no labels for do not run,
 * and their parameters are left alone that step.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend/backend.ts";
 * import { resolveConfig } from "../core/config.ts";
 * import { MultiTaskModel } from "../model/model.ts";
 * import { Trainer } from "./trainer.ts";
 * await initBackend("wasm");
 * const config = resolveConfig({}, "tiny");
 * const tasks = [{ name: "ner", kind: "token", numLabels: 3 }, { name: "sentiment", kind: "sentence", numLabels: 2 }] as const;
 * const model = new MultiTaskModel(config.model, { vocabSize: 8, tasks }, 1);
 * const trainer = new Trainer(model, { train: config.train, seed: 1 });
 * const batch = {
 *   tokenIds: tf.tensor2d([[2, 4, 5]], [1, 3], "int32"), caseIds: tf.tensor2d([[7, 1, 1]], [1, 3], "int32"),
 *   affixIds: tf.zeros([1, 3, 2], "int32") as tf.Tensor3D, mask: tf.ones([1, 3]) as tf.Tensor2D,
 *   tokenLabels: { ner: tf.tensor2d([[-1, 1, 0]], [1, 3], "int32") },
 *   sentenceLabels: { sentiment: tf.tensor1d([1], "int32") },
 * };
 * const first = trainer.trainStep(batch);
 * assert.deepEqual(Object.keys(first.tasks), ["ner", "sentiment"]);
 * for (let i = 0; i < 20; i++) trainer.trainStep(batch);
 * assert.ok(trainer.trainStep(batch).loss < first.loss);
 * ```
 */
export class Trainer implements StepRunner {
  readonly model: MultiTaskModel;
  readonly optimizer: Adam;
  readonly #train: TrainConfig;
  readonly #seed: number;
  readonly #totalSteps: number;
  readonly #applyUpdate: TrainerOptions["applyUpdate"];
  readonly #replica: number;
  readonly #logVariances: Map<string, tf.Variable>;
  readonly #context: SelectorContext;
  #params: [string, tf.Variable][] = [];
  /** Where batches enter the pretrained backbone (see `backboneEntryStage`). */
  #backboneStage = 0;

  constructor(model: MultiTaskModel, options: TrainerOptions) {
    this.model = model;
    this.#train = options.train;
    this.#seed = options.seed;
    this.#totalSteps = options.totalSteps ?? 0;
    this.#applyUpdate = options.applyUpdate;
    this.#replica = options.replica ?? 0;
    if (this.#train.schedule !== "inverse-time" && this.#totalSteps <= 0) {
      throw new RangeError(
        `Cannot use the ${this.#train.schedule} schedule: the trainer needs totalSteps`,
      );
    }
    this.#context = { backboneLayers: model.backbone?.spec.layers.length ?? 0 };
    this.setTrainable(
      options.trainable ?? ((name) => !isFrozen(options.train.freeze, name, this.#context)),
    );
    this.#logVariances = new Map(
      options.train.taskWeighting === "uncertainty"
        ? [...model.heads.keys()].map((task) => [task, tf.variable(tf.scalar(0))])
        : [],
    );
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

  /**
   * Names of everything that gets a gradient in a step on `tasks`: the trainable
   * parameters of the encoder and of those tasks' heads, then their loss
   * weights — the order the all-reduce sees them in.
   */
  gradientNames(tasks: readonly string[]): string[] {
    return [
      ...this.#stepParams(tasks).map(([name]) => name),
      ...tasks.filter((t) => this.#logVariances.has(t)).map(logVarianceName),
    ];
  }

  /** Changes which parameters train (e.g. to unfreeze between epochs). Adam state is kept by name. */
  setTrainable(trainable: ((name: string) => boolean) | readonly string[]): void {
    const keep = typeof trainable === "function"
      ? trainable
      : ((set) => (name: string) => set.has(name))(new Set(trainable));
    this.#params = this.model.parameters.entries().filter(([name]) => keep(name));
    this.#backboneStage = backboneEntryStage(
      this.model.parameters.names(),
      keep,
      this.#context.backboneLayers ?? 0,
    );
  }

  /**
   * The stage at which batches enter the pretrained backbone: the stages
   * below it are frozen, run without dropout, and may be cached (0 without a backbone).
   */
  get backboneStage(): number {
    return this.#backboneStage;
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
      scope: this.#train.layerLrDecayScope,
      headMultiplier: this.#train.headLrMultiplier,
      ...this.#context,
    });
  }

  /** Current weight of each task's loss: static, or times exp(-s) of its learned log-variance. */
  taskWeights(): Record<string, number> {
    return Object.fromEntries([...this.model.heads.keys()].map((task) => {
      const s = this.#logVariances.get(task);
      const learned = s === undefined ? 1 : Math.exp(-s.dataSync()[0]!);
      return [task, this.#staticWeight(task) * learned];
    }));
  }

  /** Learned log-variances (uncertainty weighting) by name, for checkpoints. */
  getLossState(): Record<string, number> {
    return Object.fromEntries(
      [...this.#logVariances].map(([task, v]) => [logVarianceName(task), v.dataSync()[0]!]),
    );
  }

  /** Restores learned log-variances saved with {@linkcode getLossState}. */
  setLossState(state: Readonly<Record<string, number>>): void {
    for (const [task, v] of this.#logVariances) {
      const value = state[logVarianceName(task)];
      if (value !== undefined) v.assign(tf.scalar(value));
    }
  }

  /**
   * One step on one batch: the frozen backbone stages outside the tape, the
   * objective and its gradients, the update. The batch tensors stay owned by
   * the caller.
   * @returns the objective, per-task losses and accuracy counts, the gradient norm
   *   and the learning rate, as numbers
   */
  trainStep(batch: BatchTensors, options: StepOptions = {}): StepMetrics {
    const started = performance.now();
    let optimizerMs = 0;
    const learningRate = this.learningRate();
    const tasks = batchTasks(batch).filter((t) => this.model.heads.has(t));
    const params = this.#stepParams(tasks);
    const sparse = this.#rowSparse(batch, params, options.rows);
    const backbone = batch.backbone !== undefined && batch.backbone.stage < this.#backboneStage
      ? this.model.advanceBackbone(batch.backbone, this.#backboneStage)
      : undefined;
    const inputs = {
      ...batch,
      ...sparse.inputs,
      ...(backbone !== undefined ? { backbone } : {}),
    } as BatchTensors;
    const empty = batch.tokenIds.shape[0] === 0;
    const logVariances = tasks.filter((t) => this.#logVariances.has(t))
      .map((t) => [logVarianceName(t), this.#logVariances.get(t)!] as [string, tf.Variable]);
    // Row-sparse tables are differentiated through their gathered rows, not whole.
    const rowNames = new Set(Object.keys(sparse.rows));
    const differentiated = [
      ...params.filter(([name]) => !rowNames.has(name)),
      ...sparse.variables,
      ...logVariances,
    ];
    const dropoutSeed = differentiated.length === 0 ? undefined : this.#dropoutSeed();
    let summary: tf.Tensor;
    try {
      summary = tf.tidy(() => {
        if (differentiated.length === 0 && empty) return tf.zeros([2 + 3 * tasks.length]);
        const terms: tf.Tensor[] = []; // per task: loss, correct, total (kept)
        const objective = () =>
          this.#objective(inputs, batch, tasks, dropoutSeed, sparse.variables, options, terms);
        // Everything frozen: evaluate only, no gradients, no update.
        if (differentiated.length === 0) return stackSummary(objective(), terms, tf.scalar(0));
        const { value, grads } = gradients(objective, differentiated, empty, terms, tasks.length);
        const updateStarted = performance.now();
        const update = { params, logVariances, rows: sparse.rows, learningRate, tasks };
        const gradNorm = this.#update(grads, update);
        optimizerMs = performance.now() - updateStarted;
        return stackSummary(value, terms, gradNorm);
      });
    } finally {
      tf.dispose([...Object.values(sparse.inputs), ...sparse.variables.map(([, v]) => v)]);
      if (backbone !== undefined) disposeNew(backbone, batch.backbone!);
    }
    const numbers = Array.from(summary.dataSync());
    summary.dispose();
    const weights = this.taskWeights();
    return {
      timing: {
        computeMs: performance.now() - started - optimizerMs,
        reduceMs: 0,
        optimizerMs,
        gatherMs: 0,
        waitMs: 0,
        coordinationMs: 0,
      },
      loss: numbers[0]!,
      tasks: Object.fromEntries(tasks.map((task, i) => [task, {
        loss: numbers[1 + 3 * i]!,
        correct: numbers[2 + 3 * i]!,
        total: numbers[3 + 3 * i]!,
        weight: weights[task]!,
      }])),
      gradNorm: numbers.at(-1)!,
      learningRate,
    };
  }

  /** This step's dropout seed (each replica its own). */
  #dropoutSeed(): number {
    return this.#replica === 0
      ? deriveSeed(this.#seed, "dropout", this.step)
      : deriveSeed(this.#seed, "dropout", this.step, this.#replica);
  }

  /**
   * The objective: the forward pass, each task's terms through its head
   * ({@linkcode taskTerms}), weighted ({@linkcode Trainer.#weighted}). Each
   * task's loss, correct and total are kept and pushed onto `terms`.
   */
  #objective(
    inputs: BatchTensors,
    batch: BatchTensors,
    tasks: readonly string[],
    dropoutSeed: number | undefined,
    rows: readonly [string, tf.Variable][],
    options: StepOptions,
    terms: tf.Tensor[],
  ): tf.Scalar {
    const out = this.model.forward(inputs, {
      ...(dropoutSeed !== undefined ? { dropoutSeed } : {}),
      embeddingRows: Object.fromEntries(rows) as Record<string, tf.Tensor2D>,
      tasks,
    });
    const losses = tasks.map((task) => {
      const { loss, accuracy } = taskTerms(
        this.model.heads.get(task)!,
        out.outputs[task]!,
        batchGold(batch, task)!,
        options.denominators?.[task],
      );
      const [correct, total] = accuracy ?? [tf.scalar(0), tf.scalar(0)];
      terms.push(tf.keep(loss), tf.keep(correct), tf.keep(total));
      return loss;
    });
    return this.#weighted(tasks, losses);
  }

  /**
   * Clips and applies the gradients, or hands them to the data-parallel update.
   * @returns the global gradient norm (before clipping)
   */
  #update(
    grads: Record<string, tf.Tensor>,
    { params, logVariances, rows, learningRate, tasks }: {
      params: readonly [string, tf.Variable][];
      logVariances: readonly [string, tf.Variable][];
      rows: Record<string, Int32Array>;
      learningRate: number;
      tasks: readonly string[];
    },
  ): tf.Scalar {
    const rateFor = (name: string) => this.rateFor(name, learningRate);
    if (this.#applyUpdate !== undefined) {
      return tf.scalar(this.#applyUpdate({
        names: this.gradientNames(tasks),
        grads,
        variables: new Map<string, tf.Variable>([...params, ...logVariances]),
        rows,
        learningRate: rateFor,
        step: this.optimizer.countStep(),
      }));
    }
    const gradNorm = globalNorm(Object.values(grads));
    const scale = this.#train.clipNorm > 0
      ? tf.minimum(1, tf.div(this.#train.clipNorm, gradNorm.add(1e-6))) as tf.Scalar
      : undefined;
    this.optimizer.apply([...params, ...logVariances], grads, rateFor, scale, rows);
    return gradNorm;
  }

  /** The trainable parameters a step on `tasks` updates: all but the heads of other tasks. */
  #stepParams(tasks: readonly string[]): [string, tf.Variable][] {
    const idle = [...this.model.heads.keys()].filter((t) => !tasks.includes(t)).map(headPrefix);
    return this.#params.filter(([name]) => !idle.some((prefix) => name.startsWith(prefix)));
  }

  /**
   * The objective: static `w·L` per task, or with uncertainty weighting
   * `w·(exp(-s)·L + s/2)` per task, s = log σ² learned (Kendall et al., 2018, eq. 10).
   */
  #weighted(tasks: readonly string[], losses: readonly tf.Scalar[]): tf.Scalar {
    const terms = tasks.map((task, i) => {
      const s = this.#logVariances.get(task);
      const loss = losses[i]!;
      // The s/2 regulariser once per step: on replica 0 (the others' losses are
      // parts of the same batch's loss, summed across replicas).
      const term = s === undefined
        ? loss
        : this.#replica === 0
        ? tf.exp(s.neg()).mul(loss).add(s.mul(0.5))
        : tf.exp(s.neg()).mul(loss);
      return term.mul(this.#staticWeight(task));
    });
    return (terms.length === 0 ? tf.scalar(0) : tf.addN(terms)) as tf.Scalar;
  }

  #staticWeight(task: string): number {
    return this.#train.taskWeights[task] ?? 1;
  }

  /**
   * For lazy embedding updates: per trainable row-sparse table, the rows the
   * batch reads, a variable holding them (differentiated instead of the table),
   * and the batch's ids remapped to those rows.
   */
  #rowSparse(
    batch: BatchTensors,
    params: readonly [string, tf.Variable][],
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
    for (const [name, table] of params) {
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

  /** Optimizer state for checkpoints. */
  optimizerState(): Promise<AdamState> {
    return Promise.resolve(this.getOptimizerState());
  }

  /** Optimizer state for checkpoints. */
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
    for (const v of this.#logVariances.values()) v.dispose();
  }
}

/** Disposes the tensors of `made` that are not those of `given` (mask and alignment pass through). */
function disposeNew(made: object, given: object): void {
  const kept = new Set<unknown>(Object.values(given));
  tf.dispose(Object.values(made).filter((t) => t instanceof tf.Tensor && !kept.has(t)));
}

function globalNorm(tensors: tf.Tensor[]): tf.Scalar {
  if (tensors.length === 0) return tf.scalar(0);
  return tf.addN(tensors.map((t) => t.square().sum())).sqrt() as tf.Scalar;
}

/** `[objective, per task (loss, correct, total)…, gradient norm]`; disposes the parts. */
function stackSummary(value: tf.Scalar, terms: tf.Tensor[], gradNorm: tf.Scalar): tf.Tensor {
  const summary = tf.stack([value, ...terms, gradNorm]);
  tf.dispose(terms);
  return summary;
}

/**
 * The objective's value and its gradients by parameter name. A replica whose
 * slice of the batch is empty contributes zero gradients (and zero terms).
 */
function gradients(
  objective: () => tf.Scalar,
  differentiated: readonly [string, tf.Variable][],
  empty: boolean,
  terms: tf.Tensor[],
  taskCount: number,
): { value: tf.Scalar; grads: Record<string, tf.Tensor> } {
  if (empty) {
    terms.push(...Array.from({ length: 3 * taskCount }, () => tf.scalar(0)));
    return {
      value: tf.scalar(0),
      grads: Object.fromEntries(differentiated.map(([name, v]) => [name, tf.zerosLike(v)])),
    };
  }
  const { value, grads } = tf.variableGrads(objective, differentiated.map(([, v]) => v));
  const byName: Record<string, tf.Tensor> = {};
  for (const [name, v] of differentiated) {
    const g = grads[v.name];
    if (g !== undefined) byName[name] = g;
  }
  return { value, grads: byName };
}
