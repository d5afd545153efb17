/**
 * Inference on several cores: one Deno Worker per replica, each with its own
 * tfjs instance (the main thread's backend) and a copy of the model. Work is a
 * queue of whole batches: each idle worker takes the next batch, so workers
 * stay busy and per-call overhead is paid once per batch (a batch cut into
 * slices, one per worker, gives each worker a few sentences and loses to that
 * overhead as workers grow). The results are the same as {@linkcode predictWords}
 * on one thread; one short input is one batch on one worker.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { askWorker } from "../backend/ask_worker.ts";
import type { BackendName } from "../backend/backend.ts";
import { padBatch, type PaddedBatch } from "../data/encoding.ts";
import { splitWords } from "../data/tokenizer.ts";
import type { ModelBundle } from "../model/checkpoint.ts";
import type { AdvancedArrays } from "../model/feature_cache.ts";
import {
  decodeBatch,
  encodeWordLists,
  type InferenceOptions,
  type Prediction,
} from "./pipeline.ts";
import type { ToInferenceWorker } from "./_inference_worker.ts";

type FromInferenceWorker =
  | { type: "ready" }
  | { type: "probabilities"; probabilities: Record<string, Float32Array> }
  | { type: "embedded"; vectors: Float32Array }
  | { type: "advanced"; arrays: AdvancedArrays }
  | { type: "error"; message: string };

/**
 * A pool of inference workers over one loaded model. Call {@linkcode close}
 * when done (open workers keep the process alive).
 *
 * @example
 * ```ts ignore
 * const pool = await InferencePool.create(await loadModel("runs/model"), 2);
 * try {
 *   console.log(await pool.predict(["Anna flew to Paris ."]));
 * } finally {
 *   pool.close();
 * }
 * ```
 */
export class InferencePool {
  readonly bundle: ModelBundle;
  readonly #workers: Worker[];

  private constructor(bundle: ModelBundle, workers: Worker[]) {
    this.bundle = bundle;
    this.#workers = workers;
  }

  /** Number of workers. */
  get size(): number {
    return this.#workers.length;
  }

  /** Starts `workers` workers, each with a copy of the bundle's weights, on the current backend. */
  static async create(bundle: ModelBundle, workers: number): Promise<InferencePool> {
    if (!Number.isInteger(workers) || workers < 1) {
      throw new RangeError(
        `Cannot start an inference pool: workers must be an integer >= 1, got ${workers}`,
      );
    }
    const weights = bundle.model.parameters.read();
    const pool = new InferencePool(
      bundle,
      Array.from(
        { length: workers },
        () =>
          new Worker(new URL("./_inference_worker.ts", import.meta.url).href, { type: "module" }),
      ),
    );
    try {
      await Promise.all(
        pool.#workers.map((_, i) =>
          pool.#ask(i, {
            type: "init",
            backend: tf.getBackend() as BackendName,
            config: bundle.config,
            dims: bundle.model.dims,
            weights,
          })
        ),
      );
    } catch (error) {
      pool.close();
      throw error;
    }
    return pool;
  }

  /** Like `predictWords`, on the pool's workers: whole batches from a queue. */
  async predictWords(
    sentences: readonly (readonly string[])[],
    options: InferenceOptions = {},
  ): Promise<Prediction[]> {
    const batches = chunks(sentences, options.batchSize ?? 64);
    const results = await this.#queue(batches, async (worker, wordLists) => {
      const encoded = encodeWordLists(this.bundle, wordLists);
      const padded = padBatch(encoded);
      const reply = await this.#ask(worker, { type: "probabilities", batch: padded });
      const { probabilities } = reply as Extract<FromInferenceWorker, { type: "probabilities" }>;
      return decodeBatch(this.bundle, wordLists, encoded, padded, probabilities, options);
    });
    return results.flat();
  }

  /** Like `predict`, on the pool's workers. */
  predict(texts: readonly string[], options: InferenceOptions = {}): Promise<Prediction[]> {
    return this.predictWords(texts.map((t) => splitWords(t)), options);
  }

  /** Like `embed`, on the pool's workers. */
  embed(
    texts: readonly string[],
    options: InferenceOptions & { readonly normalize?: boolean } = {},
  ): Promise<Float32Array[]> {
    return this.embedWords(texts.map(splitWords), options);
  }

  /** Like `embedWords`, on the pool's workers. */
  async embedWords(
    sentences: readonly (readonly string[])[],
    options: InferenceOptions & { readonly normalize?: boolean } = {},
  ): Promise<Float32Array[]> {
    const hidden = this.bundle.model.embeddingSize;
    const batches = chunks(sentences, options.batchSize ?? 64);
    const results = await this.#queue(batches, async (worker, batch) => {
      const padded = padBatch(
        encodeWordLists(this.bundle, batch, this.bundle.model.backbone === undefined),
      );
      const reply = await this.#ask(worker, {
        type: "embed",
        batch: padded,
        normalize: options.normalize ?? false,
      });
      const { vectors } = reply as Extract<FromInferenceWorker, { type: "embedded" }>;
      return batch.map((_, i) => vectors.slice(i * hidden, (i + 1) * hidden));
    });
    return results.flat();
  }

  /**
   * Padded batches' backbone inputs carried up to `stage`, each batch on the
   * next idle worker (what a feature cache stores; see
   * `BackboneFeatureCache.attachWith`), handed to `onBatch` as they are done.
   */
  async advanceBackbone(
    batches: readonly PaddedBatch[],
    stage: number,
    onBatch: (index: number, arrays: AdvancedArrays) => void,
  ): Promise<void> {
    await this.#queue(batches.map((b, i) => [b, i] as const), async (worker, [batch, i]) => {
      const reply = await this.#ask(worker, { type: "advance", batch, stage });
      onBatch(i, (reply as Extract<FromInferenceWorker, { type: "advanced" }>).arrays);
    });
  }

  /** Stops the workers. */
  close(): void {
    for (const w of this.#workers) w.terminate();
  }

  /** Runs `work` on every item, each idle worker taking the next; results in item order. */
  async #queue<T, R>(
    items: readonly T[],
    work: (worker: number, item: T) => Promise<R>,
  ): Promise<R[]> {
    const results = new Array<R>(items.length);
    let next = 0;
    await Promise.all(this.#workers.map(async (_, worker) => {
      while (next < items.length) {
        const i = next++;
        results[i] = await work(worker, items[i]!);
      }
    }));
    return results;
  }

  #ask(replica: number, message: ToInferenceWorker): Promise<FromInferenceWorker> {
    return askWorker<FromInferenceWorker>(
      this.#workers[replica]!,
      message,
      `Inference worker ${replica}`,
    );
  }
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += size) {
    out.push(items.slice(start, start + size));
  }
  return out;
}
