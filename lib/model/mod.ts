/**
 * lib/model: The network: encoder, heads, losses, parameters, the one forward path, model directories.
 * @module
 */
export {
  type ForwardOptions,
  type ModelDims,
  modelDims,
  type ModelOutput,
  MultiTaskModel,
} from "./model.ts";
export {
  AFFIX_EMBEDDING,
  type EmbeddingDims,
  type EmbeddingRows,
  EMBEDDINGS_PREFIX,
  Encoder,
  ENCODER_PREFIX,
  type EncoderInputs,
  type EncoderOutput,
  layerPrefix,
  ROW_SPARSE_TABLES,
  TOKEN_EMBEDDING,
  TOKEN_PROJECTION,
} from "./encoder.ts";
export {
  type AttentionArgs,
  attentionBias,
  MASK_FILL,
  MultiHeadSelfAttention,
} from "./attention.ts";
export {
  createHead,
  type Head,
  type HeadArgs,
  headPrefix,
  type HeadSpec,
  PairSimilarity,
  SentenceClassifier,
  taskLoss,
  TokenClassifier,
} from "./heads.ts";
export { CharCnn } from "./char_cnn.ts";
export { l2Normalize, pool } from "./pooling.ts";
export {
  dense,
  dropout,
  gelu,
  LAYER_NORM_EPSILON,
  layerNorm,
  maxOverAxis1,
  slidingWindows,
} from "./ops.ts";
export {
  accuracyCounts,
  crfNegativeLogLikelihood,
  maskedCrossEntropy,
  similarityLoss,
} from "./losses.ts";
export { type Initializer, type NamedArrays, ParameterStore, readArrays } from "./parameters.ts";
export { embedPadded, forwardPadded, runPadded, taskProbabilities } from "./forward.ts";
export {
  type AttachOptions,
  BackboneFeatureCache,
  cacheBackboneFeatures,
} from "./feature_cache.ts";
export {
  FORMAT_VERSION,
  inspectModelDir,
  loadModel,
  loadModelFrom,
  loadSavedTraining,
  type ModelBundle,
  type ModelDirLock,
  type OutputKind,
  prepareModelDir,
  type SavedTraining,
  saveModel,
  type TrainedTask,
} from "./checkpoint.ts";
