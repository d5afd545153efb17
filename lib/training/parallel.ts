/**
 * Data-parallel training on several cores: one Deno Worker per replica, each
 * with its own tfjs-wasm instance (tfjs-wasm's own threads do not speed up
 * training: most of a step is small kernels and single-threaded JS).
 *
 * Each step, the batch is cut into one slice per replica; every replica computes
 * its losses normalised by the whole batch's label counts, so the sum of the
 * replicas' gradients is exactly the full-batch gradient. The update is the
 * sharded optimizer of `sharded.ts`: parameters and Adam moments live once in
 * shared memory, each replica sums and updates its own 1/W of the step's
 * gradient (by size) and copies the result into its tensors, synchronised by
 * barriers the replicas run themselves. A run is deterministic for a given seed
 * and replica count; weights and optimizer state are read from the shared
 * memory between steps, without asking the workers.
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
import { allocateShared, type FlatLayout, flatLayout, type ShardedBuffers } from "./sharded.ts";
import { logVarianceName, type StepMetrics, type StepRunner, type StepTiming } from "./trainer.ts";
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
  readonly #layout: FlatLayout;
  readonly #buffers: ShardedBuffers;
  #step: number;
  #trainable: Set<string>;

  private constructor(
    model: MultiTaskModel,
    config: Config,
    workers: Worker[],
    step: number,
    rate: (step: number) => number,
    trainable: readonly string[],
    layout: FlatLayout,
    buffers: ShardedBuffers,
  ) {
    this.model = model;
    this.#config = config;
    this.#workers = workers;
    this.replicas = workers.length;
    this.#step = step;
    this.#rate = rate;
    this.#trainable = new Set(trainable);
    this.#layout = layout;
    this.#buffers = buffers;
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
    // The shared layout: every parameter (the trainable set may grow when
    // unfreezing), then the learned loss weights of uncertainty weighting.
    const losses = config.train.taskWeighting === "uncertainty"
      ? [...model.heads.keys()].map((task) => [logVarianceName(task), []] as [string, number[]])
      : [];
    const entries: [string, number[]][] = [
      ...model.parameters.entries().map(([name, v]) => [name, [...v.shape]] as [string, number[]]),
      ...losses,
    ];
    const layout = flatLayout(entries);
    const buffers = allocateShared(layout, options.replicas, layout.total);
    const params = new Float32Array(buffers.params);
    for (const [name, { values }] of Object.entries(model.parameters.read())) {
      params.set(values, layout.offsets[layout.index.get(name)!]);
    }
    for (const [name] of losses) {
      params[layout.offsets[layout.index.get(name)!]!] = options.lossState?.[name] ?? 0;
    }
    if (options.optimizerState !== undefined) {
      const [m, v] = [new Float32Array(buffers.m), new Float32Array(buffers.v)];
      const hasState = new Int32Array(buffers.hasState);
      for (const [key, { values }] of Object.entries(options.optimizerState.moments)) {
        const name = key.slice(0, -2);
        const i = layout.index.get(name);
        if (i === undefined || values.length !== layout.sizes[i]) {
          throw new RangeError(`Cannot resume the optimizer: ${key} does not fit the model`);
        }
        (key.endsWith("/m") ? m : v).set(values, layout.offsets[i]);
        hasState[i] = 1;
      }
    }
    const workers = Array.from(
      { length: options.replicas },
      () => new Worker(new URL("./_parallel_worker.ts", import.meta.url).href, { type: "module" }),
    );
    const step = options.optimizerState?.step ?? 0;
    const trainer = new ParallelTrainer(
      model,
      config,
      workers,
      step,
      options.learningRate ?? ((step) =>
        learningRateAt(config.train.schedule, step, {
          learningRate: config.train.learningRate,
          decayRate: config.train.decayRate,
          totalSteps: options.totalSteps ?? 0,
          warmupSteps: config.train.warmupSteps,
        })),
      trainable,
      layout,
      buffers,
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
        step,
        layout: entries,
        buffers,
      }));
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

  /** The learned loss weights, from the shared memory. */
  lossState(): Record<string, number> {
    const params = new Float32Array(this.#buffers.params);
    return Object.fromEntries(
      this.#layout.names.filter((n) => n.startsWith("loss/"))
        .map((n) => [n, params[this.#layout.offsets[this.#layout.index.get(n)!]!]!]),
    );
  }

  /** Splits the batch by sentences into one slice per replica and runs one step on all. */
  async trainPadded(batch: PaddedBatch): Promise<StepMetrics> {
    const started = performance.now();
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
    const wall = performance.now() - started;
    this.#step++;
    const parts = replies.map((r) => (r as { metrics: StepMetrics }).metrics);
    const first = parts[0]!;
    const mean = (key: keyof StepTiming) =>
      parts.reduce((n, p) => n + (p.timing?.[key] ?? 0), 0) / parts.length;
    const busy = Math.max(
      ...parts.map((p) =>
        (p.timing?.computeMs ?? 0) + (p.timing?.reduceMs ?? 0) + (p.timing?.optimizerMs ?? 0) +
        (p.timing?.gatherMs ?? 0) + (p.timing?.waitMs ?? 0)
      ),
    );
    const timing: StepTiming = {
      computeMs: mean("computeMs"),
      reduceMs: mean("reduceMs"),
      optimizerMs: mean("optimizerMs"),
      gatherMs: mean("gatherMs"),
      waitMs: mean("waitMs"),
      coordinationMs: Math.max(0, wall - busy),
    };
    return {
      timing,
      replicaComputeMs: parts.map((p) => p.timing?.computeMs ?? 0),
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

  /** Copies the trained weights from the shared memory into the main-thread model. */
  syncModel(): Promise<void> {
    const params = new Float32Array(this.#buffers.params);
    const weights: Record<string, NamedArrays[string]> = {};
    for (const name of this.model.parameters.names()) {
      const i = this.#layout.index.get(name)!;
      const at = this.#layout.offsets[i]!;
      weights[name] = {
        shape: [...this.#layout.shapes[i]!],
        values: params.slice(at, at + this.#layout.sizes[i]!),
      };
    }
    this.model.parameters.assign(weights, "the shared weights");
    return Promise.resolve();
  }

  /** The optimizer state (moments of every parameter updated so far), from the shared memory. */
  optimizerState(): Promise<AdamState> {
    const [m, v] = [new Float32Array(this.#buffers.m), new Float32Array(this.#buffers.v)];
    const hasState = new Int32Array(this.#buffers.hasState);
    const moments: Record<string, NamedArrays[string]> = {};
    this.#layout.names.forEach((name, i) => {
      if (hasState[i] !== 1) return;
      const at = this.#layout.offsets[i]!, end = at + this.#layout.sizes[i]!;
      const shape = [...this.#layout.shapes[i]!];
      moments[`${name}/m`] = { shape, values: m.slice(at, end) };
      moments[`${name}/v`] = { shape, values: v.slice(at, end) };
    });
    return Promise.resolve({ step: this.#step, moments });
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
