/**
 * `deno task bench --backbone`: the speed of the pretrained backbone model.
 * A training step with the whole backbone fine-tuned (the step the PyTorch
 * peer times at `--hidden 512 --heads 4 --ffn 1536 --layers 2`), the same step
 * with the backbone frozen and its features cached (what the default recipe
 * trains), and sentence embeddings per second (what `embed` and the feature
 * cache run), on one thread and on a pool of workers. Synthetic sentences of
 * random pieces, one piece per word, padded to `seqLen` as the peer pads.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type Config, resolveConfig } from "../core/config.ts";
import { mulberry32 } from "../core/random.ts";
import type { BackboneFiles } from "../data/backbone_files.ts";
import { type EncodedSentence, padBatch } from "../data/encoding.ts";
import { SPECIAL_TOKENS, WordTokenizer } from "../data/tokenizer.ts";
import { InferencePool } from "../inference/inference_pool.ts";
import { embedWords } from "../inference/pipeline.ts";
import { MultiTaskModel } from "../model/model.ts";
import { USE_LITE, useLiteWeights } from "../model/use_lite.ts";
import { cacheBackboneFeatures } from "../model/feature_cache.ts";
import { ParallelTrainer } from "../training/parallel.ts";
import { Trainer } from "../training/trainer.ts";
import { BENCH_TASKS, median, syntheticSentences, timeCalls, timeTrainSteps } from "./benchmark.ts";

/** Options of {@linkcode benchBackbone}. */
export interface BackboneBenchOptions {
  readonly files: BackboneFiles;
  /** Sentences per training batch. @default 32 */
  readonly batch?: number;
  /** Pieces per sentence, padded to. @default 32 */
  readonly seqLen?: number;
  /** Timed steps, after `warmup` untimed ones. @default 10 */
  readonly steps?: number;
  /** @default 2 */
  readonly warmup?: number;
  /** Data-parallel replicas and inference workers. @default 1 */
  readonly workers?: number;
}

/** What {@linkcode benchBackbone} measured (milliseconds are medians). */
export interface BackboneBenchResult {
  readonly parameters: number;
  readonly batch: number;
  readonly seqLen: number;
  readonly workers: number;
  /** The whole model trains, backbone included. */
  readonly fineTuneStepMs: number;
  readonly fineTunePiecesPerSecond: number;
  /** The backbone frozen, its features cached (the pooler stage). */
  readonly frozenStepMs: number;
  /**
   * Sentence embeddings through the pipeline (pieces, backbone, pooler), batch 64
   * of `seqLen` one-piece words: this thread, and the worker pool.
   */
  readonly embedSentencesPerSecondOneThread: number;
  readonly embedSentencesPerSecond: number;
}

