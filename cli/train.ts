/**
 * `deno task train`: trains the multi-task model and saves a model directory.
 * With no arguments it trains on data/sample_sentences.json into runs/model.
 * @module
 */
import { type ConfigOverrides, type PresetName, resolveConfig } from "../lib/core/mod.ts";
import { sha256Hex } from "../lib/core/mod.ts";
import {
  checkTaskNames,
  encodeSentence,
  loadSentences,
  loadTaskFiles,
  parseTaskFlag,
  REFERENCE_TASKS,
  type Sentence,
  splitSentences,
  type TaskFiles,
  validateTaskFiles,
} from "../lib/data/mod.ts";
import type { TaskSpec } from "../lib/core/mod.ts";
import { validateRecipe } from "../lib/experiments/mod.ts";
import { evaluate } from "../lib/evaluation/mod.ts";
import {
  type EpochRecord,
  loadTrainingState,
  resumeTraining,
  type TrainData,
  trainModel,
} from "../lib/training/mod.ts";
import {
  DEFAULT_MODEL_DIR,
  holdModelDir,
  intFlag,
  main,
  readJsonObject,
  setupBackend,
  stringFlag,
  UsageError,
  workersFlag,
} from "./_common.ts";
import {
  BACKEND_FLAGS,
  type Command,
  COMMON,
  configOverrides,
  flagsGiven,
  type FlagTable,
  parseCommand,
  STRATEGY,
  STRATEGY_SECTION,
} from "./_flags.ts";

const FLAGS = {
  data: {
    type: "string",
    value: "FILE",
    help: "training data, reference JSON format (default data/sample_sentences.json)",
  },
  recipe: {
    type: "string",
    value: "FILE",
    help: "train on a recipe's tasks and files instead (its config, first seed and\n" +
      "workers too; flags override them); dev files are the validation sets",
  },
  task: {
    type: "string",
    multiple: true,
    value: "SPEC",
    help: "train on NAME=KIND:FORMAT:FILE instead, repeatable: e.g.\n" +
      "--task ner=token:conll:train.txt --task topic=sentence:tsv:topics.tsv\n" +
      "(KIND token|sentence|pair; FORMAT conll | auto, label-space, label-tab,\n" +
      "tsv, jsonl | stsb, jsonl); a seeded share is held out for validation.\n" +
      'A --config file with "tasks" (recipe task entries) does the same',
  },
  limit: {
    type: "string",
    value: "N",
    help: "with a task set: at most N sentences of each task's files (quick runs)",
  },
  out: {
    type: "string",
    value: "DIR",
    help: `model directory to write (default ${DEFAULT_MODEL_DIR}; with --resume, the\n` +
      "resumed directory). It must be new, empty or a model directory: anything\n" +
      "else is refused before training starts",
  },
  epochs: {
    type: "string",
    value: "N",
    help: "number of epochs, 1 or more (default from the config)",
  },
  seed: {
    type: "string",
    value: "N",
    help: "seed for init, split, shuffling and dropout (default 42)",
  },
  config: {
    type: "string",
    value: "FILE",
    help: 'JSON config overrides: { "preset": "default", "model": {...}, "train": {...} }',
  },
  preset: {
    type: "string",
    value: "NAME",
    help: "pretrained (default: the default model over the frozen Universal\n" +
      "Sentence Encoder lite) | default (no pretrained backbone) | tiny | reference",
  },
  resume: {
    type: "string",
    value: "DIR",
    help: "continue a run from its last epoch-end checkpoint, as it was configured:\n" +
      "only --epochs (to train longer), --out, --data, --recipe or --task (the\n" +
      "same data, checked by sha256), --backend, --threads and --quiet may be\n" +
      "given with it",
  },
  workers: {
    ...COMMON.workers,
    help: "data-parallel replicas, one Deno Worker each (2 uses both cores; default 1)",
  },
  ...BACKEND_FLAGS,
  quiet: COMMON.quiet,
  help: COMMON.help,
} as const satisfies FlagTable;

