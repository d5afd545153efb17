/**
 * `deno task bench`: training and inference throughput, latency, matmul speed
 * and model FLOPs (`lib/experiments/model_bench.ts`), or the pretrained
 * backbone's speed (`--backbone`, `lib/experiments/backbone_bench.ts`); this
 * file parses the flags and prints.
 * @module
 */
import type { PresetName } from "../lib/core/mod.ts";
import {
  type BackboneBenchResult,
  benchBackbone,
  benchModel,
  type ModelBenchOptions,
  type ModelBenchResult,
} from "../lib/experiments/mod.ts";
import { readBackboneFiles } from "../lib/data/backbone_files.ts";
import {
  DEFAULT_MODEL_DIR,
  intFlag,
  main,
  onNote,
  setupBackend,
  stringFlag,
  UsageError,
  workersFlag,
} from "./_common.ts";
import { loadModel } from "../lib/model/mod.ts";
import { loadSentences, type Sentence } from "../lib/data/mod.ts";
import { benchServe, type ServeBenchResult } from "../lib/serving/mod.ts";
import {
  BACKEND_FLAGS,
  type Command,
  COMMON,
  type FlagTable,
  parseCommand,
  STRATEGY,
} from "./_flags.ts";

const FLAGS = {
  config: {
    type: "string",
    value: "NAME",
    help: "reference (the peer's model: vocab 8000, hidden 128, FFN 512, batch 32) |\n" +
      "default | tiny",
  },
  steps: {
    type: "string",
    value: "N",
    help: "timed training steps (default 20); inference uses max(2, N/4) calls",
  },
  warmup: { type: "string", value: "N", help: "untimed steps first (default 3)" },
  workers: {
    ...COMMON.workers,
    help: "training replicas and inference workers, one Deno Worker each (default 1);\n" +
      "one worker is timed too, for the speed-up and the serial part",
  },
  vocab: {
    type: "string",
    value: "N",
    help: "vocabulary size, i.e. rows of the word embedding table (default: the preset's)",
  },
  "seq-len": {
    type: "string",
    value: "N",
    help: "padded sentence length (default: the preset's maxLength; real CoNLL\n" +
      "batches are ≈ 16)",
  },
  batch: {
    type: "string",
    value: "N",
    help: "sentences per training batch, the global batch cut across the\n" +
      "workers (default: the preset's)",
  },
  "embedding-updates": {
    ...STRATEGY["embedding-updates"],
    help: "dense | lazy: how the embedding tables are updated (default lazy)",
  },
  freeze: {
    ...STRATEGY.freeze,
    help: "also time steps with these parameters frozen (e.g. embeddings),\n" +
      "interleaved with unfrozen steps, and print the ratio",
  },
  backbone: {
    type: "boolean",
    help: "time the pretrained backbone's model instead (batch 32 × 32 pieces by\n" +
      "default; --batch, --seq-len, --steps, --warmup, --workers apply): a step\n" +
      "fine-tuning it, a step with it frozen and cached, sentence embeddings/s",
  },
  serve: {
    type: "boolean",
    help: "load the HTTP service instead: the model (--model) served in this process\n" +
      "with --workers workers (default 2), 1, 8 and 32 clients (--clients) sending\n" +
      "one 20-word sentence per request for --seconds each; throughput, p50/p99\n" +
      "latency, errors and lost requests, against the in-process pool",
  },
  model: COMMON.model,
  clients: { type: "string", value: "LIST", help: "with --serve: client counts (default 1,8,32)" },
  seconds: {
    type: "string",
    value: "N",
    help: "with --serve: seconds per client count (default 10)",
  },
  json: { ...COMMON.json, help: "one JSON line" },
  ...BACKEND_FLAGS,
  help: COMMON.help,
} as const satisfies FlagTable;

const COMMAND: Command = { usage: "deno task bench [options]", sections: [{ flags: FLAGS }] };

export async function run(args: string[]): Promise<void> {
  const parsed = parseCommand(args, COMMAND, false);
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
  if (values.serve === true) {
    const clients = (stringFlag(values.clients) ?? "1,8,32").split(",").map((c) =>
      intFlag(c, "clients", 1, 4096)!
    );
    const dir = stringFlag(values.model) ?? DEFAULT_MODEL_DIR;
    const bundle = await loadModel(dir, { onNote });
    const result = await benchServe(bundle, {
      workers: values.workers === undefined ? 2 : workers,
      seconds: intFlag(values.seconds, "seconds", 1, 3600) ?? 10,
      clients,
      texts: twentyWordSentences(await loadSentences("data/sample_sentences.json")),
    });
    printServeBench(dir, result, values.json === true);
    bundle.model.dispose();
    return;
  }
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

  const embeddingUpdates = stringFlag(values["embedding-updates"]) ?? "lazy";
  if (embeddingUpdates !== "dense" && embeddingUpdates !== "lazy") {
    throw new UsageError(`--embedding-updates must be dense or lazy, got ${embeddingUpdates}`);
  }
  const options: ModelBenchOptions = {
    preset,
    steps,
    warmup,
    workers,
    embeddingUpdates,
    ...(values.vocab !== undefined ? { vocab: intFlag(values.vocab, "vocab", 8)! } : {}),
    ...(values["seq-len"] !== undefined ? { seqLen: intFlag(values["seq-len"], "seq-len")! } : {}),
    ...(values.batch !== undefined ? { batch: intFlag(values.batch, "batch")! } : {}),
    ...(typeof values.freeze === "string" ? { freeze: values.freeze.split(",") } : {}),
  };
  printModelBench(await benchModel(options), options, values.json === true);
}