/** Times the backbone model (see the module documentation). */
export async function benchBackbone(options: BackboneBenchOptions): Promise<BackboneBenchResult> {
  const batch = options.batch ?? 32, seqLen = options.seqLen ?? 32;
  const steps = options.steps ?? 10, warmup = options.warmup ?? 2;
  const workers = options.workers ?? 1;
  const config: Config = resolveConfig({
    model: { backbone: "use-lite", dropout: 0, numLayers: 0, maxLength: seqLen + 1 },
    train: { batchSize: batch, embeddingUpdates: "lazy" },
  }, "reference");
  const dims = { vocabSize: config.tokenizer.maxVocabSize, tasks: BENCH_TASKS };
  const model = new MultiTaskModel(config.model, dims, config.seed);
  model.parameters.assign(useLiteWeights(options.files), options.files.dir);
  const sentences = (seed: number, count: number) => pieceSentences(count, seqLen, dims, seed);
  const trainBatches = [0, 1, 2].map((i) => padBatch(sentences(100 + i, batch)));
  const trainer = new Trainer(model, { train: config.train, seed: 1 });
  const runner = workers > 1
    ? await ParallelTrainer.create(model, config, { replicas: workers })
    : trainer;
  let fineTune: number[];
  try {
    fineTune = (await timeTrainSteps(runner, trainBatches, steps, warmup)).times;
  } finally {
    if (runner instanceof ParallelTrainer) runner.close();
  }
  // Frozen: the cached features of the same sentences.
  const frozenConfig = { ...config.train, freeze: ["backbone"] };
  const frozen = new Trainer(model, { train: frozenConfig, seed: 1 });
  const cachedBatches = [0, 1, 2].map((i) =>
    padBatch(cacheBackboneFeatures(model, sentences(100 + i, batch), frozen.backboneStage))
  );
  const frozenTimes = (await timeTrainSteps(frozen, cachedBatches, steps, warmup)).times;
  // Embedding through the pipeline (pieces, backbone, pooler), batches of 64: sentences of
  // words that are one piece each (the vocabulary's "▁word" pieces), `seqLen` words long.
  const embedBatch = 64;
  const words = pieceWords(options.files, embedBatch * Math.max(2, workers), seqLen, 200);
  const bundle = {
    config,
    model,
    tokenizer: new WordTokenizer(SPECIAL_TOKENS, true).withPieces(
      options.files.vocab,
      USE_LITE.maxPieces,
    ),
    tasks: [],
  };
  const oneThread = timeCalls(
    () => embedWords(bundle, words.slice(0, embedBatch), { normalize: true }),
    Math.max(3, steps),
    1,
  );
  let pooled = oneThread;
  if (workers > 1) {
    const pool = await InferencePool.create(bundle, workers);
    pooled = [];
    for (let i = 0; i < 1 + Math.max(3, steps); i++) {
      const started = performance.now();
      await pool.embedWords(words, { batchSize: embedBatch, normalize: true });
      // Per batch of 64, as on one thread: the pool embeds `workers` batches at once.
      pooled.push((performance.now() - started) / (words.length / embedBatch));
    }
    pooled.shift();
    pool.close();
  }
  const result: BackboneBenchResult = {
    parameters: model.countParameters(),
    batch,
    seqLen,
    workers,
    fineTuneStepMs: median(fineTune),
    fineTunePiecesPerSecond: (batch * seqLen) / (median(fineTune) / 1000),
    frozenStepMs: median(frozenTimes),
    embedSentencesPerSecondOneThread: embedBatch / (median(oneThread) / 1000),
    embedSentencesPerSecond: embedBatch / (median(pooled) / 1000),
  };
  trainer.dispose();
  frozen.dispose();
  model.dispose();
  tf.disposeVariables();
  return result;
}

/** `count` sentences of `length` words, each word one piece of the vocabulary ("▁word"). */
function pieceWords(
  files: BackboneFiles,
  count: number,
  length: number,
  seed: number,
): string[][] {
  const whole = files.vocab.map(([piece]) => piece)
    .filter((piece) => /^\u2581[a-z]{3,}$/.test(piece))
    .map((piece) => piece.slice(1));
  const random = mulberry32(seed);
  return Array.from(
    { length: count },
    () => Array.from({ length }, () => whole[Math.floor(random() * whole.length)]!),
  );
}

/**
 * `count` sentences of exactly `words` words, one random piece each, labelled
 * for {@linkcode BENCH_TASKS} as {@linkcode syntheticSentences} labels them.
 */
function pieceSentences(
  count: number,
  words: number,
  dims: { vocabSize: number; tasks: typeof BENCH_TASKS },
  seed: number,
): EncodedSentence[] {
  const random = mulberry32(seed);
  // Sentences of the wanted length: synthetic ones are cut or drawn again until they fit.
  const out: EncodedSentence[] = [];
  for (let round = 0; out.length < count; round++) {
    for (const s of syntheticSentences(count, words + 1, dims, seed + 1000 * round)) {
      if (s.tokenIds.length === words + 1 && out.length < count) out.push(s);
    }
  }
  return out.map((s) => ({
    ...s,
    pieces: {
      ids: Int32Array.from({ length: words }, () => 6 + Math.floor(random() * 7994)),
      positions: Int32Array.from({ length: words }, (_, i) => i + 1),
      truncated: false,
    },
  }));
}