const COMMAND: Command = {
  usage: "deno task train [options]",
  sections: [{ flags: FLAGS }, STRATEGY_SECTION],
};

/** Flags that would change a resumed run. */
const RUN_FLAGS = ["seed", "config", "preset", "workers"];

export async function run(args: string[]): Promise<void> {
  const parsed = parseCommand(args, COMMAND, false);
  if (parsed === undefined) return;
  const { values } = parsed;
  const resume = stringFlag(values.resume);
  const epochs = intFlag(values.epochs, "epochs", 1, 100000);
  const seed = intFlag(values.seed, "seed", 0, 2 ** 32 - 1);
  if (resume !== undefined) {
    const refused = [...RUN_FLAGS, ...flagsGiven(values, STRATEGY)].filter((f) =>
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
  const workers = values.workers === undefined ? undefined : workersFlag(values.workers);
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
  const warn = (message: string) => console.error(`warning: ${message}`);
  const configFile = stringFlag(values.config);
  const configJson = configFile === undefined ? undefined : await readJsonObject(configFile);
  const source = await dataSource(values, configFile, configJson, state?.dataPath);
  const limit = intFlag(values.limit, "limit", 1);
  if (limit !== undefined) {
    if (source.kind === "reference") {
      throw new UsageError("--limit applies to a task set (--recipe, --task or a config's tasks)");
    }
    source.limit = Math.min(limit, source.limit ?? limit);
    source.evalLimit = Math.min(limit, source.evalLimit ?? limit);
  }
  const data = source.kind === "reference"
    ? await referenceData(source.path, warn)
    : await taskSetData(source);
  const { dataPath, dataSha256 } = data;
  const progress = values.quiet !== true && Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  const callbacks = {
    outDir,
    dataPath,
    dataSha256,
    workers: state?.workers ?? workers ?? source.workers ?? 1,
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
    result = await resumeTraining(resume, data.sentences, {
      ...callbacks,
      ...(epochs !== undefined ? { epochs } : {}),
    });
  } else {
    const overrides = (source.overrides ?? configJson ?? {}) as ConfigOverrides & {
      preset?: PresetName;
    };
    const { preset: filePreset, ...rest } = overrides;
    const flags = configOverrides(values, STRATEGY);
    const config = resolveConfig({
      ...rest,
      ...(source.seed !== undefined ? { seed: source.seed } : {}),
      ...(seed !== undefined ? { seed } : {}),
      model: { ...rest.model, ...flags.model },
      tokenizer: { ...rest.tokenizer, ...flags.tokenizer },
      train: { ...rest.train, ...flags.train, ...(epochs !== undefined ? { epochs } : {}) },
    }, (preset as PresetName | undefined) ?? filePreset ?? defaultPreset(values));
    if (config.train.epochs < 1) {
      throw new UsageError(`train.epochs is ${config.train.epochs}: train for 1 epoch or more`);
    }
    console.error(
      `data ${dataPath}: ${data.description}; ${config.train.epochs} epochs, batch ${config.train.batchSize}, seed ${config.seed}`,
    );
    result = await trainModel(data.train, config, { ...callbacks, tasks: data.tasks });
  }
  const seconds = (performance.now() - started) / 1000;
  const { bundle, split } = result;
  const tokens = ran(result.history, state?.epoch).reduce(
    (n, r) => n + r.tokensPerSecond * r.seconds,
    0,
  );
  const trainSeconds = ran(result.history, state?.epoch).reduce((n, r) => n + r.seconds, 0);
  console.log(
    `done in ${seconds.toFixed(1)}s (${
      Math.round(tokens / Math.max(trainSeconds, 1e-9))
    } tokens/s in training steps); ${bundle.model.countParameters()} parameters, vocabulary ${bundle.tokenizer.vocabSize}`,
  );
  if (source.kind === "reference") {
    // The sample data is small: how well the model fits its training split.
    const trainSet = split.train.map((i) =>
      encodeSentence(
        data.sentences[i]!,
        bundle.tokenizer,
        bundle.tasks,
        bundle.config.model.maxLength,
      )
    );
    const fitted = evaluate(bundle.model, trainSet);
    console.log(
      `training split (${trainSet.length} sentences): ${
        Object.entries(fitted).map(([t, m]) => `${t} accuracy ${fixed(m.accuracy)}`).join(", ")
      }`,
    );
  }
  // Every epoch end saved the model (with training state, for --resume).
  console.log(`saved ${outDir}`);
  result.trainer.dispose();
  bundle.model.dispose();
}

/** Three decimals, or "–" for a task without labels (NaN). */
function fixed(x: number): string {
  return Number.isFinite(x) ? x.toFixed(3) : "–";
}

/** The preset when none is named: `pretrained`, or `default` with `--backbone none`. */
function defaultPreset(values: Record<string, unknown>): PresetName {
  return values.backbone === "none" ? "default" : "pretrained";
}

/** The epochs this invocation trained (after the resumed one). */
function ran(history: readonly EpochRecord[], resumedAt: number | undefined): EpochRecord[] {
  return history.slice(resumedAt ?? 0);
}

/** Where the training data comes from: one of --data, --recipe, --task, a config's tasks. */
type DataSource =
  | {
    kind: "reference";
    path: string;
    workers?: undefined;
    seed?: undefined;
    overrides?: undefined;
  }
  | {
    kind: "tasks";
    /** The recipe or config file, or the --task flags as written. */
    path: string;
    /** The file to checksum with the data files (recipe or config). */
    file?: string;
    tasks: TaskFiles;
    limit?: number;
    evalLimit?: number;
    workers?: number;
    seed?: number;
    /** Config overrides of a recipe (preset, model, tokenizer, train). */
    overrides?: Record<string, unknown>;
  };

/** The prefix of a run's recorded data path when it trained on --task flags. */
const TASK_FLAGS = "--task ";

async function dataSource(
  values: Record<string, unknown>,
  configFile: string | undefined,
  configJson: Record<string, unknown> | undefined,
  resumedPath: string | undefined,
): Promise<DataSource> {
  const taskFlags = (values.task as string[] | undefined) ?? [];
  const recipe = stringFlag(values.recipe as string | undefined);
  const data = stringFlag(values.data as string | undefined);
  const configTasks = configJson !== undefined && "tasks" in configJson;
  const given = [
    data !== undefined ? "--data" : undefined,
    recipe !== undefined ? "--recipe" : undefined,
    taskFlags.length > 0 ? "--task" : undefined,
    configTasks ? "--config with tasks" : undefined,
  ].filter((g) => g !== undefined);
  if (given.length > 1) {
    throw new UsageError(`${given.join(" and ")} each name the training data: give one`);
  }
  if (recipe !== undefined && configFile !== undefined) {
    throw new UsageError("--recipe carries its own config: give --config or --recipe");
  }
  if (taskFlags.length > 0) {
    const tasks: Record<string, TaskFiles[string]> = {};
    for (const flag of taskFlags) {
      let entry;
      try {
        entry = parseTaskFlag(flag);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      if (entry[0] in tasks) throw new UsageError(`--task ${entry[0]} is given twice`);
      tasks[entry[0]] = entry[1];
    }
    return { kind: "tasks", path: TASK_FLAGS + taskFlags.join(` ${TASK_FLAGS}`), tasks };
  }
  if (configTasks) return configSource(configFile!, configJson!);
  if (recipe !== undefined) return recipeSource(recipe, await readJsonObject(recipe));
  if (data !== undefined) return { kind: "reference", path: data };
  if (resumedPath?.startsWith(TASK_FLAGS)) {
    throw new UsageError(`the run trained on ${resumedPath}: resume with the same --task flags`);
  }
  if (resumedPath !== undefined && resumedPath.endsWith(".json")) {
    // A run on a recipe's or a config's tasks recorded that file.
    const json = await readJsonObject(resumedPath).catch(() => undefined);
    if (json !== undefined && "tasks" in json) {
      return "seeds" in json || "workers" in json
        ? recipeSource(resumedPath, json)
        : configSource(resumedPath, json);
    }
  }
  return { kind: "reference", path: resumedPath ?? "data/sample_sentences.json" };
}

/** A recipe's tasks, config, first seed and workers. */
function recipeSource(file: string, json: Record<string, unknown>): DataSource {
  const recipe = validateRecipe(json, file);
  const overrides = {
    ...(recipe.preset !== undefined ? { preset: recipe.preset } : {}),
    ...(recipe.model !== undefined ? { model: recipe.model } : {}),
    ...(recipe.tokenizer !== undefined ? { tokenizer: recipe.tokenizer } : {}),
    ...(recipe.train !== undefined ? { train: recipe.train } : {}),
  };
  return {
    kind: "tasks",
    path: file,
    file,
    tasks: recipe.tasks,
    overrides,
    seed: recipe.seeds[0]!,
    workers: recipe.workers,
    ...(recipe.limit !== undefined ? { limit: recipe.limit } : {}),
    ...(recipe.evalLimit !== undefined ? { evalLimit: recipe.evalLimit } : {}),
  };
}

/** A config file's tasks (recipe task entries; dev files optional) and its overrides. */
function configSource(file: string, json: Record<string, unknown>): DataSource {
  const { tasks, ...overrides } = json;
  const entries = validateTaskFiles(tasks, file);
  checkTaskNames(overrides.train, entries, file);
  return { kind: "tasks", path: file, file, tasks: entries, overrides };
}

/** Training data, ready for trainModel and resumeTraining, with its provenance. */
interface LoadedData {
  /** What trainModel takes: sentences to split, or train and validation sets. */
  readonly train: readonly Sentence[] | TrainData;
  /** Every sentence in the order the saved split indexes (what resumeTraining takes). */
  readonly sentences: readonly Sentence[];
  readonly tasks: readonly TaskSpec[];
  readonly dataPath: string;
  readonly dataSha256: string;
  /** For the start line, e.g. "165 sentences". */
  readonly description: string;
}

async function referenceData(path: string, warn: (m: string) => void): Promise<LoadedData> {
  const sentences = await loadSentences(path, { onWarning: warn });
  return {
    train: sentences,
    sentences,
    tasks: REFERENCE_TASKS,
    dataPath: path,
    dataSha256: await sha256Hex(await Deno.readFile(path)),
    description: `${sentences.length} sentences`,
  };
}

async function taskSetData(source: Extract<DataSource, { kind: "tasks" }>): Promise<LoadedData> {
  const corpora = await loadTaskFiles(source.tasks, {
    ...(source.limit !== undefined ? { limit: source.limit } : {}),
    ...(source.evalLimit !== undefined ? { evalLimit: source.evalLimit } : {}),
  });
  const train = splitSentences(corpora, "train");
  const dev = splitSentences(corpora, "dev");
  // The data's checksum: the recipe or config, then every file it reads, in order.
  const files = [
    ...(source.file !== undefined ? [source.file] : []),
    ...new Set(Object.values(source.tasks).flatMap((t) => [t.train, t.dev, t.test])),
  ].filter((f): f is string => f !== undefined);
  const sums = await Promise.all(files.map(async (f) => await sha256Hex(await Deno.readFile(f))));
  const counts = Object.entries(corpora).map(([name, c]) =>
    `${name} ${c.train.length}${c.dev.length > 0 ? `/${c.dev.length}` : ""}`
  );
  return {
    train: dev.length > 0 ? { train, validation: dev } : train,
    sentences: dev.length > 0 ? [...train, ...dev] : train,
    tasks: Object.values(corpora).map((c) => c.spec),
    dataPath: source.path,
    dataSha256: await sha256Hex(new TextEncoder().encode(sums.join("\n"))),
    description: `tasks ${counts.join(", ")} sentences (train${dev.length > 0 ? "/dev" : ""})`,
  };
}

if (import.meta.main) await main(run);
