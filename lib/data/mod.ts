/**
 * lib/data: Text to ids: readers, tokenizer, word vectors, label sets, encoding and batching, corpora.
 * @module
 */
export {
  inferTasks,
  isPairLabel,
  type Label,
  loadSentences,
  type LoadSentencesOptions,
  type PairLabel,
  parseSentences,
  REFERENCE_TASKS,
  type Sentence,
} from "./sentences.ts";
export {
  type ConllOptions,
  type LabelledSentenceOptions,
  type PairOptions,
  parseConll,
  parseLabelledSentences,
  parsePairs,
} from "./readers.ts";
export { decodeText, readLines, readText } from "./text.ts";
export {
  checkTaskNames,
  loadTaskFiles,
  type LoadTaskFilesOptions,
  PairTaskSchema,
  parseTaskFlag,
  SentenceTaskSchema,
  splitSentences,
  type TaskCorpora,
  type TaskFile,
  type TaskFiles,
  TaskFilesSchema,
  type TaskSetCorpora,
  TokenTaskSchema,
  unknownTaskNames,
  validateTaskFiles,
} from "./task_files.ts";
export { createMatrixFile, type MatrixFile, type MatrixFormat, npyHeader } from "./npy.ts";
export {
  CaseFeature,
  caseFeature,
  CHAR_BOW_ID,
  CHAR_EOW_ID,
  CHAR_UNK_ID,
  CLS_ID,
  MASK_ID,
  NUM_CASE_FEATURES,
  PAD_ID,
  type PretrainedWords,
  SPECIAL_TOKENS,
  splitWords,
  UNK_ID,
  whitespaceWords,
  wordShape,
  WordTokenizer,
  type WordTokenizerJson,
} from "./tokenizer.ts";
export {
  BUILTIN_VECTORS,
  DEFAULT_VECTOR_CACHE,
  type LoadVectorsOptions,
  loadWordVectors,
  parseVectorText,
  parseWinkJson,
  pretrainedTable,
  readVectorCache,
  readVectorText,
  resolveVectorSource,
  vectorIndex,
  type WordVectors,
  writeVectorCache,
} from "./vectors.ts";
export {
  DEFAULT_NER_TAGS,
  DEFAULT_SENTIMENT_LABELS,
  ENTITY_TYPES,
  iob1ToIob2,
  isTag,
  type Span,
  spansToTags,
  tagsToSpans,
} from "./labels.ts";
export {
  DEFAULT_TAG_PRIOR_WEIGHT,
  type TagTransitions,
  tagTransitions,
} from "./tag_transitions.ts";
export {
  batchGold,
  batchTasks,
  type BatchTensors,
  batchToTensors,
  bucketBatches,
  disposeBatch,
  distinctRows,
  type EncodedSentence,
  encodeSentence,
  exampleLength,
  IGNORE_INDEX,
  labelCounts,
  localIds,
  padBatch,
  type PaddedBatch,
  splitBatch,
  type TaskLabels,
  taskPool,
  wordDropout,
} from "./encoding.ts";
export {
  type Dataset,
  type DatasetFile,
  DATASETS,
  DEFAULT_CORPUS_DIR,
  fetchDatasets,
  type FetchedFile,
  type FetchOptions,
} from "./datasets.ts";
