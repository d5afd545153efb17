/**
 * Multi-task transformer toolkit: a shared transformer encoder with an NER head
 * and a sentiment head, on TensorFlow.js (WASM backend) under Deno.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveConfig, splitWords, tagsToSpans } from "./mod.ts";
 * assert.equal(resolveConfig().model.numLayers, 2);
 * assert.deepEqual(splitWords("Hi, Paris!"), ["Hi", ",", "Paris", "!"]);
 * assert.deepEqual(tagsToSpans(["B-LOC"]), [{ type: "LOC", start: 0, end: 1 }]);
 * ```
 * @module
 */
export * from "./attention.ts";
export * from "./backend.ts";
export * from "./char_cnn.ts";
export * from "./checkpoint.ts";
export * from "./config.ts";
export * from "./data.ts";
export * from "./decoding.ts";
export * from "./encoder.ts";
export * from "./encoding.ts";
export * from "./errors.ts";
export * from "./evaluate.ts";
export * from "./fit.ts";
export * from "./inference_pool.ts";
export * from "./labels.ts";
export * from "./losses.ts";
export * from "./model.ts";
export * from "./ner_head.ts";
export * from "./ops.ts";
export * from "./optimizer.ts";
export * from "./parameters.ts";
export * from "./pipeline.ts";
export * from "./pooling.ts";
export * from "./random.ts";
export * from "./schedule.ts";
export * from "./sentiment_head.ts";
export * from "./tokenizer.ts";
export * from "./train_run.ts";
export * from "./trainer.ts";
export * from "./wasm_kernels.ts";
export * from "./benchmark.ts";
export * from "./parallel.ts";
export * from "./metrics.ts";
export * from "./readers.ts";
export * from "./score.ts";
export * from "./recipe.ts";
export * from "./param_groups.ts";
export * from "./pretrain.ts";
export * from "./diagnostics.ts";
export * from "./vectors.ts";
export * from "./inplace.ts";
export * from "./datasets.ts";
