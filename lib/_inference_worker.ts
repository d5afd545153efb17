/**
 * An inference replica: its own tfjs-wasm instance and model copy; answers
 * forward passes on the batch slices `inference_pool.ts` sends. Private.
 * @module
 */
/// <reference lib="deno.worker" />
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "./backend.ts";
import type { Config } from "./config.ts";
import { batchToTensors, disposeBatch, type PaddedBatch } from "./encoding.ts";
import { type ModelDims, MultiTaskModel } from "./model.ts";

/** Messages from the main thread. */
export type ToInferenceWorker =
  | { type: "init"; config: Config; dims: ModelDims; weights: Record<string, Float32Array> }
  | { type: "forward"; batch: PaddedBatch; embed: boolean; normalize: boolean };

let model: MultiTaskModel | undefined;

self.onmessage = async (event: MessageEvent<ToInferenceWorker>) => {
  const message = event.data;
  try {
    if (message.type === "init") {
      await initBackend("wasm");
      model = new MultiTaskModel(message.config.model, message.dims, message.config.seed);
      for (const [name, values] of Object.entries(message.weights)) {
        const v = model.parameters.get(name);
        v.assign(tf.tensor(values, v.shape));
      }
      self.postMessage({ type: "ready" });
      return;
    }
    const batch = batchToTensors(message.batch);
    if (message.embed) {
      const vectors = model!.embed(batch, { normalize: message.normalize });
      disposeBatch(batch);
      const data = vectors.dataSync() as Float32Array;
      vectors.dispose();
      self.postMessage({ type: "embedded", vectors: data });
      return;
    }
    const [tags, sentiment] = tf.tidy(() => {
      const out = model!.forward(batch);
      return [tf.softmax(out.nerLogits), tf.softmax(out.sentimentLogits)];
    });
    disposeBatch(batch);
    const tagProbs = tags!.dataSync() as Float32Array;
    const sentimentProbs = sentiment!.dataSync() as Float32Array;
    tf.dispose([tags!, sentiment!]);
    self.postMessage({ type: "probabilities", tagProbs, sentimentProbs });
  } catch (error) {
    self.postMessage({ type: "error", message: (error as Error).stack ?? String(error) });
  }
};
