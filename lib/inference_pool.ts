/**
 * Inference on several cores: one Deno Worker per replica, each with its own
 * tfjs-wasm instance and a copy of the model. Every batch is cut into one slice
 * per replica (see `splitBatch`) and the slices run at the same time; the
 * results are the same as {@linkcode predictWords} on one thread.
 * @module
 */
import type { ModelBundle } from "./checkpoint.ts";
import { padBatch, type PaddedBatch } from "./encoding.ts";
import { splitBatch } from "./parallel.ts";
import {
  type BatchProbabilities,
  decodeBatch,
  encodeWordLists,
  type InferenceOptions,
  type Prediction,
} from "./pipeline.ts";
import { splitWords } from "./tokenizer.ts";
import type { ToInferenceWorker } from "./_inference_worker.ts";
import { askWorker } from "./_ask_worker.ts";

type FromInferenceWorker =
  | { type: "ready" }
  | { type: "probabilities"; tagProbs: Float32Array; sentimentProbs: Float32Array }
  | { type: "embedded"; vectors: Float32Array }
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

  /** Starts `workers` workers, each with a copy of the bundle's weights. */
  static async create(bundle: ModelBundle, workers: number): Promise<InferencePool> {
    if (!Number.isInteger(workers) || workers < 1) {
      throw new RangeError(
        `Cannot start an inference pool: workers must be an integer >= 1, got ${workers}`,
      );
    }
    const weights: Record<string, Float32Array> = {};
    for (const [name, v] of bundle.model.parameters.entries()) {
      weights[name] = v.dataSync() as Float32Array;
    }
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
          pool.#ask(i, { type: "init", config: bundle.config, dims: bundle.model.dims, weights })
        ),
      );
    } catch (error) {
      pool.close();
      throw error;
    }
    return pool;
  }

  /** Softmax outputs of one padded batch, its slices run in parallel. */
  async probabilities(padded: PaddedBatch): Promise<BatchProbabilities> {
    const slices = splitBatch(padded, Math.min(this.size, padded.batch));
    const replies = await Promise.all(
      slices.map((batch, i) =>
        this.#ask(i, { type: "forward", batch, embed: false, normalize: false })
      ),
    );
    const numTags = this.bundle.labels.nerTags.length;
    const numLabels = this.bundle.labels.sentimentLabels.length;
    const tagProbs = new Float32Array(padded.batch * padded.seqLen * numTags);
    const sentimentProbs = new Float32Array(padded.batch * numLabels);
    let row = 0;
    slices.forEach((slice, i) => {
      const reply = replies[i] as Extract<FromInferenceWorker, { type: "probabilities" }>;
      for (let r = 0; r < slice.batch; r++, row++) {
        tagProbs.set(
          reply.tagProbs.subarray(r * slice.seqLen * numTags, (r + 1) * slice.seqLen * numTags),
          row * padded.seqLen * numTags,
        );
      }
      sentimentProbs.set(reply.sentimentProbs, (row - slice.batch) * numLabels);
    });
    return { tagProbs, sentimentProbs };
  }

  /** Like `predictWords`, on the pool's workers. */
  async predictWords(
    sentences: readonly (readonly string[])[],
    options: InferenceOptions = {},
  ): Promise<Prediction[]> {
    const batchSize = options.batchSize ?? 64;
    const results: Prediction[] = [];
    for (let start = 0; start < sentences.length; start += batchSize) {
      const wordLists = sentences.slice(start, start + batchSize);
      const encoded = encodeWordLists(this.bundle, wordLists);
      const padded = padBatch(encoded);
      const probs = await this.probabilities(padded);
      results.push(...decodeBatch(this.bundle, wordLists, encoded, padded, probs, options));
    }
    return results;
  }

  /** Like `predict`, on the pool's workers. */
  predict(texts: readonly string[], options: InferenceOptions = {}): Promise<Prediction[]> {
    return this.predictWords(texts.map((t) => splitWords(t)), options);
  }

  /** Like `embed`, on the pool's workers. */
  async embed(
    texts: readonly string[],
    options: InferenceOptions & { readonly normalize?: boolean } = {},
  ): Promise<number[][]> {
    const batchSize = options.batchSize ?? 64;
    const hidden = this.bundle.config.model.hiddenSize;
    const out: number[][] = [];
    for (let start = 0; start < texts.length; start += batchSize) {
      const encoded = encodeWordLists(
        this.bundle,
        texts.slice(start, start + batchSize).map(splitWords),
      );
      const padded = padBatch(encoded);
      const slices = splitBatch(padded, Math.min(this.size, padded.batch));
      const replies = await Promise.all(
        slices.map((batch, i) =>
          this.#ask(i, {
            type: "forward",
            batch,
            embed: true,
            normalize: options.normalize ?? false,
          })
        ),
      );
      for (const reply of replies) {
        const v = (reply as Extract<FromInferenceWorker, { type: "embedded" }>).vectors;
        for (let r = 0; r < v.length / hidden; r++) {
          out.push(Array.from(v.subarray(r * hidden, (r + 1) * hidden)));
        }
      }
    }
    return out;
  }

  /** Stops the workers. */
  close(): void {
    for (const w of this.#workers) w.terminate();
  }

  #ask(replica: number, message: ToInferenceWorker): Promise<FromInferenceWorker> {
    return askWorker<FromInferenceWorker>(
      this.#workers[replica]!,
      message,
      `Inference worker ${replica}`,
    );
  }
}
