/**
 * Data-parallel training on several cores: one Deno Worker per replica, each
 * with its own tfjs-wasm instance (tfjs-wasm's own threads do not speed up
 * training: most of a step is small kernels and single-threaded JS).
 *
 * Each step, the batch is cut into one slice per replica; every replica computes
 * its losses normalised by the whole batch's label counts, so the sum of the
 * replicas' gradients is exactly the full-batch gradient. Gradients are summed
 * through a SharedArrayBuffer in a fixed order, and every replica applies the
 * same clipped Adam update, so replicas stay identical and a run is deterministic
 * for a given seed and replica count.
 * @module
 */
import type { Config } from "../core/config.ts";
import { distinctRows, labelCounts, type PaddedBatch, splitBatch } from "../data/encoding.ts";
import { ROW_SPARSE_TABLES } from "../model/encoder.ts";
import type { MultiTaskModel } from "../model/model.ts";
import type { AdamState } from "./optimizer.ts";
import type { BackendName } from "../backend/backend.ts";
import type { NamedArrays } from "../model/parameters.ts";
import * as tf from "@tensorflow/tfjs";
import { learningRateAt } from "./schedule.ts";
import type { StepMetrics, StepRunner } from "./trainer.ts";
import type { ToWorker } from "./_parallel_worker.ts";
import { askWorker } from "../backend/ask_worker.ts";

/** Options of {@linkcode ParallelTrainer.create}. */
export interface ParallelOptions {
  /** Number of replicas (workers). */
  readonly replicas: number;
  /** Names of the parameters that train. @default all */
  readonly trainable?: readonly string[];
  /** Optimizer state to start from (resume). */
  readonly optimizerState?: AdamState;
  /** Learned loss weights to start from. */
  readonly lossState?: Record<string, number>;
  /** Steps of the whole run, for schedules that need it. */
  readonly totalSteps?: number;
  /** Base learning rate at a step. @default the configured schedule */
  readonly learningRate?: (step: number) => number;
}

type FromWorker =
  | { type: "ready" | "ok" }
  | { type: "stepped"; metrics: StepMetrics }
  | { type: "weights"; weights: NamedArrays }
  | { type: "lossState"; state: Record<string, number> }
  | { type: "optimizerState"; state: AdamState }
  | { type: "error"; message: string };

/**
 * Trains a model with one worker per replica. The main-thread `model` is the
 * source of the initial weights and receives the trained ones on
 * {@linkcode syncModel}. Call {@linkcode close} when done.
 */
export class ParallelTrainer implements StepRunner {
  readonly model: MultiTaskModel;
  readonly replicas: number;
  readonly #config: Config;
  readonly #workers: Worker[];
  readonly #rate: (step: number) => number;
  #step: number;
  #trainable: Set<string>;

  private constructor(
    model: MultiTaskModel,
    config: Config,
    workers: Worker[],
    step: number,
    rate: (step: number) => number,
    trainable: readonly string[],
  ) {
    this.model = model;
    this.#config = config;
    this.#workers = workers;
    this.replicas = workers.length;
    this.#step = step;
    this.#rate = rate;
    this.#trainable = new Set(trainable);
  }

