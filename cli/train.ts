/**
 * `deno task train`: trains the multi-task model and saves a model directory.
 * With no arguments it trains on data/sample_sentences.json into runs/model.
 * @module
 */
import { type ConfigOverrides, type PresetName, resolveConfig } from "../lib/core/mod.ts";
import { sha256Hex } from "../lib/core/mod.ts";
import { encodeSentence, loadSentences, REFERENCE_TASKS } from "../lib/data/mod.ts";
import { evaluate } from "../lib/evaluation/mod.ts";
import {
  type EpochRecord,
  loadTrainingState,
  resumeTraining,
  trainModel,
} from "../lib/training/mod.ts";
import {
  DEFAULT_MODEL_DIR,
  holdModelDir,
  intFlag,
  main,
  modelOverrides,
  parse,
  readJsonObject,
  setupBackend,
  STRATEGY_FLAGS,
  STRATEGY_USAGE,
  strategyFlagsSet,
  strategyOverrides,
  stringFlag,
  UsageError,
  vectorOverrides,
  workersFlag,
} from "./_common.ts";

const USAGE = `Usage: deno task train [options]

  --data FILE       training data, reference JSON format (default data/sample_sentences.json)
  --out DIR         model directory to write (default ${DEFAULT_MODEL_DIR}; with --resume, the
                    resumed directory). It must be new, empty or a model directory: anything
                    else is refused before training starts
  --epochs N        number of epochs, 1 or more (default from the config)
  --seed N          seed for init, split, shuffling and dropout (default 42)
  --config FILE     JSON config overrides: { "preset": "default", "model": {...}, "train": {...} }
  --preset NAME     pretrained (default: the default model over the frozen Universal
                    Sentence Encoder lite) | default (no pretrained backbone) | tiny | reference
  --resume DIR      continue a run from its last epoch-end checkpoint, as it was configured:
                    only --epochs (to train longer), --out, --data (the same file, checked by
                    sha256), --backend, --threads and --quiet may be given with it
  --workers N       data-parallel replicas, one Deno Worker each (2 uses both cores; default 1)
  --backend NAME    wasm (default) | cpu
  --threads N       tfjs-wasm threads (default 1; falls back to 1 with a warning)
  --quiet           no per-step progress
  -h, --help        this text
${STRATEGY_USAGE}`;

const FLAGS = {
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
} as const;

/** Flags that would change a resumed run. */
const RUN_FLAGS = ["seed", "config", "preset", "workers"];

