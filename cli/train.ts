/**
 * `deno task train`: trains the multi-task model and saves a model directory.
 * With no arguments it trains on data/sample_sentences.json into runs/model.
 * @module
 */
import {
  type ConfigOverrides,
  encodeSentence,
  evaluate,
  loadSentences,
  type PresetName,
  resolveConfig,
  resumeTraining,
  saveModel,
  trainModel,
} from "../lib/mod.ts";
import {
  DEFAULT_MODEL_DIR,
  fail,
  intFlag,
  parse,
  setupBackend,
  STRATEGY_FLAGS,
  STRATEGY_USAGE,
  strategyOverrides,
  vectorOverrides,
} from "./_common.ts";

const USAGE = `Usage: deno task train [options]

  --data FILE       training data, reference JSON format (default data/sample_sentences.json)
  --out DIR         model directory to write (default ${DEFAULT_MODEL_DIR})
  --epochs N        number of epochs (default from the config)
  --seed N          seed for init, split, shuffling and dropout (default 42)
  --config FILE     JSON config overrides: { "preset": "default", "model": {...}, "train": {...} }
  --preset NAME     default | tiny | reference
  --resume DIR      continue a run from an epoch-end checkpoint
  --workers N       data-parallel replicas, one Deno Worker each (2 uses both cores; default 1)
  --backend NAME    wasm (default) | cpu
  --threads N       tfjs-wasm threads (default 1; falls back to 1 with a warning)
  --quiet           no per-step progress
  -h, --help        this text
${STRATEGY_USAGE}`;

const { values } = parse(Deno.args, {
  data: { type: "string" },
  out: { type: "string" },
  epochs: { type: "string" },
  seed: { type: "string" },
  config: { type: "string" },
  preset: { type: "string" },
  resume: { type: "string" },
  backend: { type: "string" },
  threads: { type: "string" },
  workers: { type: "string" },
  quiet: { type: "boolean" },
  ...STRATEGY_FLAGS,
  help: { type: "boolean", short: "h" },
}, USAGE);

await setupBackend(values.backend, values.threads);
const dataPath = (values.data as string | undefined) ?? "data/sample_sentences.json";
const outDir = (values.out as string | undefined) ?? DEFAULT_MODEL_DIR;
const epochs = intFlag(values.epochs, "epochs");
const seed = intFlag(values.seed, "seed");
const workers = intFlag(values.workers, "workers") ?? 1;

const warn = (message: string) => console.error(`warning: ${message}`);
const sentences = await loadSentences(dataPath, { onWarning: warn }).catch((e: Error) =>
  fail(e.message)
);
const progress = values.quiet !== true && Deno.stderr.isTerminal();
const encoder = new TextEncoder();
const callbacks = {
  outDir,
  dataPath,
  workers,
  onWarning: warn,
  onStep: progress
    ? (
      p: {
        epoch: number;
        epochs: number;
        batch: number;
        batches: number;
        metrics: { loss: number };
      },
    ) => {
      const width = 24;
      const done = Math.round((p.batch / p.batches) * width);
      Deno.stderr.writeSync(encoder.encode(
        `\repoch ${p.epoch}/${p.epochs} [${"=".repeat(done)}${
          " ".repeat(width - done)
        }] ${p.batch}/${p.batches} loss ${p.metrics.loss.toFixed(4)}`,
      ));
    }
    : undefined,
  onEpochEnd: (r: {
    epoch: number;
    loss: number;
    nerAccuracy: number;
    sentimentAccuracy: number;
    validation?: { nerAccuracy: number; sentimentAccuracy: number };
    learningRate: number;
    seconds: number;
    tokensPerSecond: number;
  }) => {
    if (progress) Deno.stderr.writeSync(encoder.encode("\r\x1b[K"));
    const val = r.validation === undefined
      ? ""
      : ` | val ner acc ${r.validation.nerAccuracy.toFixed(3)} sent acc ${
        r.validation.sentimentAccuracy.toFixed(3)
      }`;
    console.log(
      `epoch ${String(r.epoch).padStart(3)} loss ${r.loss.toFixed(4)} ner acc ${
        r.nerAccuracy.toFixed(3)
      } sent acc ${r.sentimentAccuracy.toFixed(3)}${val} | lr ${r.learningRate.toExponential(2)} ${
        r.seconds.toFixed(1)
      }s ${Math.round(r.tokensPerSecond)} tok/s`,
    );
  },
};
const options = Object.fromEntries(Object.entries(callbacks).filter(([, v]) => v !== undefined));

const started = performance.now();
let result;
try {
  if (typeof values.resume === "string") {
    console.error(`resuming from ${values.resume}`);
    result = await resumeTraining(values.resume, sentences, {
      ...options,
      ...(epochs !== undefined ? { epochs } : {}),
    });
  } else {
    let overrides: ConfigOverrides & { preset?: PresetName } = {};
    if (typeof values.config === "string") {
      const file = values.config;
      overrides = JSON.parse(
        await Deno.readTextFile(file).catch((e: Error) =>
          fail(`Cannot read ${file}: ${e.message}`)
        ),
      );
    }
    const { preset, ...rest } = overrides;
    const config = resolveConfig({
      ...rest,
      ...(seed !== undefined ? { seed } : {}),
      tokenizer: { ...rest.tokenizer, ...vectorOverrides(values) },
      train: {
        ...rest.train,
        ...strategyOverrides(values),
        ...(epochs !== undefined ? { epochs } : {}),
      },
    }, (values.preset as PresetName | undefined) ?? preset ?? "default");
    console.error(
      `data ${dataPath}: ${sentences.length} sentences; ${config.train.epochs} epochs, batch ${config.train.batchSize}, seed ${config.seed}`,
    );
    result = await trainModel(sentences, config, options);
  }
} catch (error) {
  fail((error as Error).message);
}
const seconds = (performance.now() - started) / 1000;
const { bundle, split } = result;
const trainSet = split.train.map((i) =>
  encodeSentence(sentences[i]!, bundle.tokenizer, bundle.labels, bundle.config.model.maxLength)
);
const fitted = evaluate(bundle.model, trainSet);
const tokens = result.history.reduce((n, r) => n + r.tokensPerSecond * r.seconds, 0);
const trainSeconds = result.history.reduce((n, r) => n + r.seconds, 0);
console.log(
  `done in ${seconds.toFixed(1)}s (${
    Math.round(tokens / trainSeconds)
  } tokens/s in training steps); ${bundle.model.countParameters()} parameters, vocabulary ${bundle.tokenizer.vocabSize}`,
);
console.log(
  `training split (${trainSet.length} sentences): NER token accuracy ${
    fitted.nerAccuracy.toFixed(3)
  }, sentiment accuracy ${fitted.sentimentAccuracy.toFixed(3)}`,
);
// Epoch-end checkpoints already wrote the model (with training state, for --resume).
if (result.history.length === 0) await saveModel(outDir, bundle);
console.log(`saved ${outDir}`);
