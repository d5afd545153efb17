/**
 * lib/inference: Using a trained model: prediction per task, tag decoding, embeddings, a pool of workers.
 * @module
 */
export {
  cosineSimilarity,
  decodeBatch,
  embed,
  embedWords,
  encodeWordLists,
  type Entity,
  inBatches,
  type InferenceOptions,
  type LabelPrediction,
  predict,
  type Prediction,
  predictWords,
} from "./pipeline.ts";
export {
  argmaxTags,
  iob2Allows,
  TAG_DECODINGS,
  type TagDecoding,
  viterbiTags,
} from "./decoding.ts";
export { InferencePool } from "./inference_pool.ts";
export {
  applyHead,
  type HeadFile,
  HeadFileSchema,
  type HeadLabel,
  headProbabilities,
  normalized,
  parseHeadFile,
} from "./head_file.ts";
