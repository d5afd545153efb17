/**
 * Teaching a new sentence label after training: a softmax head fitted to a
 * frozen model's sentence embeddings of a few examples per label (full-batch
 * gradient descent on the cross-entropy with a little L2; zero start, so the
 * same examples give the same head). Plain arithmetic, the same in Deno and
 * in a browser; the result is a head file ({@linkcode HeadFile}).
 * @module
 */
import { TrainingError } from "../core/errors.ts";
import { TASK_NAME } from "../core/tasks.ts";
import { type HeadFile, headProbabilities, normalized } from "../inference/head_file.ts";

/** Options of {@linkcode teachHead}. */
export interface TeachOptions {
  /** The head's task name. */
  readonly name: string;
  /** Read L2-normalised embeddings. @default true */
  readonly normalize?: boolean;
  /** @default 300 */
  readonly epochs?: number;
  /** @default 1 */
  readonly learningRate?: number;
  /** L2 penalty on the kernel. @default 0.001 */
  readonly l2?: number;
  /** Called after each epoch with the mean cross-entropy; awaited every 25 epochs (a page can repaint). */
  readonly onEpoch?: (epoch: number, loss: number) => void | Promise<void>;
}

/**
 * Fits a head to `embeddings` labelled `labels` (its label list: the distinct
 * labels, sorted).
 * @throws {TrainingError} with fewer than two labels, or mismatched inputs
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { teachHead } from "./head_training.ts";
 * import { applyHead } from "../inference/head_file.ts";
 * const x = [[1, 0.1], [0.9, 0], [0, 1], [0.1, 0.8]].map((v) => Float32Array.from(v));
 * const head = await teachHead(x, ["a", "a", "b", "b"], { name: "t" });
 * assert.deepEqual(applyHead(head, x).map((p) => p.label), ["a", "a", "b", "b"]);
 * ```
 */
export async function teachHead(
  embeddings: readonly ArrayLike<number>[],
  labels: readonly string[],
  options: TeachOptions,
): Promise<HeadFile> {
  if (!TASK_NAME.test(options.name)) {
    throw new TrainingError(
      `Cannot teach head "${options.name}": a task name is lower-case letters, digits and _, starting with a letter`,
    );
  }
  if (embeddings.length !== labels.length || embeddings.length === 0) {
    throw new TrainingError(
      `Cannot teach head "${options.name}": ${embeddings.length} embeddings for ${labels.length} labels`,
    );
  }
  const names = [...new Set(labels)].sort();
  if (names.length < 2) {
    throw new TrainingError(
      `Cannot teach head "${options.name}": it needs examples of two labels or more, got ${
        names.join(", ")
      }`,
    );
  }
  const size = embeddings[0]!.length;
  const normalize = options.normalize ?? true;
  const x = embeddings.map((e) => {
    if (e.length !== size) {
      throw new TrainingError(`Cannot teach head "${options.name}": embeddings differ in size`);
    }
    return normalize ? normalized(e) : Float64Array.from(e);
  });
  const y = labels.map((l) => names.indexOf(l));
  const k = names.length, n = x.length;
  const head: HeadFile = {
    format: "mtt-sentence-head",
    version: 1,
    name: options.name,
    labels: names,
    embeddingSize: size,
    normalize,
    kernel: Array.from({ length: size }, () => new Array<number>(k).fill(0)),
    bias: new Array<number>(k).fill(0),
  };
  // Probabilities of the raw (already normalised) inputs: the head reads them as is.
  const raw = { ...head, normalize: false };
  const rate = options.learningRate ?? 1, l2 = options.l2 ?? 1e-3;
  const epochs = options.epochs ?? 300;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const gradKernel = Array.from({ length: size }, () => new Float64Array(k));
    const gradBias = new Float64Array(k);
    let loss = 0;
    for (let s = 0; s < n; s++) {
      const p = headProbabilities(raw, x[s]!);
      loss -= Math.log(Math.max(p[y[s]!]!, 1e-12));
      for (let j = 0; j < k; j++) {
        const d = (p[j]! - (j === y[s] ? 1 : 0)) / n;
        gradBias[j]! += d;
        for (let i = 0; i < size; i++) gradKernel[i]![j]! += d * x[s]![i]!;
      }
    }
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < k; j++) {
        head.kernel[i]![j]! -= rate * (gradKernel[i]![j]! + l2 * head.kernel[i]![j]!);
      }
    }
    for (let j = 0; j < k; j++) head.bias[j]! -= rate * gradBias[j]!;
    const reported = options.onEpoch?.(epoch, loss / n);
    if (epoch % 25 === 0) await reported;
  }
  return head;
}