  /** Starts the workers, copies the model's weights into each, and waits until they are ready. */
  static async create(
    model: MultiTaskModel,
    config: Config,
    options: ParallelOptions,
  ): Promise<ParallelTrainer> {
    if (!Number.isInteger(options.replicas) || options.replicas < 1) {
      throw new RangeError(`Cannot start data-parallel training: replicas must be >= 1`);
    }
    const trainable = [...(options.trainable ?? model.parameters.names())];
    // Room for every parameter (the trainable set may grow when unfreezing) and two loss weights.
    const total = model.countParameters() + 2;
    const gradients = new SharedArrayBuffer(2 * options.replicas * total * 4);
    const barrier = new SharedArrayBuffer(8);
    const weights = model.parameters.read();
    const workers = Array.from(
      { length: options.replicas },
      () => new Worker(new URL("./_parallel_worker.ts", import.meta.url).href, { type: "module" }),
    );
    const trainer = new ParallelTrainer(
      model,
      config,
      workers,
      options.optimizerState?.step ?? 0,
      options.learningRate ?? ((step) =>
        learningRateAt(config.train.schedule, step, {
          learningRate: config.train.learningRate,
          decayRate: config.train.decayRate,
          totalSteps: options.totalSteps ?? 0,
          warmupSteps: config.train.warmupSteps,
        })),
      trainable,
    );
    try {
      await trainer.#all((replica) => ({
        type: "init",
        backend: tf.getBackend() as BackendName,
        config,
        dims: model.dims,
        replica,
        replicas: options.replicas,
        trainable,
        totalSteps: options.totalSteps ?? 0,
        slotSize: total,
        weights,
        gradients,
        barrier,
      }));
      if (options.optimizerState !== undefined) {
        await trainer.#all(() => ({ type: "setOptimizerState", state: options.optimizerState! }));
      }
      if (options.lossState !== undefined) {
        await trainer.#all(() => ({ type: "setLossState", state: options.lossState! }));
      }
    } catch (error) {
      trainer.close();
      throw error;
    }
    return trainer;
  }

  get step(): number {
    return this.#step;
  }

  learningRate(): number {
    return this.#rate(this.#step);
  }

  /** Changes the trainable set on every replica. */
  async setTrainable(names: readonly string[]): Promise<void> {
    await this.#all(() => ({ type: "setTrainable", names: [...names] }));
    this.#trainable = new Set(names);
  }

  /** Replica 0's learned loss weights. */
  async lossState(): Promise<Record<string, number>> {
    const reply = await this.#ask(0, { type: "getLossState" });
    return (reply as { state: Record<string, number> }).state;
  }

  /** Splits the batch by sentences into one slice per replica and runs one step on all. */
  async trainPadded(batch: PaddedBatch): Promise<StepMetrics> {
    const slices = splitBatch(batch, this.replicas);
    const denominators = labelCounts(batch);
    // Lazy embedding updates: every replica differentiates the rows the whole batch reads.
    const rows: Record<string, Int32Array> = {};
    if (this.#config.train.embeddingUpdates === "lazy") {
      for (const [name, key] of Object.entries(ROW_SPARSE_TABLES)) {
        if (this.#trainable.has(name)) rows[name] = distinctRows(batch[key]);
      }
    }
    const replies = await this.#all((replica) => ({
      type: "step",
      batch: slices[replica]!,
      denominators,
      rows,
    }));
    this.#step++;
    const parts = replies.map((r) => (r as { metrics: StepMetrics }).metrics);
    const first = parts[0]!;
    return {
      loss: parts.reduce((n, m) => n + m.loss, 0),
      tasks: Object.fromEntries(
        Object.entries(first.tasks).map(([task, m]) => [task, {
          loss: parts.reduce((n, p) => n + p.tasks[task]!.loss, 0),
          correct: parts.reduce((n, p) => n + p.tasks[task]!.correct, 0),
          total: parts.reduce((n, p) => n + p.tasks[task]!.total, 0),
          weight: m.weight,
        }]),
      ),
      gradNorm: first.gradNorm,
      learningRate: first.learningRate,
    };
  }

  /** Copies replica 0's weights (all replicas are identical) into the main-thread model. */
  async syncModel(): Promise<void> {
    const reply = await this.#ask(0, { type: "getWeights" });
    this.model.parameters.assign((reply as { weights: NamedArrays }).weights, "replica 0");
  }

  /** Replica 0's optimizer state. */
  async optimizerState(): Promise<AdamState> {
    const reply = await this.#ask(0, { type: "getOptimizerState" });
    return (reply as { state: AdamState }).state;
  }

  /** Stops the workers. */
  close(): void {
    for (const w of this.#workers) w.terminate();
  }

  #all(message: (replica: number) => ToWorker): Promise<FromWorker[]> {
    return Promise.all(this.#workers.map((_, i) => this.#ask(i, message(i))));
  }

  #ask(replica: number, message: ToWorker): Promise<FromWorker> {
    return askWorker<FromWorker>(this.#workers[replica]!, message, `Training replica ${replica}`);
  }
}
