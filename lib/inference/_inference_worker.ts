/**
 * An inference replica: its own tfjs instance (the main thread's backend) and
 * model copy; answers forward passes on the batches `inference_pool.ts` sends. Private.
 * @module
 */
/// <reference lib="deno.worker" />
import { type BackendName, initBackend } from "../backend/backend.ts";
import type { Config } from "../core/config.ts";
import type { PaddedBatch } from "../data/encoding.ts";
import { embedPadded, taskProbabilities } from "../model/forward.ts";
import { advanceArrays } from "../model/feature_cache.ts";
import { type ModelDims, MultiTaskModel } from "../model/model.ts";
import type { NamedArrays } from "../model/parameters.ts";

/** Messages from the main thread. */
export type ToInferenceWorker =
  | { type: "init"; backend: BackendName; config: Config; dims: ModelDims; weights: NamedArrays }
  | { type: "probabilities"; batch: PaddedBatch }
  | { type: "embed"; batch: PaddedBatch; normalize: boolean }
  | { type: "advance"; batch: PaddedBatch; stage: number };

let model: MultiTaskModel | undefined;

self.onmessage = async (event: MessageEvent<ToInferenceWorker>) => {
  const message = event.data;
  try {
    switch (message.type) {
      case "init": {
        await initBackend(message.backend);
        model = new MultiTaskModel(message.config.model, message.dims, message.config.seed);
        model.parameters.assign(message.weights, "the main thread's weights", true);
        self.postMessage({ type: "ready" });
        break;
      }
      case "probabilities": {
        self.postMessage({
          type: "probabilities",
          probabilities: taskProbabilities(model!, message.batch),
        });
        break;
      }
      case "embed": {
        const vectors = embedPadded(model!, message.batch, message.normalize);
        self.postMessage({ type: "embedded", vectors });
        break;
      }
      case "advance": {
        const arrays = advanceArrays(model!, message.batch, message.stage);
        self.postMessage({ type: "advanced", arrays });
        break;
      }
    }
  } catch (error) {
    self.postMessage({ type: "error", message: (error as Error).stack ?? String(error) });
  }
};