export async function run(args: string[]): Promise<void> {
  const parsed = parse(args, FLAGS, USAGE, false);
  if (parsed === undefined) return;
  const { values } = parsed;
  const resume = stringFlag(values.resume);
  const epochs = intFlag(values.epochs, "epochs", 1, 100000);
  const seed = intFlag(values.seed, "seed", 0, 2 ** 32 - 1);
  if (resume !== undefined) {
    const refused = [...RUN_FLAGS, ...strategyFlagsSet(values)].filter((f) =>
      values[f] !== undefined
    );
    if (refused.length > 0) {
      throw new UsageError(
        `--resume continues a run as it was configured; ${
          refused.map((f) => `--${f}`).join(", ")
        } would change it (train anew, or resume without them)`,
      );
    }
  }
  const preset = stringFlag(values.preset);
  if (preset !== undefined && !["pretrained", "default", "tiny", "reference"].includes(preset)) {
    throw new UsageError(
      `--preset must be pretrained, default, tiny or reference, got "${preset}"`,
    );
  }
  await setupBackend(values.backend, values.threads);
  const workers = workersFlag(values.workers);
  const outDir = stringFlag(values.out) ?? resume ?? DEFAULT_MODEL_DIR;
  // Before any training: a bad output path fails now, not after the first epoch; and
  // before reading a checkpoint to resume: a run still writing it is refused first.
  await holdModelDir(outDir);
  const state = resume === undefined ? undefined : await loadTrainingState(resume);
  if (resume !== undefined && state === undefined) {
    throw new Error(
      `Cannot resume from ${resume}: it has no training state (it was not saved at an epoch end)`,
    );
  }
  const dataPath = stringFlag(values.data) ?? state?.dataPath ?? "data/sample_sentences.json";

  const warn = (message: string) => console.error(`warning: ${message}`);
  const sentences = await loadSentences(dataPath, { onWarning: warn });
  const dataSha256 = await sha256Hex(await Deno.readFile(dataPath));
  const progress = values.quiet !== true && Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  const callbacks = {
    outDir,
    dataPath,
    dataSha256,
    workers: state?.workers ?? workers,
    onWarning: warn,
    ...(progress
      ? {
        onStep: (
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
        },
      }
      : {}),
    onEpochEnd: (r: EpochRecord) => {
      if (progress) Deno.stderr.writeSync(encoder.encode("\r\x1b[K"));
      const train = Object.entries(r.tasks).map(([t, m]) => `${t} acc ${fixed(m.accuracy)}`);
      const val = r.validation === undefined
        ? []
        : Object.entries(r.validation).map(([t, m]) => `${t} acc ${fixed(m.accuracy)}`);
      console.log(
        `epoch ${String(r.epoch).padStart(3)} loss ${r.loss.toFixed(4)} ${train.join(" ")}${
          val.length > 0 ? ` | val ${val.join(" ")}` : ""
        } | lr ${r.learningRate.toExponential(2)} ${r.seconds.toFixed(1)}s ${
          Math.round(r.tokensPerSecond)
        } tok/s`,
      );
    },
  };

  const started = performance.now();
  let result;
  if (resume !== undefined) {
    console.error(`resuming ${resume} after epoch ${state!.epoch}, writing to ${outDir}`);
    result = await resumeTraining(resume, sentences, {
      ...callbacks,
      ...(epochs !== undefined ? { epochs } : {}),
    });
  } else {
    let overrides: ConfigOverrides & { preset?: PresetName } = {};
    const configFile = stringFlag(values.config);
    if (configFile !== undefined) {
      overrides = await readJsonObject(configFile) as typeof overrides;
    }
    const { preset: filePreset, ...rest } = overrides;
    const config = resolveConfig({
      ...rest,
      ...(seed !== undefined ? { seed } : {}),
      model: { ...rest.model, ...modelOverrides(values) },
      tokenizer: { ...rest.tokenizer, ...vectorOverrides(values) },
      train: {
        ...rest.train,
        ...strategyOverrides(values),
        ...(epochs !== undefined ? { epochs } : {}),
      },
    }, (preset as PresetName | undefined) ?? filePreset ?? defaultPreset(values));
    if (config.train.epochs < 1) {
      throw new UsageError(`train.epochs is ${config.train.epochs}: train for 1 epoch or more`);
    }
    console.error(
      `data ${dataPath}: ${sentences.length} sentences; ${config.train.epochs} epochs, batch ${config.train.batchSize}, seed ${config.seed}`,
    );
    result = await trainModel(sentences, config, { ...callbacks, tasks: REFERENCE_TASKS });
  }
  const seconds = (performance.now() - started) / 1000;
  const { bundle, split } = result;
  const trainSet = split.train.map((i) =>
    encodeSentence(sentences[i]!, bundle.tokenizer, bundle.tasks, bundle.config.model.maxLength)
  );
  const fitted = evaluate(bundle.model, trainSet);
  const ran = result.history.slice(state?.epoch ?? 0);
  const tokens = ran.reduce((n, r) => n + r.tokensPerSecond * r.seconds, 0);
  const trainSeconds = ran.reduce((n, r) => n + r.seconds, 0);
  console.log(
    `done in ${seconds.toFixed(1)}s (${
      Math.round(tokens / Math.max(trainSeconds, 1e-9))
    } tokens/s in training steps); ${bundle.model.countParameters()} parameters, vocabulary ${bundle.tokenizer.vocabSize}`,
  );
  console.log(
    `training split (${trainSet.length} sentences): ${
      Object.entries(fitted).map(([t, m]) => `${t} accuracy ${fixed(m.accuracy)}`).join(", ")
    }`,
  );
  // Every epoch end saved the model (with training state, for --resume).
  console.log(`saved ${outDir}`);
  result.trainer.dispose();
  bundle.model.dispose();
}

/** Three decimals, or "–" for a task without labels (NaN). */
function fixed(x: number): string {
  return Number.isFinite(x) ? x.toFixed(3) : "–";
}

if (import.meta.main) await main(run);

/** The preset when none is named: `pretrained`, or `default` with `--backbone none`. */
function defaultPreset(values: Record<string, unknown>): PresetName {
  return values.backbone === "none" ? "default" : "pretrained";
}
