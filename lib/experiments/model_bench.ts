/**
 * `deno task bench`: training and inference speed of a preset's model on
 * synthetic batches shaped like the PyTorch peer's (random lengths
 * 8–maxLength, padded to maxLength; tokens counted as B × L): a training step
 * on one worker and, with several, the sharded data-parallel step interleaved
 * with it; inference through the prediction pipeline on this thread and on a
 * pool; one-sentence latency; matmul speed and the model's FLOPs; optionally
 * a step with parameters frozen, interleaved with the unfrozen one.
 * @module
 */
import type { PresetName } from "../core/config.ts";
import { resolveConfig } from "../core/config.ts";
import type { TaskSpec } from "../core/tasks.ts";
import { backendInfo } from "../backend/backend.ts";
import { SPECIAL_TOKENS, WordTokenizer } from "../data/tokenizer.ts";
import { MultiTaskModel } from "../model/model.ts";
import { InferencePool } from "../inference/inference_pool.ts";
import { predictWords } from "../inference/pipeline.ts";
import { ParallelTrainer } from "../training/parallel.ts";
import { type StepTiming, Trainer } from "../training/trainer.ts";
import {
  BENCH_TASKS,
  fixedLengthPadded,
  matmulGflops,
  median,
  medianTiming,
  percentile,
  replicaSpread,
  type StepTimes,
  syntheticSentences,
  timeCalls,
  timeInference,
  timeInterleavedTrainSteps,
  timeTrainSteps,
  trainingFlopsPerToken,
} from "./benchmark.ts";

/** Options of {@linkcode benchModel}. */
export interface ModelBenchOptions {
  /** The model: `reference` is the peer's (vocab 8000, hidden 128, FFN 512, batch 32). @default "reference" */
  readonly preset?: PresetName;
  /** Timed training steps; inference runs max(2, steps / 4) calls. @default 20 */
  readonly steps?: number;
  /** Untimed steps first. @default 3 */
  readonly warmup?: number;
  /** Training replicas and inference workers. @default 1 */
  readonly workers?: number;
  /** Rows of the word embedding table. @default the preset's maxVocabSize */
  readonly vocab?: number;
  /** Padded sentence length. @default the preset's maxLength */
  readonly seqLen?: number;
  /** Sentences per (global) batch. @default the preset's */
  readonly batch?: number;
  /** @default "lazy" */
  readonly embeddingUpdates?: "dense" | "lazy";
  /** Also time steps with these selectors frozen, interleaved with unfrozen steps. */
  readonly freeze?: readonly string[];
}

/** What {@linkcode benchModel} measured (milliseconds are medians; rounded to 0.01). */
export interface ModelBenchResult {
  readonly config: string;
  readonly parameters: number;
  readonly backend: string;
  readonly simd: boolean;
  readonly threads: number;
  readonly workers: number;
  readonly logicalCores: number;
  readonly vocab: number;
  readonly embeddingUpdates: string;
  readonly batch: number;
  readonly perWorkerBatch: number;
  readonly seqLen: number;
  readonly trainStepMsMedian: number;
  readonly oneWorkerStepMsMedian: number;
  readonly speedupOverOneWorker: number;
  readonly stepBreakdownMs: Record<string, number> | undefined;
  readonly replicaComputeMs?: number[];
  readonly replicaGapMs?: number;
  readonly oneWorkerStepBreakdownMs: Record<string, number> | undefined;
  /** The step's time above a perfect 1/W of one worker's (what does not shrink with W). */
  readonly serialMs: number;
  readonly serialFractionOfOneWorkerStep: number;
  readonly trainTokensPerSecond: number;
  readonly inferBatch: number;
  readonly inferSentencesPerSecond: number;
  readonly inferSentencesPerSecondOneThread: number;
  readonly latencyMsP50: number;
  readonly latencyMsP95: number;
  readonly matmulGflops: Record<string, number>;
  readonly modelTrainFlopsPerToken: number;
  readonly trainGflops: number;
  readonly fractionOfMatmulPeak: number;
  readonly peakRssMiB: number;
  readonly freeze?: string;
  readonly unfrozenStepMs?: number;
  readonly frozenStepMs?: number;
  readonly frozenOverUnfrozen?: number;
  readonly trainableFraction?: number;
}