function printModelBench(
  result: ModelBenchResult,
  options: ModelBenchOptions,
  json: boolean,
): void {
  if (json) {
    console.log(JSON.stringify(result));
  } else {
    console.log(
      `config ${result.config}: ${result.parameters} parameters (vocabulary ${result.vocab}, ${result.embeddingUpdates} embedding updates), batch ${result.batch} × ${result.seqLen} tokens`,
    );
    console.log(
      `train      ${result.trainTokensPerSecond} tokens/s (median step ${result.trainStepMsMedian} ms over ${options.steps}, ${result.workers} worker${
        result.workers === 1 ? "" : "s"
      })`,
    );
    if (result.workers > 1) {
      const b = result.stepBreakdownMs!;
      console.log(
        `scaling    ${result.speedupOverOneWorker}× one worker (${result.oneWorkerStepMsMedian} ms/step, batch ${result.batch}; ${result.perWorkerBatch} per worker); serial part ${result.serialMs} ms = ${
          (100 * result.serialFractionOfOneWorkerStep).toFixed(1)
        } % of a one-worker step`,
      );
      console.log(
        `step       compute ${b.compute} ms, reduce ${b.reduce}, optimizer ${b.optimizer}, gather ${b.gather}, wait ${b.wait}, coordination ${b.coordination} (median per replica)`,
      );
      if (result.replicaComputeMs !== undefined) {
        console.log(
          `replicas   compute ${
            result.replicaComputeMs.join(" / ")
          } ms (each one's median); slowest − fastest ${result.replicaGapMs} ms (median over steps)`,
        );
      }
    }
    console.log(
      `inference  ${result.inferSentencesPerSecond} sentences/s (batch ${result.inferBatch}${
        result.workers > 1
          ? `, cut across ${result.workers} workers; ${result.inferSentencesPerSecondOneThread} on the main thread alone`
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
        (result.modelTrainFlopsPerToken / 1e6).toFixed(2)
      } MFLOP/token (train), ${result.trainGflops} GFLOP/s achieved = ${
        (100 * result.fractionOfMatmulPeak).toFixed(0)
      } % of the matmul peak of ${result.workers} core${result.workers === 1 ? "" : "s"}`,
    );
    console.log(`memory     peak RSS ${result.peakRssMiB} MiB`);
    if (result.freeze !== undefined) {
      console.log(
        `freeze     ${result.freeze}: step ${result.frozenStepMs} ms vs ${result.unfrozenStepMs} ms unfrozen (× ${result.frozenOverUnfrozen}, interleaved); ${
          (100 * result.trainableFraction!).toFixed(2)
        } % of parameters train`,
      );
    }
  }
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

function printServeBench(dir: string, r: ServeBenchResult, json: boolean): void {
  if (json) {
    console.log(JSON.stringify({ model: dir, ...r }));
    return;
  }
  console.log(
    `serve ${dir}: ${r.workers} workers; in-process pool ${
      Math.round(r.poolTextsPerSecond)
    } sentences/s on the same 20-word sentences`,
  );
  for (const run of r.runs) {
    console.log(
      `${String(run.clients).padStart(3)} clients  ${
        Math.round(run.requestsPerSecond)
      } requests/s (${(run.requestsPerSecond / r.poolTextsPerSecond).toFixed(2)}× the pool), p50 ${
        round(run.latencyMsP50)
      } ms, p99 ${
        round(run.latencyMsP99)
      } ms; ${run.requests} requests, ${run.errors} errors, ${run.lost} lost`,
    );
  }
}

/** Sentences of exactly 20 words, made from the sample data's words in order. */
function twentyWordSentences(sentences: readonly Sentence[]): string[] {
  const words = sentences.flatMap((s) => s.words);
  return Array.from(
    { length: Math.floor(words.length / 20) },
    (_, i) => words.slice(20 * i, 20 * i + 20).join(" "),
  );
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

if (import.meta.main) await main(run);
