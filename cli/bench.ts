/**
 * `deno task bench`: training and inference throughput, latency, matmul speed
 * and model FLOPs, on synthetic batches shaped like the PyTorch peer's
 * (random lengths 8–maxLength, padded to maxLength; tokens counted as B × L).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type PresetName, resolveConfig } from "../lib/core/mod.ts";
import { backendInfo } from "../lib/backend/mod.ts";
import { SPECIAL_TOKENS, WordTokenizer } from "../lib/data/mod.ts";
import { MultiTaskModel } from "../lib/model/mod.ts";
import { InferencePool, predictWords } from "../lib/inference/mod.ts";
import { ParallelTrainer, type StepTiming, Trainer } from "../lib/training/mod.ts";
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
} from "../lib/experiments/mod.ts";
import { type BackboneBenchResult, benchBackbone } from "../lib/experiments/mod.ts";
import { readBackboneFiles } from "../lib/data/backbone_files.ts";
import { intFlag, main, parse, setupBackend, UsageError, workersFlag } from "./_common.ts";

const USAGE = `Usage: deno task bench [options]

  --config NAME    reference (the peer's model: vocab 8000, hidden 128, FFN 512, batch 32) | default | tiny
  --steps N        timed training steps (default 20); inference uses 2N
  --warmup N       untimed steps first (default 3)
  --workers N      training replicas and inference workers, one Deno Worker each (default 1);
                   one worker is timed too, for the speed-up and the serial part
  --vocab N        vocabulary size, i.e. rows of the word embedding table (default: the preset's)
  --seq-len N      padded sentence length (default: the preset's maxLength; real CoNLL
                   batches are ≈ 16)
  --batch N        sentences per training batch, the global batch cut across the
                   workers (default: the preset's)
  --embedding-updates MODE  dense | lazy: how the embedding tables are updated (default lazy)
  --freeze LIST    also time steps with these parameters frozen (e.g. backbone),
                   interleaved with unfrozen steps, and print the ratio
  --backbone       time the pretrained backbone's model instead (batch 32 × 32 pieces by
                   default; --batch, --seq-len, --steps, --warmup, --workers apply): a step
                   fine-tuning it, a step with it frozen and cached, sentence embeddings/s
  --json           one JSON line
  --backend NAME   wasm (default) | cpu
  --threads N      tfjs-wasm threads (default 1; falls back to 1 with a warning)
  -h, --help       this text`;

export async function run(args: string[]): Promise<void> {
  const parsed = parse(
    args,
    {
      config: { type: "string" },
      steps: { type: "string" },
      warmup: { type: "string" },
      workers: { type: "string" },
      vocab: { type: "string" },
      "seq-len": { type: "string" },
      batch: { type: "string" },
      "embedding-updates": { type: "string" },
      freeze: { type: "string" },
      json: { type: "boolean" },
      backbone: { type: "boolean" },
      backend: { type: "string" },
      threads: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    USAGE,
    false,
  );
  if (parsed === undefined) return;
  const { values } = parsed;
  const preset = ((values.config as string | undefined) ?? "reference") as PresetName;
  if (!["reference", "default", "tiny"].includes(preset)) {
    throw new UsageError(`--config must be reference, default or tiny, got "${preset}"`);
  }
  const steps = intFlag(values.steps, "steps", 1) ?? 20;
  const warmup = intFlag(values.warmup, "warmup") ?? 3;
  const workers = workersFlag(values.workers);
  await setupBackend(values.backend, values.threads);
  if (values.backbone === true) {
    const result = await benchBackbone({
      files: await readBackboneFiles("use-lite"),
      workers,
      steps,
      warmup,
      ...(values.batch !== undefined ? { batch: intFlag(values.batch, "batch", 1)! } : {}),
      ...(values["seq-len"] !== undefined
        ? { seqLen: intFlag(values["seq-len"], "seq-len", 1)! }
        : {}),
    });
    printBackboneBench(result, values.json === true);
    return;
  }

  const presetConfig = resolveConfig({}, preset);
  const seqLen = intFlag(values["seq-len"], "seq-len") ?? presetConfig.model.maxLength;
  const embeddingUpdates = (values["embedding-updates"] as string | undefined) ?? "lazy";
  if (embeddingUpdates !== "dense" && embeddingUpdates !== "lazy") {
    throw new UsageError(`--embedding-updates must be dense or lazy, got ${embeddingUpdates}`);
  }
  const config = resolveConfig({
    model: { dropout: 0, maxLength: Math.max(2, seqLen) },
    train: {
      embeddingUpdates,
      ...(values.batch !== undefined ? { batchSize: intFlag(values.batch, "batch")! } : {}),
    },
  }, preset);
  const dims = {
    vocabSize: intFlag(values.vocab, "vocab", 8) ?? config.tokenizer.maxVocabSize,
    tasks: BENCH_TASKS,
  };
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
    tasks: [
      {
        name: "ner",
        kind: "token",
        metric: "accuracy",
        labels: Array.from({ length: 9 }, (_, i) => `T${i}`),
      },
      { name: "sentiment", kind: "sentence", metric: "accuracy", labels: ["negative", "positive"] },
    ] as const,
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
  if (typeof values.freeze === "string") {
    const frozenConfig = resolveConfig({
      model: config.model,
      train: { ...config.train, freeze: values.freeze.split(",") },
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
  const result = {
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
    ...(freezeComparison !== undefined ? { freeze: values.freeze, ...freezeComparison } : {}),
  };
  if (values.json === true) {
    console.log(JSON.stringify(result));
  } else {
    console.log(
      `config ${preset}: ${result.parameters} parameters (vocabulary ${dims.vocabSize}, ${embeddingUpdates} embedding updates), batch ${batchSize} × ${seqLen} tokens`,
    );
    console.log(
      `train      ${result.trainTokensPerSecond} tokens/s (median step ${result.trainStepMsMedian} ms over ${steps}, ${workers} worker${
        workers === 1 ? "" : "s"
      })`,
    );
    if (workers > 1) {
      const b = result.stepBreakdownMs!;
      console.log(
        `scaling    ${result.speedupOverOneWorker}× one worker (${result.oneWorkerStepMsMedian} ms/step, batch ${batchSize}; ${result.perWorkerBatch} per worker); serial part ${result.serialMs} ms = ${
          (100 * result.serialFractionOfOneWorkerStep).toFixed(1)
        } % of a one-worker step`,
      );
      console.log(
        `step       compute ${b.compute} ms, reduce ${b.reduce}, optimizer ${b.optimizer}, gather ${b.gather}, wait ${b.wait}, coordination ${b.coordination} (median per replica)`,
      );
      if (replicaCompute !== undefined) {
        console.log(
          `replicas   compute ${
            replicaCompute.replicaComputeMs.join(" / ")
          } ms (each one's median); slowest − fastest ${replicaCompute.replicaGapMs} ms (median over steps)`,
        );
      }
    }
    console.log(
      `inference  ${result.inferSentencesPerSecond} sentences/s (batch ${inferBatch}${
        workers > 1
          ? `, cut across ${workers} workers; ${result.inferSentencesPerSecondOneThread} on the main thread alone`
          : ""
      })`,
    );
    console.log(
      `latency    p50 ${result.latencyMsP50} ms, p95 ${result.latencyMsP95} ms (one sentence)`,
    );
    console.log(
      `matmul     ${
        Object.entries(result.matmulGflops).map(([k, v]) => `${k} ${v}`).join(", ")
      } GFLOP/s`,
    );
    console.log(
      `model      ${
        (flopsPerToken / 1e6).toFixed(2)
      } MFLOP/token (train), ${result.trainGflops} GFLOP/s achieved = ${
        (100 * result.fractionOfMatmulPeak).toFixed(0)
      } % of the matmul peak of ${cores} core${cores === 1 ? "" : "s"}`,
    );
    console.log(`memory     peak RSS ${result.peakRssMiB} MiB`);
    if (freezeComparison !== undefined) {
      console.log(
        `freeze     ${values.freeze}: step ${freezeComparison.frozenStepMs} ms vs ${freezeComparison.unfrozenStepMs} ms unfrozen (× ${freezeComparison.frozenOverUnfrozen}, interleaved); ${
          (100 * freezeComparison.trainableFraction!).toFixed(2)
        } % of parameters train`,
      );
    }
  }
  trainer.dispose();
  model.dispose();
  tf.disposeVariables();
}

function printBackboneBench(r: BackboneBenchResult, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(r));
    return;
  }
  const w = `${r.workers} worker${r.workers === 1 ? "" : "s"}`;
  console.log(
    `backbone model: ${r.parameters} parameters, batch ${r.batch} × ${r.seqLen} pieces, ${w}`,
  );
  console.log(
    `fine-tune  ${round(r.fineTuneStepMs)} ms/step, ${
      Math.round(r.fineTunePiecesPerSecond)
    } pieces/s (everything trains)`,
  );
  console.log(`frozen     ${round(r.frozenStepMs)} ms/step (backbone frozen, features cached)`);
  console.log(
    `embed      ${
      Math.round(r.embedSentencesPerSecond)
    } sentences/s (batch 64 × ${r.seqLen} pieces${
      r.workers > 1
        ? `, ${w}; ${Math.round(r.embedSentencesPerSecondOneThread)} on the main thread alone`
        : ""
    })`,
  );
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

if (import.meta.main) await main(run);