/** Times a preset's model (see the module documentation). */
export async function benchModel(options: ModelBenchOptions = {}): Promise<ModelBenchResult> {
  const preset = options.preset ?? "reference";
  const steps = options.steps ?? 20;
  const warmup = options.warmup ?? 3;
  const workers = options.workers ?? 1;
  const embeddingUpdates = options.embeddingUpdates ?? "lazy";
  const seqLen = options.seqLen ?? resolveConfig({}, preset).model.maxLength;
  const config = resolveConfig({
    model: { dropout: 0, maxLength: Math.max(2, seqLen) },
    train: {
      embeddingUpdates,
      ...(options.batch !== undefined ? { batchSize: options.batch } : {}),
    },
  }, preset);
  const dims = { vocabSize: options.vocab ?? config.tokenizer.maxVocabSize, tasks: BENCH_TASKS };
  const batchSize = config.train.batchSize;
  let peakRss = Deno.memoryUsage().rss;
  const sampleMemory = () => (peakRss = Math.max(peakRss, Deno.memoryUsage().rss));

  const model = new MultiTaskModel(config.model, dims, config.seed);
  const trainer = new Trainer(model, { train: config.train, seed: config.seed });
  const trainBatches = [0, 1, 2, 3].map((i) =>
    fixedLengthPadded(syntheticSentences(batchSize, seqLen, dims, 100 + i), seqLen)
  );
  // One worker (this thread) always; with --workers W > 1 the sharded
  // data-parallel trainer too, its steps interleaved with the one-worker steps
  // so that a change in the host's speed during the run hits both alike.
  let one: StepTimes;
  let many: StepTimes | undefined;
  if (workers > 1) {
    const runner = await ParallelTrainer.create(model, config, { replicas: workers });
    try {
      const both = await timeInterleavedTrainSteps([trainer, runner], trainBatches, steps, warmup);
      [one, many] = [both[0]!, both[1]!];
    } finally {
      runner.close();
    }
  } else {
    one = await timeTrainSteps(trainer, trainBatches, steps, warmup);
  }
  const stepMs = (many ?? one).times;
  sampleMemory();
  // Inference through the prediction pipeline (encoding, forward, decoding), on this thread
  // and, with several workers, on an InferencePool that hands each worker whole batches.
  const inferBatch = 64;
  const vocab = [...SPECIAL_TOKENS];
  while (vocab.length < dims.vocabSize) vocab.push(`w${vocab.length}`);
  const bundle = {
    config,
    model,
    tokenizer: new WordTokenizer(vocab, true),
    tasks: BENCH_TASKS.map((t): TaskSpec => ({
      name: t.name,
      kind: t.kind,
      metric: "accuracy",
      labels: Array.from({ length: t.numLabels }, (_, i) => `${t.name}-${i}`),
    })),
  };
  const inferSentences = syntheticSentences(inferBatch * Math.max(2, workers), seqLen, dims, 200)
    .map((s) => [...s.tokenIds.subarray(1)].map((id) => vocab[id]!));
  const inferMs = await timeCalls(
    () => predictWords(bundle, inferSentences, { batchSize: inferBatch }),
    Math.max(2, Math.ceil(steps / 4)),
    1,
  );
  sampleMemory();
  let poolInferMs: number[] | undefined;
  if (workers > 1) {
    const pool = await InferencePool.create(bundle, workers);
    poolInferMs = [];
    for (let i = 0; i < 1 + Math.max(2, Math.ceil(steps / 4)); i++) {
      const started = performance.now();
      await pool.predictWords(inferSentences, { batchSize: inferBatch });
      if (i >= 1) poolInferMs.push(performance.now() - started);
    }
    pool.close();
    sampleMemory();
  }
  const singles = syntheticSentences(50, seqLen, dims, 300).map((s) =>
    fixedLengthPadded([s], s.tokenIds.length)
  );
  const latencyMs = timeInference(model, singles, singles.length, warmup);
  const matmul = Object.fromEntries(
    ([[2048, 128, 512], [2048, 512, 128], [256, 256, 256], [1024, 1024, 1024]] as const).map((
      [m, k, n],
    ) => [`${m}x${k}x${n}`, matmulGflops(m, k, n)]),
  );
  sampleMemory();

  const info = backendInfo();
  const stepMedian = median(stepMs);
  const oneWorkerMedian = median(one.times);
  // What does not shrink with W (Amdahl): the step's time above a perfect 1/W of one worker's.
  const serialMs = stepMedian - oneWorkerMedian / workers;
  const breakdown = medianTiming((many ?? one).timings);
  const spread = replicaSpread(many?.replicaComputeMs ?? []);
  const replicaCompute = spread && {
    replicaComputeMs: spread.computeMs.map(round),
    replicaGapMs: round(spread.gapMs),
  };
  const roundTiming = (t: StepTiming | undefined) =>
    t === undefined
      ? undefined
      : Object.fromEntries(Object.entries(t).map(([k, v]) => [k.replace(/Ms$/, ""), round(v)]));
  const tokensPerSecond = (batchSize * seqLen) / (stepMedian / 1000);
  const flopsPerToken = trainingFlopsPerToken(config.model, seqLen, dims);
  const achievedGflops = (flopsPerToken * tokensPerSecond) / 1e9;
  const cores = workers; // one single-threaded tfjs instance per worker
  const peak = matmul["2048x128x512"]!;
  let freezeComparison: Record<string, number> | undefined;
  if (options.freeze !== undefined) {
    const frozenConfig = resolveConfig({
      model: config.model,
      train: { ...config.train, freeze: [...options.freeze] },
    }, preset);
    const frozenTrainer = new Trainer(model, { train: frozenConfig.train, seed: config.seed });
    const full: number[] = [];
    const frozen: number[] = [];
    for (let i = 0; i < warmup + steps; i++) {
      const batch = trainBatches[i % trainBatches.length]!;
      let started = performance.now();
      trainer.trainPadded(batch);
      if (i >= warmup) full.push(performance.now() - started);
      started = performance.now();
      frozenTrainer.trainPadded(batch);
      if (i >= warmup) frozen.push(performance.now() - started);
    }
    freezeComparison = {
      unfrozenStepMs: round(median(full)),
      frozenStepMs: round(median(frozen)),
      frozenOverUnfrozen: round(median(frozen) / median(full)),
      trainableFraction: frozenTrainer.trainableNames
        .reduce((n, name) => n + model.parameters.get(name).size, 0) / model.countParameters(),
    };
    frozenTrainer.dispose();
  }
  const result: ModelBenchResult = {
    config: preset,
    parameters: model.countParameters(),
    backend: info.backend,
    simd: info.simd,
    threads: info.threads,
    workers,
    logicalCores: navigator.hardwareConcurrency,
    vocab: dims.vocabSize,
    embeddingUpdates,
    batch: batchSize,
    perWorkerBatch: Math.ceil(batchSize / workers),
    seqLen,
    trainStepMsMedian: round(stepMedian),
    oneWorkerStepMsMedian: round(oneWorkerMedian),
    speedupOverOneWorker: round(oneWorkerMedian / stepMedian),
    stepBreakdownMs: roundTiming(breakdown),
    ...replicaCompute,
    oneWorkerStepBreakdownMs: roundTiming(medianTiming(one.timings)),
    serialMs: round(serialMs),
    serialFractionOfOneWorkerStep: Math.round((serialMs / oneWorkerMedian) * 1000) / 1000,
    trainTokensPerSecond: Math.round(tokensPerSecond),
    inferBatch,
    inferSentencesPerSecond: Math.round(inferBatch / (median(poolInferMs ?? inferMs) / 1000)),
    inferSentencesPerSecondOneThread: Math.round(inferBatch / (median(inferMs) / 1000)),
    latencyMsP50: round(percentile(latencyMs, 50)),
    latencyMsP95: round(percentile(latencyMs, 95)),
    matmulGflops: Object.fromEntries(Object.entries(matmul).map(([k, v]) => [k, round(v)])),
    modelTrainFlopsPerToken: flopsPerToken,
    trainGflops: round(achievedGflops),
    fractionOfMatmulPeak: round(achievedGflops / (peak * cores)),
    peakRssMiB: Math.round(peakRss / 2 ** 20),
    ...(freezeComparison !== undefined
      ? { freeze: options.freeze!.join(","), ...freezeComparison }
      : {}),
  };
  trainer.dispose();
  model.dispose();
  return result;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
