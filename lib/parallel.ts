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
import type { Config } from "./config.ts";
import { distinctRows, type PaddedBatch } from "./encoding.ts";
import { ROW_SPARSE_TABLES } from "./encoder.ts";
import type { MultiTaskModel } from "./model.ts";
import type { AdamState } from "./optimizer.ts";
import * as tf from "@tensorflow/tfjs";
import { learningRateAt } from "./schedule.ts";
import type { StepMetrics } from "./trainer.ts";
import type { ToWorker } from "./_parallel_worker.ts";
import { askWorker } from "./_ask_worker.ts";

/** What runs training steps: a {@linkcode Trainer} or a {@linkcode ParallelTrainer}. */
export interface StepRunner {
  /** Steps taken so far. */
  readonly step: number;
  /** Base learning rate at the current step. */
  learningRate(): number;
  /** One step on one padded batch. */
  trainPadded(batch: PaddedBatch): StepMetrics | Promise<StepMetrics>;
  /** Brings the main-thread model up to date (no-op for a single trainer). */
  syncModel(): Promise<void>;
  /** Optimizer state for checkpoints; the caller owns the tensors. */
  optimizerState(): Promise<AdamState>;
  /** Changes which parameters train, between steps. */
  setTrainable(names: readonly string[]): void | Promise<void>;
  /** Learned loss weights (uncertainty weighting), for checkpoints. */
  lossState(): Record<string, number> | Promise<Record<string, number>>;
}

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
  | { type: "weights"; weights: Record<string, Float32Array> }
  | { type: "lossState"; state: Record<string, number> }
  | {
    type: "optimizerState";
    step: number;
    moments: Record<string, { m: Float32Array; v: Float32Array }>;
  }
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
    const weights: Record<string, Float32Array> = {};
    for (const [name, v] of model.parameters.entries()) {
      weights[name] = v.dataSync() as Float32Array;
    }
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
        const moments: Record<string, { m: Float32Array; v: Float32Array }> = {};
        for (const [name, { m, v }] of options.optimizerState.moments) {
          moments[name] = { m: m.dataSync() as Float32Array, v: v.dataSync() as Float32Array };
        }
        await trainer.#all(() => ({
          type: "setOptimizerState",
          step: options.optimizerState!.step,
          moments,
        }));
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
    const nerDenominator = batch.nerLabels.reduce((n, l) => n + (l >= 0 ? 1 : 0), 0);
    const sentimentDenominator = batch.sentimentLabels.reduce((n, l) => n + (l >= 0 ? 1 : 0), 0);
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
      nerDenominator,
      sentimentDenominator,
      rows,
    }));
    this.#step++;
    const parts = replies.map((r) => (r as { metrics: StepMetrics }).metrics);
    const sum = (key: keyof StepMetrics) => parts.reduce((n, m) => n + m[key], 0);
    return {
      loss: sum("loss"),
      nerLoss: sum("nerLoss"),
      sentimentLoss: sum("sentimentLoss"),
      nerCorrect: sum("nerCorrect"),
      nerTotal: sum("nerTotal"),
      sentimentCorrect: sum("sentimentCorrect"),
      sentimentTotal: sum("sentimentTotal"),
      gradNorm: parts[0]!.gradNorm,
      learningRate: parts[0]!.learningRate,
      nerWeight: parts[0]!.nerWeight,
      sentimentWeight: parts[0]!.sentimentWeight,
    };
  }

  /** Copies replica 0's weights (all replicas are identical) into the main-thread model. */
  async syncModel(): Promise<void> {
    const reply = await this.#ask(0, { type: "getWeights" });
    const { weights } = reply as { weights: Record<string, Float32Array> };
    for (const [name, values] of Object.entries(weights)) {
      const v = this.model.parameters.get(name);
      tf.tidy(() => v.assign(tf.tensor(values, v.shape)));
    }
  }

  /** Replica 0's optimizer state; the caller owns the tensors. */
  async optimizerState(): Promise<AdamState> {
    const reply = await this.#ask(0, { type: "getOptimizerState" }) as Extract<
      FromWorker,
      { type: "optimizerState" }
    >;
    const moments = new Map<string, { m: tf.Tensor; v: tf.Tensor }>();
    for (const [name, { m, v }] of Object.entries(reply.moments)) {
      const shape = this.model.parameters.get(name).shape;
      moments.set(name, { m: tf.tensor(m, shape), v: tf.tensor(v, shape) });
    }
    return { step: reply.step, moments };
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

/**
 * Cuts a padded batch into `parts` slices of consecutive sentences (sizes differ
 * by at most one), each re-padded to its own longest sentence.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { padBatch, splitBatch } from "./mod.ts";
 * const s = (n: number) => ({ tokenIds: new Int32Array(n).fill(7), caseIds: new Int32Array(n),
 *   affixIds: new Int32Array(2 * n),
 *   wordIds: new Int32Array(n), nerLabels: new Int32Array(n), sentiment: 0, truncated: false });
 * const [a, b] = splitBatch(padBatch([s(1), s(2), s(4)]), 2);
 * assert.equal(a!.batch, 2);
 * assert.equal(a!.seqLen, 2);
 * assert.deepEqual([...a!.mask], [1, 0, 1, 1]);
 * assert.equal(b!.batch, 1);
 * assert.equal(b!.seqLen, 4);
 * ```
 */
export function splitBatch(batch: PaddedBatch, parts: number): PaddedBatch[] {
  const out: PaddedBatch[] = [];
  let start = 0;
  for (let p = 0; p < parts; p++) {
    const size = Math.floor(batch.batch / parts) + (p < batch.batch % parts ? 1 : 0);
    const rows = Array.from({ length: size }, (_, i) => start + i);
    start += size;
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
    out.push({
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
      nerLabels: take(batch.nerLabels, (n) => new Int32Array(n)),
      sentimentLabels: batch.sentimentLabels.slice(rows[0] ?? 0, (rows[0] ?? 0) + size),
    });
  }
  return out;
}
