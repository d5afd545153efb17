/**
 * A data-parallel replica: its own tfjs-wasm instance and model copy. Trains on
 * the batch slices the main thread sends; gradients are summed across replicas
 * through shared memory (see `parallel.ts`). Private to `parallel.ts`.
 * @module
 */
/// <reference lib="deno.worker" />
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "./backend.ts";
import type { Config } from "./config.ts";
import { batchToTensors, disposeBatch, type PaddedBatch } from "./encoding.ts";
import { type ModelDims, MultiTaskModel } from "./model.ts";
import { Trainer } from "./trainer.ts";

/** Messages from the main thread. */
export type ToWorker =
  | {
    type: "init";
    config: Config;
    dims: ModelDims;
    replica: number;
    replicas: number;
    trainable: string[];
    totalSteps: number;
    /** Floats per replica slot: every parameter plus the loss weights. */
    slotSize: number;
    weights: Record<string, Float32Array>;
    gradients: SharedArrayBuffer;
    barrier: SharedArrayBuffer;
  }
  | {
    type: "step";
    batch: PaddedBatch;
    nerDenominator: number;
    sentimentDenominator: number;
    /** Rows of the row-sparse tables the whole batch reads (lazy embedding updates). */
    rows: Record<string, Int32Array>;
  }
  | { type: "setTrainable"; names: string[] }
  | { type: "getLossState" }
  | { type: "setLossState"; state: Record<string, number> }
  | { type: "getWeights" }
  | { type: "getOptimizerState" }
  | {
    type: "setOptimizerState";
    step: number;
    moments: Record<string, { m: Float32Array; v: Float32Array }>;
  };

let model: MultiTaskModel | undefined;
let trainer: Trainer | undefined;

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  try {
    switch (message.type) {
      case "init": {
        await initBackend("wasm");
        model = new MultiTaskModel(message.config.model, message.dims, message.config.seed);
        for (const [name, values] of Object.entries(message.weights)) {
          const v = model.parameters.get(name);
          v.assign(tf.tensor(values, v.shape));
        }
        const trainable = new Set(message.trainable);
        trainer = new Trainer(model, {
          train: message.config.train,
          seed: message.config.seed,
          trainable: (name) => trainable.has(name),
          totalSteps: message.totalSteps,
          replica: message.replica,
          allReduce: sharedSum(model, () => trainer!.gradientNames, message),
        });
        self.postMessage({ type: "ready" });
        break;
      }
      case "step": {
        const batch = batchToTensors(message.batch);
        const metrics = trainer!.trainStep(batch, {
          nerDenominator: message.nerDenominator,
          sentimentDenominator: message.sentimentDenominator,
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
        const weights: Record<string, Float32Array> = {};
        for (const [name, v] of model!.parameters.entries()) {
          weights[name] = v.dataSync() as Float32Array;
        }
        self.postMessage({ type: "weights", weights });
        break;
      }
      case "getOptimizerState": {
        const state = trainer!.getOptimizerState();
        const moments: Record<string, { m: Float32Array; v: Float32Array }> = {};
        for (const [name, { m, v }] of state.moments) {
          moments[name] = { m: m.dataSync() as Float32Array, v: v.dataSync() as Float32Array };
          tf.dispose([m, v]);
        }
        self.postMessage({ type: "optimizerState", step: state.step, moments });
        break;
      }
      case "setOptimizerState": {
        const moments = new Map<string, { m: tf.Tensor; v: tf.Tensor }>();
        for (const [name, { m, v }] of Object.entries(message.moments)) {
          const shape = model!.parameters.get(name).shape;
          moments.set(name, { m: tf.tensor(m, shape), v: tf.tensor(v, shape) });
        }
        trainer!.setOptimizerState({ step: message.step, moments });
        for (const { m, v } of moments.values()) tf.dispose([m, v]);
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
