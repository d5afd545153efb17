/**
 * A data-parallel replica: its own tfjs-wasm instance and model copy. Trains on
 * the batch slices the main thread sends; the update runs through the sharded
 * optimizer over shared memory (see `sharded.ts`), coordinated by the replicas
 * themselves. Private to `parallel.ts`.
 * @module
 */
/// <reference lib="deno.worker" />
import { type BackendName, initBackend } from "../backend/backend.ts";
import * as tf from "@tensorflow/tfjs";
import { writeRows } from "../backend/inplace.ts";
import type { Config } from "../core/config.ts";
import { batchToTensors, disposeBatch, type PaddedBatch } from "../data/encoding.ts";
import { type ModelDims, MultiTaskModel } from "../model/model.ts";
import { decays } from "./param_groups.ts";
import {
  adamSegment,
  barrier,
  type FlatLayout,
  flatLayout,
  type GradientEntry,
  type ShardedBuffers,
  shardRange,
} from "./sharded.ts";
import { type ReplicaUpdate, type StepTiming, Trainer } from "./trainer.ts";

/** Messages from the main thread. */
export type ToWorker =
  | {
    type: "init";
    /** The main thread's backend, so every replica computes alike. */
    backend: BackendName;
    config: Config;
    dims: ModelDims;
    replica: number;
    replicas: number;
    trainable: string[];
    totalSteps: number;
    /** Steps taken before (resume): the update count the shared moments belong to. */
    step: number;
    /** Names and shapes of the parameter layout of the shared memory. */
    layout: [string, number[]][];
    buffers: ShardedBuffers;
  }
  | {
    type: "step";
    batch: PaddedBatch;
    /** Per task, its labels in the whole batch (the denominators of the mean losses). */
    denominators: Record<string, number>;
    /** Rows of the row-sparse tables the whole batch reads (lazy embedding updates). */
    rows: Record<string, Int32Array>;
  }
  | { type: "setTrainable"; names: string[] };

let model: MultiTaskModel | undefined;
let trainer: Trainer | undefined;
let update: ShardedUpdate | undefined;

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  try {
    switch (message.type) {
      case "init": {
        await initBackend(message.backend);
        const layout = flatLayout(message.layout);
        const params = new Float32Array(message.buffers.params);
        model = new MultiTaskModel(message.config.model, message.dims, message.config.seed);
        const trainable = new Set(message.trainable);
        update = new ShardedUpdate(message, layout);
        trainer = new Trainer(model, {
          train: message.config.train,
          seed: message.config.seed,
          trainable: (name) => trainable.has(name),
          totalSteps: message.totalSteps,
          replica: message.replica,
          applyUpdate: (u) => update!.apply(u),
        });
        // Weights and learned loss weights from the shared memory.
        for (const [name, variable] of model.parameters.entries()) {
          const i = layout.index.get(name)!;
          const values = params.slice(layout.offsets[i], layout.offsets[i]! + layout.sizes[i]!);
          tf.tidy(() => variable.assign(tf.tensor(values, variable.shape)));
        }
        trainer.setLossState(Object.fromEntries(
          layout.names.filter((n) => n.startsWith("loss/")).map((
            n,
          ) => [n, params[layout.offsets[layout.index.get(n)!]!]!]),
        ));
        trainer.setOptimizerState({ step: message.step, moments: {} });
        self.postMessage({ type: "ready" });
        break;
      }
      case "step": {
        const started = performance.now();
        const batch = batchToTensors(message.batch);
        update!.timing = { computeMs: 0, reduceMs: 0, optimizerMs: 0, gatherMs: 0, waitMs: 0 };
        const metrics = trainer!.trainStep(batch, {
          denominators: message.denominators,
          rows: message.rows,
        });
        disposeBatch(batch);
        const t = update!.timing;
        const total = performance.now() - started;
        const timing: Omit<StepTiming, "coordinationMs"> = {
          ...t,
          computeMs: total - t.reduceMs - t.optimizerMs - t.gatherMs - t.waitMs,
        };
        self.postMessage({ type: "stepped", metrics: { ...metrics, timing } });
        break;
      }
      case "setTrainable": {
        trainer!.setTrainable(message.names);
        self.postMessage({ type: "ok" });
        break;
      }
    }
  } catch (error) {
    self.postMessage({ type: "error", message: (error as Error).stack ?? String(error) });
  }
};

/** This replica's part of the sharded optimizer (see `sharded.ts` for the protocol). */
class ShardedUpdate {
  readonly #replica: number;
  readonly #replicas: number;
  readonly #layout: FlatLayout;
  readonly #train: Config["train"];
  readonly #params: Float32Array;
  readonly #m: Float32Array;
  readonly #v: Float32Array;
  readonly #hasState: Int32Array;
  readonly #slots: Float32Array;
  readonly #slotSize: number;
  readonly #control: Int32Array;
  readonly #norms: Float64Array;
  /** This replica's summed gradient segment. */
  readonly #sum: Float32Array;
  /** Time spent in each phase during the current step. */
  timing: { -readonly [K in Exclude<keyof StepTiming, "coordinationMs">]: number } = {
    computeMs: 0,
    reduceMs: 0,
    optimizerMs: 0,
    gatherMs: 0,
    waitMs: 0,
  };

