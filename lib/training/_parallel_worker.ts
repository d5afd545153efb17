/**
 * A data-parallel replica: its own tfjs-wasm instance and model copy. Trains on
 * the batch slices the main thread sends; gradients are summed across replicas
 * through shared memory (see `parallel.ts`). Private to `parallel.ts`.
 * @module
 */
/// <reference lib="deno.worker" />
import * as tf from "@tensorflow/tfjs";
import { type BackendName, initBackend } from "../backend/backend.ts";
import type { Config } from "../core/config.ts";
import { batchToTensors, disposeBatch, type PaddedBatch } from "../data/encoding.ts";
import { type ModelDims, MultiTaskModel } from "../model/model.ts";
import { batchTasks, Trainer } from "./trainer.ts";
import type { AdamState } from "./optimizer.ts";
import type { NamedArrays } from "../model/parameters.ts";

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
    /** Floats per replica slot: every parameter plus the loss weights. */
    slotSize: number;
    weights: NamedArrays;
    gradients: SharedArrayBuffer;
    barrier: SharedArrayBuffer;
  }
  | {
    type: "step";
    batch: PaddedBatch;
    /** Per task, its labels in the whole batch (the denominators of the mean losses). */
    denominators: Record<string, number>;
    /** Rows of the row-sparse tables the whole batch reads (lazy embedding updates). */
    rows: Record<string, Int32Array>;
  }
  | { type: "setTrainable"; names: string[] }
  | { type: "getLossState" }
  | { type: "setLossState"; state: Record<string, number> }
  | { type: "getWeights" }
  | { type: "getOptimizerState" }
  | { type: "setOptimizerState"; state: AdamState };

let model: MultiTaskModel | undefined;
let trainer: Trainer | undefined;
/** The tasks of the step under way (the gradient layout of the all-reduce follows them). */
let stepTasks: string[] = [];

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  try {
    switch (message.type) {
      case "init": {
        await initBackend(message.backend);
        model = new MultiTaskModel(message.config.model, message.dims, message.config.seed);
        model.parameters.assign(message.weights, "the main thread's weights", true);
        const trainable = new Set(message.trainable);
        trainer = new Trainer(model, {
          train: message.config.train,
          seed: message.config.seed,
          trainable: (name) => trainable.has(name),
          totalSteps: message.totalSteps,
          replica: message.replica,
          allReduce: sharedSum(model, () => trainer!.gradientNames(stepTasks), message),
        });
        self.postMessage({ type: "ready" });
        break;
      }
      case "step": {
        const batch = batchToTensors(message.batch);
        stepTasks = batchTasks(message.batch).filter((t) => model!.heads.has(t));
        const metrics = trainer!.trainStep(batch, {
          denominators: message.denominators,
          rows: message.rows,
        });
        disposeBatch(batch);
        self.postMessage({ type: "stepped", metrics });
        break;
      }
      case "setTrainable": {
        trainer!.setTrainable(message.names);
        self.postMessage({ type: "ok" });
        break;
      }
      case "getLossState": {
        self.postMessage({ type: "lossState", state: trainer!.getLossState() });
        break;
      }
      case "setLossState": {
        trainer!.setLossState(message.state);
        self.postMessage({ type: "ok" });
        break;
      }
      case "getWeights": {
        self.postMessage({ type: "weights", weights: model!.parameters.read() });
        break;
      }
      case "getOptimizerState": {
        self.postMessage({ type: "optimizerState", state: trainer!.getOptimizerState() });
        break;
      }
      case "setOptimizerState": {
        trainer!.setOptimizerState(message.state);
        self.postMessage({ type: "ok" });
        break;
      }
    }
  } catch (error) {
    self.postMessage({ type: "error", message: (error as Error).stack ?? String(error) });
  }
};

/**
 * All-reduce by shared memory: each replica writes its gradients into its slot,
 * waits at a barrier, then sums every slot in replica order (the same sum, bit for
 * bit, on every replica). Two slot sets alternate by step, so one barrier per step
 * suffices: nobody can write step s + 2's slots before everyone has read step s's.
 */
function sharedSum(
  model: MultiTaskModel,
  gradientNames: () => string[],
  init: Extract<ToWorker, { type: "init" }>,
): (grads: Readonly<Record<string, tf.Tensor>>) => Record<string, tf.Tensor> {
  const slots = new Float32Array(init.gradients);
  const control = new Int32Array(init.barrier);
  const total = init.slotSize;
  const sum = new Float32Array(total);
  let parity = 0;
  return (grads) => {
    // The layout follows the trainable set and the gradients' shapes (a row-sparse
    // table's gradient covers the batch's rows), identical on every replica.
    const names = gradientNames();
    const shapes = names.map((n) =>
      grads[n]?.shape ?? (n.startsWith("loss/") ? [] : model.parameters.get(n).shape)
    );
    const sizes = shapes.map((s) => tf.util.sizeFromShape(s));
    const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
    const used = sizes.reduce((a, b) => a + b, 0);
    if (used > total) {
      throw new RangeError(`Cannot sum gradients: ${used} values exceed the ${total} of a slot`);
    }
    const base = parity * init.replicas * total;
    const own = base + init.replica * total;
    names.forEach((name, i) => {
      const g = grads[name];
      if (g === undefined) slots.fill(0, own + offsets[i]!, own + offsets[i]! + sizes[i]!);
      else slots.set(g.dataSync() as Float32Array, own + offsets[i]!);
    });
    barrier(control, init.replicas);
    sum.set(slots.subarray(base, base + used));
    for (let r = 1; r < init.replicas; r++) {
      const at = base + r * total;
      for (let j = 0; j < used; j++) sum[j]! += slots[at + j]!;
    }
    parity = 1 - parity;
    const out: Record<string, tf.Tensor> = {};
    names.forEach((name, i) => {
      out[name] = tf.tensor(sum.subarray(offsets[i]!, offsets[i]! + sizes[i]!), shapes[i]);
    });
    return out;
  };
}

/** Sense-reversing barrier over `[arrived, generation]`. */
function barrier(control: Int32Array, parties: number): void {
  const generation = Atomics.load(control, 1);
  if (Atomics.add(control, 0, 1) === parties - 1) {
    Atomics.store(control, 0, 0);
    Atomics.add(control, 1, 1);
    Atomics.notify(control, 1);
  } else {
    while (Atomics.load(control, 1) === generation) Atomics.wait(control, 1, generation);
  }
}
