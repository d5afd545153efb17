/**
 * The one path from a padded batch to numbers: tensors are made from the
 * batch, the computation runs inside `tf.tidy`, its results are read back as
 * typed arrays (outside the tidy: never return a TypedArray from one), and
 * every tensor is freed. Evaluation, prediction, embedding, the inference
 * workers and the benchmark all go through it.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  type BatchTensors,
  batchToTensors,
  disposeBatch,
  type PaddedBatch,
} from "../data/encoding.ts";
import type { ForwardOptions, ModelOutput, MultiTaskModel } from "./model.ts";

/**
 * Runs `compute` on the batch's tensors and returns its outputs' values.
 * @param compute builds the tensors to read (inside `tf.tidy`)
 */
export function runPadded(
  padded: PaddedBatch,
  compute: (batch: BatchTensors) => tf.Tensor[],
): Float32Array[] {
  const batch = batchToTensors(padded);
  try {
    const outputs = tf.tidy(() => compute(batch));
    const values = outputs.map((t) => t.dataSync() as Float32Array);
    tf.dispose(outputs);
    return values;
  } finally {
    disposeBatch(batch);
  }
}

/**
 * A forward pass (no dropout unless `options` asks) on a padded batch; `read`
 * turns the model's output into one tensor whose values are returned.
 */
export function forwardPadded(
  model: MultiTaskModel,
  padded: PaddedBatch,
  options: ForwardOptions,
  read: (out: ModelOutput, batch: BatchTensors) => tf.Tensor,
): Float32Array {
  return runPadded(padded, (batch) => [read(model.forward(batch, options), batch)])[0]!;
}

/**
 * The probabilities of every token and sentence head on a padded batch:
 * softmax over labels, per task (`[batch, seqLen, labels]` or `[batch, labels]`,
 * row-major).
 */
export function taskProbabilities(
  model: MultiTaskModel,
  padded: PaddedBatch,
): Record<string, Float32Array> {
  const tasks = [...model.heads.values()].filter((h) => h.spec.kind !== "pair")
    .map((h) => h.spec.name);
  const values = runPadded(padded, (batch) => {
    const out = model.forward(batch, { tasks });
    return tasks.map((task) => tf.softmax(out.outputs[task]!));
  });
  return Object.fromEntries(tasks.map((task, i) => [task, values[i]!]));
}

/** Sentence embeddings of a padded batch: `[batch, hiddenSize]`, row-major. */
export function embedPadded(
  model: MultiTaskModel,
  padded: PaddedBatch,
  normalize: boolean,
): Float32Array {
  return runPadded(padded, (batch) => [model.embed(batch, { normalize })])[0]!;
}