  constructor(init: Extract<ToWorker, { type: "init" }>, layout: FlatLayout) {
    const b = init.buffers;
    this.#replica = init.replica;
    this.#replicas = init.replicas;
    this.#layout = layout;
    this.#train = init.config.train;
    this.#params = new Float32Array(b.params);
    this.#m = new Float32Array(b.m);
    this.#v = new Float32Array(b.v);
    this.#hasState = new Int32Array(b.hasState);
    this.#slots = new Float32Array(b.slots);
    this.#slotSize = b.slotSize;
    this.#control = new Int32Array(b.control, 0, 2);
    this.#norms = new Float64Array(b.control, 8, init.replicas);
    this.#sum = new Float32Array(Math.ceil(b.slotSize / init.replicas) + 1);
  }

  apply(u: ReplicaUpdate): number {
    const layout = this.#layout;
    let clock = performance.now();
    const lap = (phase: Exclude<keyof StepTiming, "coordinationMs">) => {
      const now = performance.now();
      this.timing[phase] += now - clock;
      clock = now;
    };
    // The step's gradient layout: the same on every replica (same names, rows and shapes).
    const entries: GradientEntry[] = [];
    let used = 0;
    for (const name of u.names) {
      const i = layout.index.get(name);
      if (i === undefined) throw new RangeError(`Cannot update ${name}: not in the shared layout`);
      const rows = u.rows[name];
      const width = rows === undefined ? undefined : layout.sizes[i]! / layout.shapes[i]![0]!;
      const size = rows === undefined ? layout.sizes[i]! : rows.length * width!;
      entries.push({
        name,
        paramOffset: layout.offsets[i]!,
        size,
        ...(rows !== undefined ? { rows, width: width! } : {}),
        learningRate: u.learningRate(name),
        decay: !name.startsWith("loss/") && decays(name),
      });
      used += size;
    }
    if (used > this.#slotSize) {
      throw new RangeError(
        `Cannot sum gradients: ${used} values exceed the ${this.#slotSize} of a slot`,
      );
    }
    // 1. This replica's gradients into its slot.
    const own = this.#replica * this.#slotSize;
    let at = 0;
    for (const e of entries) {
      const g = u.grads[e.name];
      if (g === undefined) this.#slots.fill(0, own + at, own + at + e.size);
      else this.#slots.set(g.dataSync() as Float32Array, own + at);
      at += e.size;
    }
    lap("reduceMs");
    barrier(this.#control, this.#replicas);
    lap("waitMs");
    // 2. Reduce-scatter: this replica's segment summed over the slots, in replica order.
    const [start, end] = shardRange(used, this.#replicas, this.#replica);
    const sum = this.#sum.subarray(0, end - start);
    sum.set(this.#slots.subarray(start, end));
    for (let r = 1; r < this.#replicas; r++) {
      const base = r * this.#slotSize;
      for (let j = start; j < end; j++) sum[j - start]! += this.#slots[base + j]!;
    }
    let squares = 0;
    for (let j = 0; j < sum.length; j++) squares += sum[j]! * sum[j]!;
    this.#norms[this.#replica] = squares;
    lap("reduceMs");
    barrier(this.#control, this.#replicas);
    lap("waitMs");
    // 3. The same clip factor on every replica; Adam on this replica's segment.
    let total = 0;
    for (let r = 0; r < this.#replicas; r++) total += this.#norms[r]!;
    const norm = Math.sqrt(total);
    const clip = this.#train.clipNorm;
    const gradScale = clip > 0 ? Math.min(1, clip / (norm + 1e-6)) : 1;
    adamSegment(sum, entries, start, end, { params: this.#params, m: this.#m, v: this.#v }, {
      beta1: this.#train.beta1,
      beta2: this.#train.beta2,
      epsilon: this.#train.epsilon,
      weightDecay: this.#train.optimizer === "adamw" ? this.#train.weightDecay : 0,
      step: u.step,
      gradScale,
    });
    for (const e of entries) this.#hasState[layout.index.get(e.name)!] = 1;
    lap("optimizerMs");
    barrier(this.#control, this.#replicas);
    lap("waitMs");
    // 4. All-gather: the updated values into this replica's variables.
    for (const e of entries) {
      const variable = u.variables.get(e.name)!;
      const i = layout.index.get(e.name)!;
      if (e.rows === undefined) {
        // A new tensor, not an in-place write: tfjs-wasm caches matmul weights
        // packed for XNNPACK per tensor, and would keep using the old values.
        const values = this.#params.slice(e.paramOffset, e.paramOffset + layout.sizes[i]!);
        tf.tidy(() => variable.assign(tf.tensor(values, variable.shape)));
      } else {
        const width = e.width!;
        const values = new Float32Array(e.size);
        e.rows.forEach((row, k) =>
          values.set(
            this.#params.subarray(e.paramOffset + row * width, e.paramOffset + (row + 1) * width),
            k * width,
          )
        );
        writeRows(variable, e.rows, values);
      }
    }
    lap("gatherMs");
    return norm;
  }
}
